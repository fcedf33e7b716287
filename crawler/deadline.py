"""Downloader middleware: no download of a run outlives the run's deadline.

A crawl worker runs many crawls in one process, so a crawl past its source's `max_runtime`
cannot be killed the way a process of its own was. Scrapy's CLOSESPIDER_TIMEOUT asks the
crawl to close at max_runtime, but a close waits for the downloads in flight, and one to a
server that accepted the connection and never answers waits out the whole `timeout` (30 s by
default, or far more). So every request of such a run gets a download timeout that ends at
the deadline (NEWSMILL_RUN_DEADLINE, on the monotonic clock): at max_runtime plus a moment
the crawl has closed, whatever its servers do, and the other runs of the process never
noticed.
"""

from __future__ import annotations

import time
from typing import Self

from scrapy import Request
from scrapy.crawler import Crawler
from scrapy.exceptions import NotConfigured

MIN_TIMEOUT = 0.1  # seconds: a request made at the deadline fails at once, as a timeout


class RunDeadline:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        deadline = crawler.settings.getfloat("NEWSMILL_RUN_DEADLINE", 0)
        if deadline <= 0:
            raise NotConfigured("no run deadline")
        return cls(deadline)

    def process_request(self, request: Request) -> None:
        left = max(self.deadline - time.monotonic(), MIN_TIMEOUT)
        timeout = request.meta.get("download_timeout")
        if timeout is None or timeout > left:
            request.meta["download_timeout"] = left
