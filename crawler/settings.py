"""Scrapy settings: the project-wide ones below, and each source's, derived from its config.

This module is also what scrapy.cfg points at, so `scrapy crawl news -a source=NAME` from
the repository root runs with the same components as `newsmill crawl`.
"""

from __future__ import annotations

from typing import Any

from scrapy.settings import default_settings

from crawler.config import Config, SourceConfig

BOT_NAME = "newsmill"
SPIDER_MODULES = ["crawler.spiders"]
NEWSPIDER_MODULE = "crawler.spiders"

ITEM_PIPELINES = {
    "pipelines.extract.ExtractPipeline": 100,
    "pipelines.dedup.DedupPipeline": 200,
    "pipelines.store.StorePipeline": 300,
}
EXTENSIONS = {
    "crawler.extensions.RunRecorder": 500,
    "crawler.extensions.Progress": 510,
}
# Consoles into the running crawl (telnet, an HTTP server that runs code) are not for an
# unattended service. They are left out of Scrapy's base list: disabled with None in EXTENSIONS,
# they would still be imported (Scrapy loads every class named there), and with them aiohttp.
_consoles = {"scrapy.extensions.telnet.TelnetConsole", "scrapy.extensions.remote_control.RemoteControl"}
EXTENSIONS_BASE = {k: v for k, v in default_settings.EXTENSIONS_BASE.items() if k not in _consoles}

DOWNLOADER = "crawler.downloader.Downloader"  # Scrapy's, with per-site concurrency enforced
ROBOTSTXT_OBEY = True
COOKIES_ENABLED = False
# With cookies off the cookies middleware does nothing, but Scrapy would still import it, and
# with it tldextract, requests and filelock: about 15 ms of every crawl's start-up.
# Scrapy's robots.txt middleware, able to share what it fetched between a worker's crawls.
_ROBOTS = "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware"
DOWNLOADER_MIDDLEWARES_BASE = {
    ("crawler.robotstxt.RobotsTxtMiddleware" if k == _ROBOTS else k): v
    for k, v in default_settings.DOWNLOADER_MIDDLEWARES_BASE.items()
    if k != "scrapy.downloadermiddlewares.cookies.CookiesMiddleware"
}
REDIRECT_MAX_TIMES = 5
# The meta-refresh middleware decodes every page in full on the reactor thread to look for a
# <meta http-equiv=refresh>; news articles do not redirect that way, and the decoding belongs
# to the extraction workers.
METAREFRESH_ENABLED = False
RETRY_HTTP_CODES = [502, 503, 504, 522, 524, 408, 429]
# Follow the server's pace: AutoThrottle backs off when responses slow down.
AUTOTHROTTLE_ENABLED = False
DOWNLOAD_WARNSIZE = 0
LOG_LEVEL = "INFO"
REQUEST_FINGERPRINTER_IMPLEMENTATION = "2.7"
FEED_EXPORT_ENCODING = "utf-8"
# Pages wait for the extraction pool in the scraper; past this many bytes of them, Scrapy
# stops starting downloads, which bounds memory whatever the crawl's size.
SCRAPER_SLOT_MAX_ACTIVE_SIZE = 20_000_000
# Article requests handed to Scrapy's scheduler at most at a time, waiting there at about
# 2.4 KB each; the spider keeps the rest of what feeds and sitemaps list at about 0.5 KB each
# (crawler/spiders/news.py). A sitemap of 50,000 URLs: 137 MiB in the crawl process, not 215.
NEWSMILL_MAX_SCHEDULED = 10_000
# Items processed at once per response. An article page yields one item, a listing page only
# requests; Scrapy starts this many asyncio tasks for every response whatever it yields, so
# anything above 1 is CPU spent on the reactor thread for nothing.
CONCURRENT_ITEMS = 1
# A lint for spider authors: Scrapy reads and parses each generator callback's source to
# warn about `return value` in it, again for every response (its cache is keyed by bound
# methods, new each time). The spider is ours and tested.
WARN_ON_GENERATOR_RETURN_VALUE = False
# Each spider middleware wraps every response's output in one more asynchronous generator.
# Left out: two that do nothing for newsmill. MetaCopyDetection is another lint for spider
# authors; Depth only counts link depth, and no DEPTH_LIMIT is set.
SPIDER_MIDDLEWARES = {
    "scrapy.spidermiddlewares.metacopy.MetaCopyDetectionMiddleware": None,
    "scrapy.spidermiddlewares.depth.DepthMiddleware": None,
}


def settings_for(config: Config, source: SourceConfig) -> dict[str, Any]:
    """The Scrapy settings one source's crawl runs with."""
    crawl = source.crawl
    return {
        "USER_AGENT": crawl.user_agent,
        "ROBOTSTXT_OBEY": crawl.obey_robots,
        "ROBOTSTXT_USER_AGENT": crawl.user_agent,
        "CONCURRENT_REQUESTS": crawl.concurrency,
        "CONCURRENT_REQUESTS_PER_DOMAIN": crawl.per_domain,
        "DOWNLOAD_DELAY": crawl.delay,
        "DOWNLOAD_DELAY_JITTER": 0.5 if crawl.delay > 0 else 0.0,  # ±50%, as Scrapy does by default
        "DOWNLOAD_TIMEOUT": crawl.timeout,
        "DOWNLOAD_MAXSIZE": crawl.max_page_size,
        "RETRY_TIMES": crawl.retries,
        "CLOSESPIDER_PAGECOUNT": crawl.max_pages,
        "NEWSMILL_DATABASE": config.database,
        "NEWSMILL_STORE_RETRY_FOR": config.store.retry_for,
        "NEWSMILL_STORE_BUFFER": config.store.buffer,
        "NEWSMILL_SPOOL_DIR": str(config.store.spool_dir),
    }
