"""Item pipeline: articles into the database, in batches of one transaction each.

Writes run on one worker thread, so the reactor keeps downloading while a batch commits or
while a lost database is retried. When the database goes away mid-crawl, articles wait in
a bounded in-memory buffer and the batch is retried with backoff; past the buffer's size, or
once the outage outlasts `store.retry_for`, they go to a spool file on local disk. The spool
is drained as soon as a write succeeds again, and whatever an earlier run left there is
replayed when a crawl opens. Nothing extracted is dropped; nothing is stored twice (the
store's unique constraints make a replayed article a duplicate, not a copy).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Self

from scrapy.crawler import Crawler
from scrapy.utils.defer import maybe_deferred_to_future
from twisted.internet import defer, reactor, task
from twisted.python.failure import Failure

from pipelines import stats
from pipelines.storage import spool
from pipelines.storage.database import Store
from pipelines.storage.records import ArticleRecord
from pipelines.storage.schema import reason

log = logging.getLogger(__name__)

SPOOLED = "newsmill/store/spooled"  # articles left on disk when the crawl closed
REPLAYED = "newsmill/store/replayed"  # articles an earlier run spooled, stored by this one
RETRIES = "newsmill/store/retries"
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 10.0  # seconds
# Longer than any honest batch (SQLite may wait 30 s on another writer's lock).
CALL_TIMEOUT = 60.0


class Writer:
    """One daemon thread for the database calls, results delivered on the reactor.

    A daemon thread, not a thread pool: a connection the server stopped answering can hang
    a call for good, and that must not keep the crawl's process from exiting."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[Any] = queue.SimpleQueue()
        threading.Thread(target=self._run, name="newsmill-store", daemon=True).start()

    def submit(self, func: Any, *args: Any) -> defer.Deferred[Any]:
        result: defer.Deferred[Any] = defer.Deferred()
        self._jobs.put((result, func, args))
        return result

    def stop(self) -> None:
        self._jobs.put(None)

    def _run(self) -> None:
        while (job := self._jobs.get()) is not None:
            result, func, args = job
            try:
                value = func(*args)
            except BaseException as exc:
                reactor.callFromThread(_deliver, result, Failure(exc))  # type: ignore[attr-defined]
            else:
                reactor.callFromThread(_deliver, result, value)  # type: ignore[attr-defined]


def _deliver(result: defer.Deferred[Any], value: Any) -> None:
    if not result.called:  # given up on (cancelled) while the call hung
        if isinstance(value, Failure):
            result.errback(value)
        else:
            result.callback(value)


