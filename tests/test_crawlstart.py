"""What a crawl worker spares Scrapy at each crawl's start (crawler/crawlstart.py): with the
pinned Scrapy every change takes, and the cached signature check answers as Scrapy's own."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

# In a process of its own: the changes are to this process's Scrapy, for good.
CHECK = """
import logging, pprint, sys
from scrapy.utils.deprecate import argument_is_required as scrapy_check
from crawler import crawlstart

changed = crawlstart.install(sys.argv[1])
print(",".join(sorted(changed)))

import scrapy.middleware
faster = scrapy.middleware.argument_is_required
assert faster is not scrapy_check


def plain(spider, other=1): ...
def optional(request, spider=None): ...
class Middleware:
    def process_request(self, request, spider): ...
    def process_response(self, request, response): ...
    @classmethod
    def from_crawler(cls, crawler, spider): ...
class Callable:
    def __call__(self, spider): ...

cases = [plain, optional, Middleware().process_request, Middleware().process_response,
         Middleware.from_crawler, Middleware.process_request, Callable(),
         __import__("functools").partial(plain, 1)]
for case in cases:
    for _ in range(2):  # the second answer comes from the cache
        assert faster(case, "spider") == scrapy_check(case, "spider"), case

value = {"a": [1, 2]}
assert str(scrapy.middleware.pprint.pformat(value)) == pprint.pformat(value)
print("ok")
"""


def _install(level: str) -> list[str]:
    result = subprocess.run([sys.executable, "-c", CHECK, level], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    changed, ok = result.stdout.split()
    assert ok == "ok"
    return changed.split(",")


def test_below_info_every_change_takes_with_the_pinned_scrapy() -> None:
    assert _install("ERROR") == [
        "scrapy.core.engine.argument_is_required",
        "scrapy.crawler.overridden_settings",
        "scrapy.crawler.pprint",
        "scrapy.middleware.argument_is_required",
        "scrapy.middleware.pprint",
    ]


def test_at_info_the_log_lines_stay_as_scrapy_makes_them() -> None:
    assert _install("INFO") == [
        "scrapy.core.engine.argument_is_required",
        "scrapy.middleware.argument_is_required",
    ]


def test_only_methods_of_classes_are_cached_never_a_callable_that_could_hold_a_crawl() -> None:
    import gc
    import weakref

    from crawler.crawlstart import _cached_per_function

    calls: list[str] = []

    def check(func: object, name: str) -> bool:
        calls.append(getattr(func, "__name__", "?"))
        return True

    class Stats:
        def open_spider(self, spider: object) -> None: ...

    class Crawl:  # what a closure made per crawl would hold
        pass

    def wrapped_per_access(crawl: Crawl) -> object:
        def open_spider(spider: object) -> None: ...
        open_spider.crawl = crawl  # type: ignore[attr-defined]
        return open_spider

    cached = _cached_per_function(check)
    assert cached(Stats().open_spider, "spider") and cached(Stats().open_spider, "spider")
    assert calls == ["open_spider"], "a method of a class is checked once"
    crawl = Crawl()
    gone = weakref.ref(crawl)
    assert cached(wrapped_per_access(crawl), "spider")
    del crawl
    gc.collect()
    assert gone() is None, "the check kept a closure, and the crawl it holds, alive"
    assert len(calls) == 2
