"""Item pipeline: articles into the database, in batches of one transaction each."""

from __future__ import annotations

from typing import Any, Self

from scrapy.crawler import Crawler
from twisted.internet import task

from pipelines import stats
from pipelines.database import ArticleRecord, Store


class StorePipeline:
    def __init__(self, crawler: Crawler, database_url: str, batch_size: int, interval: float) -> None:
        self.crawler = crawler
        self.database_url = database_url
        self.batch_size = batch_size
        self.interval = interval
        self.buffer: list[ArticleRecord] = []
        self.store: Store | None = None
        self._ticker: task.LoopingCall | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        settings = crawler.settings
        return cls(
            crawler,
            settings.get("NEWSMILL_DATABASE"),
            settings.getint("NEWSMILL_BATCH_SIZE", 50),
            settings.getfloat("NEWSMILL_FLUSH_INTERVAL", 2.0),
        )

    def open_spider(self) -> None:
        self.store = Store(self.database_url)
        # A slow trickle of articles is written every few seconds rather than held back
        # until a batch fills, so little is lost if the process dies.
        self._ticker = task.LoopingCall(self.flush)
        self._ticker.start(self.interval, now=False)

    def close_spider(self) -> None:
        if self._ticker is not None and self._ticker.running:
            self._ticker.stop()
        self.flush()
        if self.store is not None:
            self.store.close()

    def process_item(self, item: Any) -> Any:
        if isinstance(item, ArticleRecord):
            self.buffer.append(item)
            if len(self.buffer) >= self.batch_size:
                self.flush()
        return item

    def flush(self) -> None:
        if not self.buffer or self.store is None:
            return
        batch, self.buffer = self.buffer, []
        outcome = self.store.store_articles(batch)
        new = sum(outcome)
        self.crawler.stats.inc_value(stats.NEW, new)
        self.crawler.stats.inc_value(stats.DUPLICATES, len(outcome) - new)
