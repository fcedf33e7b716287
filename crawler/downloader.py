"""Scrapy's downloader, with the per-site concurrency limit (crawl.per_domain) enforced, and
shared by every crawl of a process when the settings carry NEWSMILL_HOST_SLOTS.

Scrapy 2.19 starts each download as an asyncio task, and the request is counted in its
slot's `transferring` set only once that task first runs. Until then the slot looks free,
so one pass of Downloader._process_queue starts every request queued for the site: a
source configured for 4 requests at a time got 16, most on a new connection, and a server
that accepts connections slowly dropped some (each costing a one-second SYN retry).
Scrapy 2.13 counted the request at once; this does the same.

Each Scrapy crawl has downloader slots of its own, one per host, which hold its requests to
the host to `per_domain` at a time and `delay` apart. Two sources on one host (a paper's
world and politics feeds) are two crawls, and each would be polite on its own only. With
HostSlots, the crawls of one process (a crawl worker, `newsmill crawl --all`) queue for one
slot per host: together they keep to the strictest per_domain and delay among them. Each
request is still downloaded by the crawl that made it, whichever crawl's turn frees the slot.
"""

from __future__ import annotations

from collections.abc import Coroutine
from time import monotonic
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader as ScrapyDownloader
from scrapy.core.downloader import Slot
from scrapy.crawler import Crawler
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro
from twisted.internet.defer import Deferred


class HostSlots:
    """The download slots of a process's crawls, by host, and whose each queued request is."""

    def __init__(self) -> None:
        self.slots: dict[str, Slot] = {}
        self.owners: dict[Request, Downloader] = {}

    def __deepcopy__(self, memo: dict[int, object]) -> HostSlots:
        return self  # carried in Scrapy's settings, which are copied for every crawler


class Downloader(ScrapyDownloader):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self.shared: HostSlots | None = self.settings.get("NEWSMILL_HOST_SLOTS")
        if self.shared is not None:
            self.slots = self.shared.slots

    def _get_slot(self, request: Request, spider: Any = None) -> tuple[str, Slot]:
        key, slot = super()._get_slot(request)
        if self.shared is not None and key not in self.per_slot_settings:
            # A slot another crawl opened: the stricter of its limits and this crawl's hold.
            slot.concurrency = min(slot.concurrency, self.ip_concurrency or self.domain_concurrency)
            slot.delay = max(slot.delay, self._delay)
        return key, slot

    async def _enqueue_request(self, request: Request) -> Any:
        if self.shared is not None:
            self.shared.owners[request] = self
        try:
            return await super()._enqueue_request(request)
        finally:
            if self.shared is not None:
                self.shared.owners.pop(request, None)

    def _process_queue(self, slot: Slot) -> None:
        if self.shared is None:
            super()._process_queue(slot)
            return
        # Scrapy's own loop, but each request is started by the downloader that queued it:
        # its crawl's download handlers, signals and stats.
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            owner = self.shared.owners.get(request, self)
            _schedule_coro(owner._wait_for_download(slot, request, queue_dfd))
            if delay:
                self._process_queue(slot)
                break

    def _wait_for_download(  # type: ignore[override]
        self, slot: Slot, request: Request, queue_dfd: Deferred[Any]
    ) -> Coroutine[Any, Any, None]:
        # Called synchronously by _process_queue for each request it starts; the coroutine
        # runs later. Scrapy's _download adds the request again (a set) and removes it.
        slot.transferring.add(request)
        return super()._wait_for_download(slot, request, queue_dfd)

    def close(self) -> None:
        if self.shared is None:
            super().close()
            return
        # The slots are the other crawls' too: their pending delays must still fire.
        self._stop_slot_gc()
