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


def test_an_unhashable_callable_is_checked_each_time_and_a_function_once() -> None:
    from crawler.crawlstart import _cached_per_function

    calls: list[object] = []

    def check(func: object, name: str) -> bool:
        calls.append(func)
        return True

    class Unhashable:
        __hash__ = None  # type: ignore[assignment]

        def __call__(self, spider: object) -> None: ...

    def function(spider: object) -> None: ...

    cached = _cached_per_function(check)
    unhashable = Unhashable()
    assert cached(unhashable, "spider") and cached(unhashable, "spider")
    assert calls == [unhashable, unhashable]
    assert cached(function, "spider") and cached(function, "spider")
    assert calls[2:] == [function]
