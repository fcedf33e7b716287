"""The generic news spider: one source's feeds, sitemaps and listing pages in, pages out.

Every URL is canonicalised before it is requested, kept to the source's own sites, and
checked against the store in one query per feed, sitemap or listing page, so an article
already stored is never downloaded again.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Iterator
from datetime import timedelta
from typing import Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DontCloseSpider, IgnoreRequest
from scrapy.http import Response, TextResponse
from scrapy.linkextractors import LinkExtractor
from scrapy.spidermiddlewares.httperror import HttpError
from sqlalchemy.exc import SQLAlchemyError
from twisted.python.failure import Failure

from common.items import PageItem, PageSkipped
from common.urls import canonicalize, host_of, on_domains, site_key
from crawler import failures
from crawler.backfill.window import Window
from crawler.config import Config, SourceConfig, load_config
from crawler.discovery import Entry, NotAFeed, parse_feed, parse_sitemap, sitemap_urls_from_robots
from crawler.settings import settings_for
from pipelines import stats
from pipelines.storage import failures as failed_urls
from pipelines.storage import schema, validators
from pipelines.storage.database import Store
from pipelines.storage.models import utcnow

# A 304 reaches the callbacks (which then have nothing to do) instead of failing as an error.
_CONDITIONAL = {"validators": "conditional", "handle_httpstatus_list": [304]}


class NewsSpider(Spider):
    name = "news"
    custom_settings = {  # noqa: RUF012  (Scrapy's own attribute)
        "DOWNLOADER_MIDDLEWARES": {
            # Right after Scrapy's RobotsTxtMiddleware (100), which fetches what it reuses.
            "crawler.robotstxt.RobotsTxtReuse": 110,
            # Right after Scrapy's DownloadTimeoutMiddleware (350), whose timeout it shortens.
            "crawler.deadline.RunDeadline": 360,
            "crawler.middlewares.ConditionalRequests": 950,
        },
    }

    def __init__(self, source: SourceConfig | str, config: Config | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(source, str):  # `scrapy crawl news -a source=NAME`: read the config here
            config = config or load_config()
            source = config.source(source)
        assert config is not None
        self.config = config
        self.source = source
        self.domains = frozenset(
            site_key(d) for d in [*source.domains, *(host_of(u) for u in source.seeds())] if d
        )
        self.follow = [re.compile(p) for p in source.follow]
        self.start_pages = {c for u in source.start_urls if (c := canonicalize(u))}
        self.articles = [re.compile(p) for p in source.articles]
        self.scheduled: set[str] = set()
        self.seed_errors: list[str] = []
        # Seeds the host answered with an HTTP error, or robots.txt kept us from: reached, but
        # of no use. When no seed did better, that is why the run failed.
        self.seed_refusals: list[str] = []
        self.seed_answered = False
        self.store: Store | None = None
        self.failed: dict[str, failed_urls.Failure] = {}
        # Listing pages (feeds, sitemaps...) some of whose articles failed to download: their
        # validators are not kept, so the next run reads them in full and tries those again.
        self.incomplete: set[str] = set()
        # Article URLs listed beyond what Scrapy's scheduler is given at a time (url, entry,
        # listed as an article, listed by): handed over whenever the crawl runs dry.
        self.backlog: deque[tuple[str, Entry, bool, str]] = deque()
        # A backfill part (NEWSMILL_BACKFILL_PART): one sitemap, articles of these dates only.
        self.window: Window | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        # Scrapy freezes settings after from_crawler: the source's own apply here.
        crawler.settings.setdict(settings_for(spider.config, spider.source), priority="spider")
        # A crawl worker's per-run settings (crawler.runner.CrawlHost), as from the command line.
        run_settings = getattr(spider, "run_settings", None)
        if isinstance(run_settings, dict):
            crawler.settings.setdict(run_settings, priority="cmdline")
        crawler.signals.connect(spider.item_dropped, signal=signals.item_dropped)
        crawler.signals.connect(spider.feed_backlog, signal=signals.spider_idle)
        return spider

    @property
    def failure(self) -> str | None:
        """Why the source as a whole could not be crawled: no seed answered with something usable
        (unreachable, refused with an HTTP error, disallowed by robots.txt, not XML)."""
        if self.seed_answered:
            return None
        if self.seed_errors:
            return "unreachable: " + "; ".join(sorted(set(self.seed_errors)))
        if self.seed_refusals:
            # "HTTP 403 on every seed" names the cause source health reports.
            return " and ".join(sorted(set(self.seed_refusals))) + " on every seed"
        return None

    # -- seeds --------------------------------------------------------------------------------

    async def start(self) -> AsyncIterator[Request]:
        self.store = Store.for_crawl(self.settings)
        part = self.settings.getdict("NEWSMILL_BACKFILL_PART")
        if part:
            # Read in full, never answered by a 304: a backfill wants what the sitemap lists,
            # whatever the regular runs have seen of it.
            self.window = Window.from_key(part["window"])
            yield Request(part["url"], self.parse_sitemap, errback=self.on_error,
                          meta={"seed": True}, dont_filter=True)
            return
        for url in self.source.feeds:
            yield self._seed(url, self.parse_feed)
        for url in self.source.sitemaps:
            is_robots = url.rstrip("/").endswith("/robots.txt")
            yield self._seed(url, self.parse_robots if is_robots else self.parse_sitemap)
        for url in self.source.start_urls:
            yield self._seed(url, self.parse_listing)
        for url, known in self._rechecks():
            self.scheduled.add(url)
            # One request per article, by its own URL, never through its other URLs.
            headers = {}
            if known and known.etag:
                headers["If-None-Match"] = known.etag
            if known and known.last_modified:
                headers["If-Modified-Since"] = known.last_modified
            yield Request(
                url,
                self.parse_article,
                headers=headers,
                errback=self.on_error,
                dont_filter=True,
                meta={**_CONDITIONAL, "entry": Entry(url), "listed": True, "recheck": True},
            )

    def _rechecks(self) -> list[tuple[str, validators.Validators | None]]:
        if not self.source.recheck:
            return []
        assert self.store is not None
        return validators.for_rechecks(self.store, self.source.name, utcnow() - self.source.recheck)

    def closed(self, reason: str) -> None:
        if self.store is not None:
            try:
                failed_urls.record(self.store, self.failed)
            except SQLAlchemyError as exc:  # the database is away: they are simply tried again
                why = schema.reason(exc, self.settings["NEWSMILL_DATABASE"])
                self.logger.warning("could not remember %d failed URLs: %s", len(self.failed), why)
            self.store.close()

    def _seed(self, url: str, callback: Any) -> Request:
        # dont_filter: a seed listed twice (a feed also named in a sitemap) still counts once
        # as reached; the dupefilter would silently drop it and its errors.
        meta = {"seed": True, **_CONDITIONAL}
        return Request(url, callback, errback=self.on_error, meta=meta, dont_filter=True)

    # -- discovery ----------------------------------------------------------------------------

    def parse_feed(self, response: Response) -> Iterator[Request]:
        if response.status == 304:
            self._answered(response)
            return
        try:
            entries = parse_feed(response.body)
        except NotAFeed:
            self._not_xml(response, "feed is not XML")
            return
        self._answered(response)
        yield from self._article_requests(entries, listed=True, via=response.url)

    def parse_robots(self, response: Response) -> Iterator[Request]:
        self._answered(response)
        if response.status == 304:
            return
        for url in sitemap_urls_from_robots(response.body, base_url=response.url):
            yield from self._sitemap_request(url)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        if response.status == 304:
            self._answered(response)
            return
        try:
            kind, entries = parse_sitemap(response.body, self.settings.getint("DOWNLOAD_MAXSIZE"))
        except NotAFeed:
            self._not_xml(response, "sitemap is not XML")
            return
        self._answered(response)
        try:
            if kind == "sitemapindex":
                for entry in entries:
                    # A sitemap last changed before max_age (or the backfill's first day)
                    # lists nothing young enough.
                    if self.window is not None and not self.window.changed_since_start(entry.published):
                        stats.skip(self.crawler.stats, "sitemap older than the backfill's dates")
                    elif not self._too_old(entry):
                        yield from self._sitemap_request(entry.url)
            else:
                yield from self._article_requests(entries, listed=False, via=response.url)
        except NotAFeed:
            stats.skip(self.crawler.stats, "sitemap is not XML")

    def _sitemap_request(self, url: str) -> Iterator[Request]:
        canonical = canonicalize(url)
        if canonical and on_domains(canonical, self.domains):
            meta = {} if self.window is not None else dict(_CONDITIONAL)
            yield Request(canonical, self.parse_sitemap, errback=self.on_error, meta=meta)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        self._answered(response)
        if response.status == 304:
            return
        if not isinstance(response, TextResponse):
            stats.skip(self.crawler.stats, "listing page is not HTML")
            return
        links = [link.url for link in LinkExtractor(unique=True).extract_links(response)]
        articles: list[Entry] = []
        for url in links:
            canonical = canonicalize(url)
            if not canonical or not on_domains(canonical, self.domains):
                continue
            if self._is_article(canonical):
                articles.append(Entry(canonical))
            elif any(p.search(canonical) for p in self.follow):
                yield Request(canonical, self.parse_listing, errback=self.on_error, meta=dict(_CONDITIONAL))
            elif not self.articles:  # no patterns: any other link may be an article
                articles.append(Entry(canonical))
        yield from self._article_requests(articles, listed=False, via=response.url)

    def _is_article(self, url: str) -> bool:
        return any(p.search(url) for p in self.articles)

    def _too_old(self, entry: Entry) -> bool:
        if self.window is not None:  # a backfill asks for its own dates, however old
            return False
        max_age: timedelta | None = self.source.max_age
        return bool(max_age and entry.published and entry.published < utcnow() - max_age)

    def _article_requests(self, entries: Iterable[Entry], listed: bool, via: str) -> Iterator[Request]:
        """Requests for the entries not requested in this run, not stored before and, by the
        date their feed or sitemap gives, not older than the source's max_age. Those beyond
        NEWSMILL_MAX_SCHEDULED waiting in the scheduler go to the backlog (feed_backlog)."""
        candidates: dict[str, Entry] = {}
        for entry in entries:
            if self._too_old(entry):
                stats.skip(self.crawler.stats, "older than max_age")
                continue
            if self.window is not None and not self.window.holds(entry.published):
                stats.skip(self.crawler.stats, "outside the backfill's dates")
                continue
            url = canonicalize(entry.url)
            if not url or url in self.scheduled or not on_domains(url, self.domains):
                continue
            is_article = self._is_article(url)
            if not is_article and any(p.search(url) for p in self.follow) and self.window is None:
                # A feed or sitemap entry matching `follow` is read as a listing page.
                self.scheduled.add(url)
                yield Request(url, self.parse_listing, errback=self.on_error, meta=dict(_CONDITIONAL))
                continue
            # With `articles` patterns, only URLs matching them are articles; the source's
            # own start pages never are.
            if (self.articles and not is_article) or url in self.start_pages:
                continue
            candidates.setdefault(url, entry)
        if not candidates:
            return
        assert self.store is not None
        try:
            known = self.store.known_urls(candidates)
            waiting = failed_urls.waiting(self.store, candidates.keys() - known)
        except SQLAlchemyError as exc:
            # The database is away: fetch them all rather than none. The store keeps each
            # article once whatever is fetched, and holds or spools what it cannot write yet.
            why = schema.reason(exc, self.settings["NEWSMILL_DATABASE"])
            self.logger.warning("known-URL check failed, fetching all %d: %s", len(candidates), why)
            stats.error(self.crawler.stats, "known-URL check failed")
            known, waiting = set(), set()
        if waiting:
            self.crawler.stats.inc_value(stats.SKIPPED + "failed before, tried again later", len(waiting))
        known |= waiting
        if known:
            self.crawler.stats.inc_value(stats.SKIPPED + "already stored", len(known))
        # Claimed all at once, before the first request is yielded: Scrapy consumes this
        # generator lazily, interleaved with the feed's or sitemap's that lists the same URLs.
        self.scheduled.update(candidates)
        room = self._room_in_scheduler()
        for url, entry in candidates.items():
            if url in known:
                continue
            # Without patterns a feed entry is taken for an article; anything else must show
            # it is one (article markup, enough text) once fetched.
            as_article = self._is_article(url) or (listed and not self.articles)
            if room <= 0:
                self.backlog.append((url, entry, as_article, via))
                continue
            room -= 1
            yield self._article_request(url, entry, as_article, via)

    def _article_request(self, url: str, entry: Entry, as_article: bool, via: str) -> Request:
        return Request(
            url,
            self.parse_article,
            errback=self.on_error,
            # Canonical URLs are deduplicated above; the dupefilter would also swallow
            # redirect loops without a word, where the redirect limit names them.
            dont_filter=True,
            meta={
                "entry": entry,
                "listed": as_article,
                "via": via,
                # Kept so that a recheck of this article can ask "changed since?"
                "validators": "record" if self.source.recheck else None,
            },
        )

    def _room_in_scheduler(self) -> int:
        scheduler = self.crawler.engine.scheduler if self.crawler.engine else None
        queued = len(scheduler) if scheduler is not None and hasattr(scheduler, "__len__") else 0
        return self.settings.getint("NEWSMILL_MAX_SCHEDULED") - queued

    def feed_backlog(self) -> None:
        """On spider_idle: hand the next article URLs to the scheduler, and keep the crawl open."""
        if not self.backlog:
            return
        engine = self.crawler.engine
        for _ in range(min(max(self._room_in_scheduler(), 1), len(self.backlog))):
            engine.crawl(self._article_request(*self.backlog.popleft()))
        raise DontCloseSpider

    # -- articles -----------------------------------------------------------------------------

    def parse_article(self, response: Response) -> Iterator[PageItem]:
        if response.status == 304:  # a recheck of an article that has not changed
            return
        self.crawler.stats.inc_value(stats.PAGES)
        if not isinstance(response, TextResponse):
            stats.skip(self.crawler.stats, "not HTML")
            self._failed(response.url, "not HTML")
            return
        content_type = response.headers.get("Content-Type")
        entry: Entry = response.meta["entry"]
        yield PageItem(
            source=self.source.name,
            url=canonicalize(response.request.url if response.request else response.url) or response.url,
            final_url=response.url,
            body=response.body,
            content_type=content_type.decode("latin-1") if content_type else None,
            fetched_at=utcnow(),
            listed_as_article=response.meta["listed"],
            feed_title=entry.title,
            feed_published=entry.published,
            domains=self.domains,
            recheck=bool(response.meta.get("recheck")),
        )

    # -- failures -----------------------------------------------------------------------------

    def _answered(self, response: Response) -> None:
        if response.meta.get("seed"):
            self.seed_answered = True

    def _not_xml(self, response: Response, reason: str) -> None:
        stats.skip(self.crawler.stats, reason)
        if response.meta.get("seed"):  # reached, and of no use: moved, or replaced by a page?
            self.seed_refusals.append(reason)

    def on_error(self, failure: Failure) -> None:
        request = failure.request  # type: ignore[attr-defined]
        if request.meta.get("via"):
            self.incomplete.add(request.meta["via"])
        if failure.check(IgnoreRequest) and not failure.check(HttpError):
            reason = failures.ignored_reason(failure.value)
            if reason == "disallowed by robots.txt":
                stats.skip(self.crawler.stats, reason)
                if request.meta.get("seed"):
                    self.seed_refusals.append(reason)
                return
        else:
            reason = failures.describe(failure)
        stats.error(self.crawler.stats, reason)
        if "entry" in request.meta and not request.meta.get("recheck"):
            # After redirects, the URL to remember is the one the article was listed under.
            self._failed(request.meta.get("redirect_urls", [request.url])[0], reason)
        if request.meta.get("seed"):
            if failure.check(HttpError):  # the host is up; the seed itself is refused or broken
                self.seed_refusals.append(reason)
            else:
                self.seed_errors.append(f"{request.url}: {reason}")
        self.logger.info("%s: %s", request.url, reason)

    def item_dropped(self, item: Any, exception: BaseException) -> None:
        if isinstance(exception, PageSkipped) and isinstance(item, PageItem) and not item.recheck:
            self._failed(item.url, exception.reason)

    def _failed(self, url: str, reason: str) -> None:
        """An article URL that did not give an article: not fetched again for a while."""
        canonical = canonicalize(url) or url
        self.failed[canonical] = failed_urls.Failure(canonical, self.source.name, reason)