class StorePipeline:
    def __init__(
        self,
        crawler: Crawler,
        database_url: str,
        batch_size: int,
        interval: float,
        retry_for: float = 60.0,
        buffer_limit: int = 2000,
        spool_dir: Path = Path("data/spool"),
    ) -> None:
        self.crawler = crawler
        self.database_url = database_url
        self.batch_size = batch_size
        self.interval = interval
        self.retry_for = retry_for
        self.buffer_limit = max(buffer_limit, 1)
        self.spool_dir = spool_dir
        self.buffer: deque[ArticleRecord] = deque()
        self.store: Store | None = None
        self.spool: spool.Spool | None = None
        self.down_since: float | None = None  # monotonic time the current outage began
        self.attempts = 0
        self.closing = False
        self._writer: Writer | None = None
        self._ticker: task.LoopingCall | None = None
        self._round: defer.Deferred[None] | None = None
        self._backoff: Any = None  # the reactor's DelayedCall for the next retry
        self._replayed: defer.Deferred[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        return cls(
            crawler,
            settings.get("NEWSMILL_DATABASE"),
            settings.getint("NEWSMILL_BATCH_SIZE", 50),
            settings.getfloat("NEWSMILL_FLUSH_INTERVAL", 2.0),
            settings.getfloat("NEWSMILL_STORE_RETRY_FOR", 60.0),
            settings.getint("NEWSMILL_STORE_BUFFER", 2000),
            Path(settings.get("NEWSMILL_SPOOL_DIR") or "data/spool"),
        )

    # -- Scrapy's hooks ---------------------------------------------------------------------

    def open_spider(self) -> None:
        self.store = Store.for_crawl(self.crawler.settings)
        spider = self.crawler.spider
        label = getattr(getattr(spider, "source", None), "name", None) or "crawl"
        self.spool = spool.Spool(self.spool_dir, self.database_url, label)
        self._writer = Writer()
        # What an earlier run could not store goes in first, on the writer thread.
        self._replayed = self._in_thread(spool.replay, self.store, self.spool_dir, self.database_url)
        self._replayed.addCallbacks(self._replay_done, self._replay_failed)
        # A slow trickle of articles is written every few seconds rather than held back
        # until a batch fills, so little is lost if the process dies.
        self._ticker = task.LoopingCall(self.flush)
        self._ticker.start(self.interval, now=False)

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleRecord):
            self.buffer.append(item)
            if len(self.buffer) > self.buffer_limit:
                # The database is away (or slower than the crawl): memory stays bounded.
                self._spill(len(self.buffer) - self.buffer_limit + self.batch_size)
            if len(self.buffer) >= self.batch_size:
                self._kick()
        return item

    def flush(self) -> None:
        self._kick()

    async def close_spider(self) -> None:
        self.closing = True
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        if self._backoff is not None and self._backoff.active():
            self._backoff.cancel()
        self._backoff = None
        # Scrapy awaits this on asyncio; the closing steps themselves await Twisted Deferreds.
        await maybe_deferred_to_future(defer.ensureDeferred(self._close()))

    # -- writing ----------------------------------------------------------------------------

    def _in_thread(self, func: Any, *args: Any) -> defer.Deferred[Any]:
        writer = self._writer
        assert writer is not None
        result = writer.submit(func, *args)

        def hung(failure: Failure) -> Failure:
            failure.trap(defer.TimeoutError)
            if self._writer is writer:
                # The server stopped answering without closing the connection. The call is
                # abandoned (its batch counts as failed and is retried) on a fresh thread.
                log.error("a database call hung for %.0fs; retrying on a new connection", CALL_TIMEOUT)
                writer.stop()
                self._writer = Writer()
            return failure

        result.addTimeout(CALL_TIMEOUT, reactor)
        return result.addErrback(hung)

    def _kick(self) -> None:
        """Start a write round unless one runs, a retry is pending, or there is nothing to do."""
        if self.closing or self._round is not None or self._backoff is not None or not self.buffer:
            return
        round_ = defer.ensureDeferred(self._write_round())
        if not round_.called:
            self._round = round_

    async def _write_round(self) -> None:
        try:
            while self.buffer:
                if not await self._write_once():
                    delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.attempts - 1))
                    self._backoff = reactor.callLater(delay, self._retry)  # type: ignore[attr-defined]
                    return
                if self.spool is not None and self.spool.count:
                    await self._drain_spool()
        finally:
            self._round = None

    def _retry(self) -> None:
        self._backoff = None
        self._kick()

    async def _write_once(self) -> bool:
        assert self.store is not None
        batch = [self.buffer.popleft() for _ in range(min(self.batch_size, len(self.buffer)))]
        try:
            outcome: list[bool] = await self._in_thread(self.store.store_articles, batch)
        except Exception as exc:
            self.buffer.extendleft(reversed(batch))
            self._down(exc)
            return False
        self._up()
        new = sum(outcome)
        self.crawler.stats.inc_value(stats.NEW, new)
        self.crawler.stats.inc_value(stats.DUPLICATES, len(outcome) - new)
        self._count_revised()
        return True

    def _count_revised(self) -> None:
        # The store counts what it stored as a revision, batches replayed from the spool included.
        if self.store is not None and self.store.revised:
            self.crawler.stats.set_value(stats.REVISED, self.store.revised)

    async def _drain_spool(self) -> bool:
        """Store what this crawl spooled during an outage that is now over."""
        assert self.spool is not None and self.store is not None
        try:
            stored, new = await self._in_thread(self.spool.drain, self.store)
        except Exception as exc:
            self._down(exc)
            return False
        self.crawler.stats.inc_value(stats.NEW, new)
        self.crawler.stats.inc_value(stats.DUPLICATES, stored - new)
        self._count_revised()
        log.warning("stored the %d article(s) spooled during the outage", stored)
        return True

    def _spill(self, count: int) -> None:
        assert self.spool is not None
        batch = [self.buffer.popleft() for _ in range(min(count, len(self.buffer)))]
        if batch:
            self.spool.write(batch)
            log.warning("%d article(s) spooled to %s until the database is back", len(batch), self.spool_dir)

    def _down(self, exc: BaseException) -> None:
        now = time.monotonic()
        self.attempts += 1
        self.crawler.stats.inc_value(RETRIES)
        if self.down_since is None:
            self.down_since = now
            log.error(
                "database write failed (%s); holding articles and retrying for up to %.0fs",
                reason(exc, self.database_url),
                self.retry_for,
            )
        if now - self.down_since >= self.retry_for:
            self._spill(len(self.buffer))

    def _up(self) -> None:
        if self.down_since is not None:
            log.warning("database back after %.1fs", time.monotonic() - self.down_since)
        self.down_since = None
        self.attempts = 0

    def _replay_done(self, result: spool.ReplayResult) -> None:
        self._replayed = None
        if result.records:
            self.crawler.stats.inc_value(REPLAYED, result.records)
            log.warning("replayed %d spooled article(s) from %d file(s)", result.records, result.files)

    def _replay_failed(self, failure: Any) -> None:
        self._replayed = None
        log.error("spooled articles not replayed yet (database unavailable): %s", self.spool_dir)

    # -- closing ----------------------------------------------------------------------------

    async def _close(self) -> None:
        assert self.spool is not None and self.store is not None
        for pending in (self._replayed, self._round):
            if pending is not None:
                await pending
        while self.buffer or self.spool.count:
            if self.down_since is not None or not await self._finish_once():
                # Out of memory and onto disk first: from here a kill -9 loses nothing.
                self._spill(len(self.buffer))
                assert self.down_since is not None
                if time.monotonic() - self.down_since >= self.retry_for:
                    break
                delay = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (self.attempts - 1))
                await task.deferLater(reactor, delay, lambda: None)
                if not await self._drain_spool():
                    continue
                self._up()
        left, paths = self.spool.count, self.spool.paths
        self.spool.close()
        if left:
            self.crawler.stats.set_value(SPOOLED, left)
            log.error(
                "the database stayed unavailable: %d article(s) wait in %s; they are stored at the "
                "next run or by `newsmill db replay`",
                left,
                ", ".join(map(str, paths)),
            )
        assert self._writer is not None
        self._writer.stop()
        self.store.close()

    async def _finish_once(self) -> bool:
        if self.buffer:
            return await self._write_once()
        return await self._drain_spool()
