"""What the database tests share: a site of distinct articles, crawl subprocesses, and
questions asked of the database directly (not through newsmill)."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from pipelines.storage import validators
from pipelines.storage.database import Store
from pipelines.storage.records import ArticleRecord
from pipelines.storage.validators import Validators
from tests.conftest import ROOT, cli_env, write_config
from tests.site.server import NewsSite, synthetic_article

ARTICLE_PATTERN = r"/\d{4}/\d{2}/\d{2}/[^/]+\.html$"
# One request in flight with a delay: a crawl long enough to cut, kill or race in the middle.
SLOW_CRAWL: dict[str, Any] = {"delay": 0.3, "concurrency": 1, "per_domain": 1, "timeout": 10}


@pytest.fixture
def articles_site() -> Iterator[NewsSite]:
    """60 distinct articles behind one RSS feed, nothing else."""
    with NewsSite(fixtures=False) as site:
        for n in range(1, 61):
            site.add_article(synthetic_article(n, section=("world", "business", "science")[n % 3]))
        yield site


def source(site: NewsSite) -> dict[str, Any]:
    return {"feeds": [site.url_for("/feed.xml")], "articles": [ARTICLE_PATTERN]}


def config_for(
    directory: Path, site: NewsSite, database: str, *, crawl: dict[str, Any] | None = None,
    store: dict[str, Any] | None = None, sources: tuple[str, ...] = ("ledger",),
) -> Path:
    return write_config(
        directory,
        {name: source(site) for name in sources},
        database=database,
        crawl={**SLOW_CRAWL, **(crawl or {})},
        extra={"store": {"spool_dir": str(directory / "spool"), **(store or {})}},
    )


def expected_urls(site: NewsSite) -> list[str]:
    return sorted(site.url_for(a.path) for a in site.articles)


def article_rows(database: str) -> list[tuple[str, str]]:
    """(url, content_hash) of every stored article, read straight from the database."""
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            if "articles" not in _tables(connection):
                return []
            rows = connection.execute(text("SELECT url, content_hash FROM articles ORDER BY url"))
            return [(r[0], r[1]) for r in rows]
    finally:
        engine.dispose()


def _tables(connection: Any) -> set[str]:
    from sqlalchemy import inspect

    return set(inspect(connection).get_table_names())


def count_articles(database: str) -> int:
    return len(article_rows(database))


def assert_each_stored_once(database: str, site: NewsSite) -> None:
    rows = article_rows(database)
    urls = [url for url, _ in rows]
    assert len(urls) == len(set(urls)), "an article URL is stored twice"
    assert len({h for _, h in rows}) == len(rows), "an article text is stored twice"
    assert urls == expected_urls(site)


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Crawl:
    """`newsmill crawl` as a background process, in its own process group."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def wait(self, timeout: float = 180) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"crawl still running after {timeout}s:\n{self.output[-4000:]}") from None

    def kill(self) -> None:
        """SIGKILL to the crawl and everything it started (its extraction workers)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def running(self) -> bool:
        return self.process.poll() is None


def start_crawl(config: Path, *args: str, name: str = "crawl") -> Crawl:
    log = config.parent / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl", "-q", *args],
            cwd=ROOT,
            env=cli_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Crawl(process, log)


@pytest.fixture
def crawls() -> Iterator[Callable[..., Crawl]]:
    """start_crawl, with every crawl still running at the end of the test killed."""
    started: list[Crawl] = []

    def start(config: Path, *args: str, name: str = "crawl") -> Crawl:
        crawl = start_crawl(config, *args, name=name)
        started.append(crawl)
        return crawl

    yield start
    for crawl in started:
        if crawl.running():
            crawl.kill()


def article_requests(site: NewsSite) -> int:
    return sum(1 for p in site.requested_paths() if p.endswith(".html"))


def synthetic_records(count: int, source: str = "ledger") -> list[ArticleRecord]:
    """`count` distinct articles as the store receives them, each with an alias URL."""
    records = []
    for n in range(1, count + 1):
        article = synthetic_article(n)
        body = "\n".join(article.paragraphs)
        records.append(
            ArticleRecord(
                source=source,
                url=f"https://ledger.example{article.path}",
                text=body,
                content_hash=hashlib.sha256(body.encode()).hexdigest(),
                fetched_at=datetime(2024, 3, 1, 12, tzinfo=UTC),
                title=article.title,
                aliases=[f"https://amp.ledger.example{article.path}"],
            )
        )
    return records


def two_writers_at_once(writer: Callable[..., Any], database: str, count: int, n: int) -> list[Any]:
    """`writer(database, count, reverse, barrier, n)` in two processes started together, one
    forward and one in reverse; their results, or the first writer's error raised here."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Manager().Barrier(2)
    with context.Pool(2) as pool:
        writers = [
            pool.apply_async(writer, (database, count, reverse, barrier, n)) for reverse in (False, True)
        ]
        return [w.get(timeout=180) for w in writers]


def save_validators_in_rounds(database: str, count: int, reverse: bool, barrier: Any, rounds: int) -> None:
    """A writer process: wait for the other, then keep validators for the same URLs, round
    after round; `reverse` lists them in the opposite order."""
    store = Store(database)
    try:
        urls = [f"https://ledger.example/2024/03/01/story-{n}.html" for n in range(count)]
        if reverse:
            urls.reverse()
        barrier.wait(timeout=60)
        for round_ in range(rounds):
            validators.save(store, "ledger", {u: Validators(f'"{round_}"', None) for u in urls})
    finally:
        store.close()


def store_in_batches(database: str, count: int, reverse: bool, barrier: Any, batch: int) -> int:
    """A writer process: wait for the other, then store the same articles; how many were new.

    Both writers store the same batches at about the same time; `reverse` stores each batch's
    records in the opposite order, the order in which two crawls' writes can deadlock."""
    store = Store(database)
    try:
        records = synthetic_records(count)
        barrier.wait(timeout=60)
        new = 0
        for start in range(0, len(records), batch):
            chunk = records[start : start + batch]
            new += sum(store.store_articles(chunk[::-1] if reverse else chunk))
        return new
    finally:
        store.close()


def retold(record: ArticleRecord) -> ArticleRecord:
    """The story as a partner site carries it: its own URL and a closing line of its own, a
    near-duplicate of `record` (a different text, most of its shingles the same)."""
    body = record.text + "\nThis story was reported with the help of our partners on the wire desk."
    return ArticleRecord(
        source="partner",
        url=record.url.replace("ledger.example", "partner.example"),
        text=body,
        content_hash=hashlib.sha256(body.encode()).hexdigest(),
        fetched_at=record.fetched_at,
        title=record.title,
    )


def store_stories_in_batches(database: str, count: int, retell: bool, barrier: Any, batch: int) -> int:
    """A writer process: wait for the other, then store the same stories in batches, as told
    first or (`retell`) as retold by a partner site; how many were new."""
    store = Store(database)
    try:
        records = synthetic_records(count)
        if retell:
            records = [retold(r) for r in records]
        barrier.wait(timeout=60)
        new = 0
        for start in range(0, len(records), batch):
            new += sum(store.store_articles(records[start : start + batch]))
        return new
    finally:
        store.close()
