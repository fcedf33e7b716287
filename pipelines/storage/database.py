"""The store: engine set-up and every query newsmill makes, for SQLite and PostgreSQL alike.

Writes are batched, one transaction per batch, and rely on unique constraints with
dialect-native `ON CONFLICT DO NOTHING`, so two crawls writing the same article at once
store it once and neither fails. Batches from different writers are checked and written one
after the other (Store._one_batch_at_a_time), so a near-duplicate is caught across them too.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Engine, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from pipelines.storage import neardup, revisions, schema
from pipelines.storage.engine import make_engine
from pipelines.storage.models import Article, ArticleUrl, CrawlRun, url_hash, utcnow
from pipelines.storage.records import ArticleRecord

if TYPE_CHECKING:
    from sqlalchemy import CursorResult

# The error of a run closed by the next crawl of its source, not by its own.
ABANDONED = "abandoned: its crawl process ended without closing it"
# PostgreSQL's advisory lock that one batch of articles holds while it is checked and written;
# named like crawler.locks names its own (64-bit keys from the name).
STORE_LOCK_KEY = int.from_bytes(hashlib.sha1(b"newsmill:store").digest()[:8], "big", signed=True)


class Store:
    def __init__(self, database_url: str | None = None, *, engine: Engine | None = None) -> None:
        self._owns_engine = engine is None
        if engine is None:
            assert database_url is not None
            engine = make_engine(database_url)
        self.engine = engine
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._insert = self.insert()
        self.revised = 0  # re-fetched articles stored as a new revision by this store

    @classmethod
    def for_crawl(cls, settings: Any) -> Store:
        """A crawl component's store: on the engine of the process's NEWSMILL_STORE when it
        has one (a crawl worker, crawl after crawl: one connection pool, no engine set up or
        torn down per run), else on an engine of its own."""
        shared: Store | None = settings.get("NEWSMILL_STORE")
        return cls(engine=shared.engine) if shared is not None else cls(settings["NEWSMILL_DATABASE"])

    def __deepcopy__(self, memo: dict[int, object]) -> Store:
        # A handle on a database, carried in Scrapy's settings, which are copied per crawler.
        return self

    def insert(self) -> Any:
        """The dialect's INSERT, the one with ON CONFLICT. Each dialect's module is imported
        when its database is used: PostgreSQL's costs a crawl on SQLite 0.06 s of start-up."""
        if self.engine.dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as postgresql_insert

            return postgresql_insert
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert

    def create_schema(self) -> None:
        """A new database is created at the current schema revision; an outdated one is refused."""
        schema.prepare(self.engine.url)

    def close(self) -> None:
        if self._owns_engine:  # a store on another's engine leaves it to its owner
            self.engine.dispose()

    # -- articles ---------------------------------------------------------------------------

    def known_urls(self, urls: Iterable[str]) -> set[str]:
        """Which of these canonical URLs are stored already, as an article or an alias."""
        by_hash = {url_hash(u): u for u in urls}
        known: set[str] = set()
        keys = list(by_hash)
        with self.sessions() as session:
            for start in range(0, len(keys), 500):
                rows = session.scalars(
                    select(ArticleUrl.url_hash).where(ArticleUrl.url_hash.in_(keys[start : start + 500]))
                )
                known.update(by_hash[h] for h in rows)
        return known

    def store_articles(self, records: Sequence[ArticleRecord]) -> list[bool]:
        """Store a batch in one transaction; True for each record stored as a new article."""
        if not records:
            return []
        every = records
        links = [r for r in records if r.only_urls]
        records = [r for r in records if not r.only_urls]
        with self.sessions.begin() as session:
            self._one_batch_at_a_time(session)
            rechecks = [r for r in records if r.recheck]
            rechecked = dict(zip(map(id, rechecks), revisions.apply(session, rechecks), strict=True))
            self.revised += sum(1 for o in rechecked.values() if o == revisions.REVISED)
            records = [r for r in records if rechecked.get(id(r), revisions.UNKNOWN) == revisions.UNKNOWN]
            known = set(
                session.scalars(
                    select(ArticleUrl.url_hash).where(
                        ArticleUrl.url_hash.in_([url_hash(r.url) for r in records])
                    )
                )
            )
            fresh = [r for r in records if url_hash(r.url) not in known]
            # A story told again with small edits (near-duplicate) is stored as an alias URL
            # of its first telling, like an exact copy; only the rest become articles.
            hashes = {r.content_hash for r in fresh}
            exact = set(session.scalars(select(Article.content_hash).where(Article.content_hash.in_(hashes))))
            unseen = [r for r in fresh if r.content_hash not in exact]
            near = neardup.match(session, [r.text for r in unseen], [r.fingerprint for r in unseen])
            retold = {id(unseen[i]): owner for i, owner in near.in_store.items()}
            retold_in_batch = {id(unseen[i]): unseen[j] for i, j in near.in_batch.items()}
            fresh = [r for r in fresh if id(r) not in retold and id(r) not in retold_in_batch]
            inserted: dict[str, int] = {}
            if fresh:
                # One statement with the rows as parameters: compiled once and cached, where a
                # multi-row .values() is compiled anew for every batch.
                articles = Article.__table__
                statement = (
                    self._insert(articles)
                    .on_conflict_do_nothing(index_elements=["content_hash"])
                    .returning(articles.c.id, articles.c.content_hash)
                )
                # Rows go in in key order, in every writer: two transactions inserting the same
                # keys in opposite orders would each wait on the other (a deadlock on PostgreSQL).
                rows = [r.columns() for r in sorted(fresh, key=lambda r: r.content_hash)]
                inserted = {h: i for i, h in session.execute(statement, rows)}
            owners = dict(inserted)
            missing = {r.content_hash for r in records} - owners.keys()
            if missing:
                owners.update(
                    (h, i)
                    for i, h in session.execute(
                        select(Article.id, Article.content_hash).where(Article.content_hash.in_(missing))
                    )
                )
            url_rows: dict[str, dict[str, Any]] = {}
            for record in records:
                owner = retold.get(id(record))
                if id(record) in retold_in_batch:
                    owner = owners.get(retold_in_batch[id(record)].content_hash)
                owner = owner or owners.get(record.content_hash)
                if owner is None:  # a known URL whose text changed: pipelines.storage.revisions keeps those
                    continue
                for url in (record.url, *record.aliases):
                    url_rows.setdefault(
                        url_hash(url),
                        {
                            "url_hash": url_hash(url),
                            "url": url,
                            "article_id": owner,
                            "source": record.source,
                            "first_seen_at": record.fetched_at,
                        },
                    )
            if links:
                self._link_rows(session, links, url_rows)
            claimed: set[str] = set()
            if url_rows:
                urls = ArticleUrl.__table__
                claimed = set(
                    session.scalars(
                        self._insert(urls)
                        .on_conflict_do_nothing(index_elements=["url_hash"])
                        .returning(urls.c.url_hash),
                        [url_rows[h] for h in sorted(url_rows)],  # key order, as above
                    )
                )
            # Another writer (or an earlier record of this batch) owns this URL: that article
            # wins, ours is withdrawn inside the same transaction.
            claimed_by = {h: url_rows[h]["article_id"] for h in claimed}
            lost = set(inserted.values()) - set(claimed_by.values())
            if lost:
                session.execute(delete(Article).where(Article.id.in_(lost)))
            prints = {id(r): p for r, p in zip(unseen, near.prints, strict=True)}
            neardup.index(
                session,
                {
                    inserted[r.content_hash]: prints[id(r)].buckets
                    for r in fresh
                    if id(r) in prints and inserted.get(r.content_hash) not in lost | {None}
                },
            )
            result = []
            for record in records:
                article_id = inserted.get(record.content_hash)
                is_new = article_id is not None and claimed_by.get(url_hash(record.url)) == article_id
                if is_new:
                    inserted.pop(record.content_hash)  # later copies in the batch are duplicates
                result.append(is_new)
            outcome = dict(zip(map(id, records), result, strict=True))
            return [outcome.get(id(r), False) for r in every]

    @staticmethod
    def _link_rows(
        session: Session, links: Sequence[ArticleRecord], url_rows: dict[str, dict[str, Any]]
    ) -> None:
        """Rows for the URLs of pages that repeat an article (ArticleRecord.only_urls), added to
        `url_rows`. Their article came earlier in the crawl: in this batch, or stored before."""
        wanted = [h for h in {url_hash(r.url) for r in links} if h not in url_rows]
        stored: dict[str, int] = {}
        if wanted:
            query = select(ArticleUrl.url_hash, ArticleUrl.article_id).where(ArticleUrl.url_hash.in_(wanted))
            stored = {h: i for h, i in session.execute(query)}
        for record in links:
            key = url_hash(record.url)
            owner = url_rows[key]["article_id"] if key in url_rows else stored.get(key)
            if owner is None:  # its article was withdrawn (another writer's copy won): nothing to link
                continue
            for url in record.aliases:
                url_rows.setdefault(
                    url_hash(url),
                    {
                        "url_hash": url_hash(url),
                        "url": url,
                        "article_id": owner,
                        "source": record.source,
                        "first_seen_at": record.fetched_at,
                    },
                )

    def _one_batch_at_a_time(self, session: Session) -> None:
        """Wait until no other writer is storing a batch, and keep them waiting until commit.

        A batch reads what is stored (URLs, texts, near-duplicate buckets), then writes what
        is new. Unique constraints stop a second copy of the same text or URL, not a retelling:
        two writers that both read before either wrote would each store their telling of one
        story (a wire story crawled from two sites at once)."""
        dialect = self.engine.dialect.name
        if dialect == "postgresql":
            session.execute(select(func.pg_advisory_xact_lock(STORE_LOCK_KEY)))
        elif dialect == "sqlite":
            # pysqlite begins a transaction only at its first write, after the reads; SQLite's
            # one write lock, taken first, makes the reads see every batch committed before.
            session.connection().exec_driver_sql("BEGIN IMMEDIATE")

    def iter_articles(
        self, source: str | None = None, since: datetime | None = None, batch: int = 500
    ) -> Iterator[Article]:
        query = select(Article).order_by(Article.id)
        if source:
            query = query.where(Article.source == source)
        if since:
            query = query.where(Article.first_seen_at >= since)
        with self.sessions() as session:
            yield from session.scalars(query.execution_options(yield_per=batch))

    def count_articles(self, source: str | None = None) -> int:
        query = select(func.count(Article.id))
        if source:
            query = query.where(Article.source == source)
        with self.sessions() as session:
            return session.scalar(query) or 0

    # -- crawl runs -------------------------------------------------------------------------

    def start_run(self, source: str, trigger: str, worker: str | None = None) -> int:
        """Open a run record; `worker` ("host:pid") names who runs the crawl."""
        opened = (
            insert(CrawlRun)
            .values(source=source, trigger=trigger, started_at=utcnow(), status="running", worker=worker)
            .returning(CrawlRun.id)
        )
        with self.engine.begin() as connection:
            return int(connection.execute(opened).scalar_one())

    def finish_run(
        self,
        run_id: int,
        status: str,
        counts: dict[str, Any],
        error: str | None = None,
        *,
        finished_at: datetime | None = None,
        replayed: bool = False,
    ) -> bool:
        """Close a run with its counts; whether this closed it (False: it was closed already).
        `replayed`: the crawl's own closing write, kept in the spool through an outage; it also
        replaces what the next crawl of the source wrote meanwhile for a run it found still
        running (ABANDONED)."""
        unfinished = CrawlRun.status == "running"
        if replayed:
            unfinished = or_(unfinished, CrawlRun.error == ABANDONED)
        with self.sessions.begin() as session:
            result = session.execute(
                update(CrawlRun)
                .where(CrawlRun.id == run_id, unfinished)
                .values(status=status, finished_at=finished_at or utcnow(), error=error, **counts)
            )
        return bool(cast("CursorResult[Any]", result).rowcount)

    def run(self, run_id: int) -> CrawlRun | None:
        with self.sessions() as session:
            return session.get(CrawlRun, run_id)

    def close_abandoned_runs(self, source: str, *, keep: int | None = None) -> list[int]:
        """Close the source's runs still marked running, but `keep` (the caller's own); their
        ids. Only for a caller that holds the source's lock (crawler.locks): no crawl of it can
        be running elsewhere then, so such a run is one whose process died (killed, or its
        database gone) before closing it."""
        running = [CrawlRun.source == source, CrawlRun.status == "running"]
        if keep is not None:
            running.append(CrawlRun.id != keep)
        # Every run of a daemon looks, and almost never finds one: a read first spares the
        # write transaction (on SQLite, the database's one writer) when there is nothing to close.
        with self.engine.connect() as connection:
            if connection.execute(select(CrawlRun.id).where(*running).limit(1)).first() is None:
                return []
        closed = update(CrawlRun).where(*running).values(
            status="interrupted", finished_at=utcnow(), error=ABANDONED
        )
        with self.sessions.begin() as session:
            ids = list(session.scalars(closed.returning(CrawlRun.id)))
        return sorted(ids)

    def prune_runs(self, older_than: datetime, batch: int = 5000) -> int:
        """Delete the run records started before `older_than`, but each source's last run and
        last failed run, and runs still open; how many went. In batches, each a transaction of
        its own: crawls go on writing in between."""
        last = select(func.max(CrawlRun.id)).group_by(CrawlRun.source)
        failed = select(func.max(CrawlRun.id)).where(CrawlRun.status == "failed")
        last_failed = failed.group_by(CrawlRun.source)
        with self.sessions() as session:
            keep = set(session.scalars(last)) | set(session.scalars(last_failed))
        doomed = (
            select(CrawlRun.id)
            .where(CrawlRun.started_at < older_than, CrawlRun.status != "running")
            .order_by(CrawlRun.id)
        )
        removed = 0
        after = 0
        while True:
            with self.sessions.begin() as session:
                ids = list(session.scalars(doomed.where(CrawlRun.id > after).limit(batch)))
                if not ids:
                    return removed
                after = ids[-1]
                gone = [i for i in ids if i not in keep]
                if gone:
                    session.execute(delete(CrawlRun).where(CrawlRun.id.in_(gone)))
                removed += len(gone)

    def runs(self, source: str | None = None, limit: int = 20) -> list[CrawlRun]:
        query = select(CrawlRun).order_by(CrawlRun.id.desc()).limit(limit)
        if source:
            query = query.where(CrawlRun.source == source)
        with self.sessions() as session:
            return list(session.scalars(query))

    def last_runs(self) -> dict[str, CrawlRun]:
        latest = select(func.max(CrawlRun.id)).group_by(CrawlRun.source)
        with self.sessions() as session:
            return {r.source: r for r in session.scalars(select(CrawlRun).where(CrawlRun.id.in_(latest)))}
