"""Scrapy's downloader, with the per-site concurrency limit (crawl.per_domain) enforced.

Scrapy 2.19 starts each download as an asyncio task, and the request is counted in its
slot's `transferring` set only once that task first runs. Until then the slot looks free,
so one pass of Downloader._process_queue starts every request queued for the site: a
source configured for 4 requests at a time got 16, most on a new connection, and a server
that accepts connections slowly dropped some (each costing a one-second SYN retry).
Scrapy 2.13 counted the request at once; this does the same.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader as ScrapyDownloader
from scrapy.core.downloader import Slot
from twisted.internet.defer import Deferred


class Downloader(ScrapyDownloader):
    def _wait_for_download(  # type: ignore[override]
        self, slot: Slot, request: Request, queue_dfd: Deferred[Any]
    ) -> Coroutine[Any, Any, None]:
        # Called synchronously by _process_queue for each request it starts; the coroutine
        # runs later. Scrapy's _download adds the request again (a set) and removes it.
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)
