"""What a crawl worker spares Scrapy each time it starts a crawl.

A long-lived crawl worker (crawler.runner.CrawlHost) starts a Scrapy Crawler for every poll
of a source, thousands an hour. Two things Scrapy does for every Crawler cost about a sixth
of the CPU of a poll that finds nothing new (bench/poll_cost.py --profile), and give
nothing in a worker:

- It works out the overridden settings and formats them and each list of enabled components
  for INFO log lines, eagerly, whatever the log level. When the worker logs less than INFO,
  Scrapy gets a `pformat` that formats only if a record is emitted, and no overridden
  settings to list.
- It reads the signature of every middleware method (inspect.signature) to warn about a
  deprecated `spider` argument; its key is a bound method, new for every crawl, so nothing is
  cached. A class's method does not change its signature: the answer is kept per method of a
  class, never for other callables (they can be closures holding a whole crawl).

Both reach into Scrapy's modules; `install` changes nothing where a name it expects is gone
(a Scrapy upgrade) and says so in the return value, which tests/test_crawlstart.py checks
against the pinned Scrapy.
"""

from __future__ import annotations

import functools
import logging
import pprint
from collections.abc import Callable
from typing import Any

# The Scrapy modules whose INFO lines are formatted eagerly, and the names they log through.
_EAGER_LOGS = ("scrapy.crawler", "scrapy.middleware")
# The modules that imported argument_is_required by name.
_SIGNATURE_USERS = ("scrapy.middleware", "scrapy.core.engine")


class _LazyFormat:
    """pprint.pformat(value), made when the log record is."""

    __slots__ = ("value",)

    def __init__(self, value: object) -> None:
        self.value = value

    def __str__(self) -> str:
        return pprint.pformat(self.value)


class _LazyPprint:
    """The part of the pprint module Scrapy's crawler and middleware managers use."""

    @staticmethod
    def pformat(value: object, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return pprint.pformat(value, *args, **kwargs)
        return _LazyFormat(value)


def _nothing_overridden(settings: object) -> tuple[()]:
    return ()


def _cached_per_function(check: Callable[[Callable[..., Any], str], bool]) -> Callable[..., bool]:
    @functools.lru_cache(maxsize=1024)
    def cached(function: Callable[..., Any], arg_name: str) -> bool:
        # A bound method of `function` has the same parameters, less the first.
        return check(function.__get__(object()), arg_name)

    @functools.wraps(check)
    def argument_is_required(func: Callable[..., Any], arg_name: str) -> bool:
        function = getattr(func, "__func__", None)
        if function is None or getattr(func, "__self__", None) is None:
            # Not a bound method: possibly a closure made for this one call (Scrapy's stats
            # collector wraps its methods anew at every access), which a cache would keep
            # alive, and with it the crawl it holds.
            return check(func, arg_name)
        # A bound method's function is its class's: as many as there are classes.
        return cached(function, arg_name)

    return argument_is_required


def install(log_level: str) -> list[str]:
    """Make this process's Scrapy crawls cheaper to start; what was changed."""
    import importlib

    changed = []
    if logging.getLevelName(log_level) > logging.INFO:
        for name in _EAGER_LOGS:
            module = importlib.import_module(name)
            if getattr(module, "pprint", None) is pprint:
                module.pprint = _LazyPprint  # type: ignore[attr-defined]
                changed.append(f"{name}.pprint")
        crawler = importlib.import_module("scrapy.crawler")
        if hasattr(crawler, "overridden_settings"):
            crawler.overridden_settings = _nothing_overridden  # type: ignore[attr-defined]
            changed.append("scrapy.crawler.overridden_settings")
    from scrapy.utils import deprecate

    original = getattr(deprecate, "argument_is_required", None)
    if original is not None:
        faster = _cached_per_function(original)
        for name in _SIGNATURE_USERS:
            module = importlib.import_module(name)
            if getattr(module, "argument_is_required", None) is original:
                module.argument_is_required = faster  # type: ignore[attr-defined]
                changed.append(f"{name}.argument_is_required")
    return changed
