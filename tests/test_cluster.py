"""A cluster over PostgreSQL: real `newsmill worker` processes (two, standing in for machines)
taking real jobs from procrastinate's queue, crawling the fixture site; kill -9 for real."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import ARTICLE_PATTERNS, ROOT, cli_env, describe, run_newsmill, write_config
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.site.server import NewsSite, synthetic_article

DEADLINE = 120.0  # seconds any awaited condition gets before the test fails


def archive_site(first: int, months: int = 3, per_month: int = 4) -> NewsSite:
    site = NewsSite(fixtures=False)
    for n in range(months * per_month):
        month, day = divmod(n, per_month)
        published = datetime(2024, month + 1, 1, tzinfo=UTC) + timedelta(hours=30 * day)
        site.add_article(synthetic_article(first + n, published=published))
    return site


def source_of(site: NewsSite) -> dict[str, Any]:
    return {"sitemaps": [site.url_for("/archive/sitemap_index.xml")], "articles": ARTICLE_PATTERNS}


def query(database: str, sql: str, **params: Any) -> list[Any]:
    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(sql), params).all())
    finally:
        engine.dispose()


def wait_until(condition: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        time.sleep(0.1)


class Workers:
    """`newsmill worker` processes for one config; each one's log in a file beside it."""

    def __init__(self, config: Path, database: str) -> None:
        self.config = config
        self.database = database
        self.processes: list[subprocess.Popen[bytes]] = []

    def start(self, count: int) -> list[int]:
        upgrade = run_newsmill("db", "upgrade", config=self.config)
        assert upgrade.returncode == 0, describe(upgrade)
        started = []
        for _ in range(count):
            log = open(self.config.parent / f"worker-{len(self.processes)}.log", "wb")  # noqa: SIM115
            process = subprocess.Popen(
                [sys.executable, "-m", "crawler.cli", "--config", str(self.config), "worker",
                 "--concurrency", "1"],
                cwd=ROOT, env=cli_env(), stdout=log, stderr=subprocess.STDOUT,
            )
            self.processes.append(process)
            started.append(process.pid)
        # Ready when each has registered with procrastinate and said who it is.
        wait_until(lambda: set(started) <= self.registered_pids(), f"{count} worker(s) registered")
        return started

    def registered_pids(self) -> set[int]:
        rows = query(self.database, "SELECT c.pid FROM cluster_workers c JOIN procrastinate_workers w "
                                    "ON w.id = c.worker_id")
        return {row.pid for row in rows}

    def logs(self) -> str:
        files = sorted(self.config.parent.glob("worker-*.log"))
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in files)

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def cluster(tmp_path: Path, postgres_url: str) -> Iterator[Callable[..., Workers]]:
    made: list[Workers] = []

    def make(config: Path) -> Workers:
        workers = Workers(config, postgres_url)
        made.append(workers)
        return workers

    yield make
    for workers in made:
        workers.stop()


def stored_urls(database: str) -> list[str]:
    return [row.url for row in query(database, "SELECT url FROM articles ORDER BY url")]


def test_a_worker_needs_postgresql(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"s": {"feeds": ["http://127.0.0.1:9/feed.xml"]}})
    for command in ("worker", "workers"):
        result = run_newsmill(command, config=config)
        assert result.returncode == 2, describe(result)
        assert "a cluster needs PostgreSQL" in result.stderr


def test_db_upgrade_installs_the_queue_on_postgresql_only(tmp_path: Path, postgres_url: str,
                                                         sqlite_url: str) -> None:
    for database in (postgres_url, sqlite_url):
        config = write_config(tmp_path, {"s": {"feeds": ["http://127.0.0.1:9/feed.xml"]}}, database=database)
        result = run_newsmill("db", "upgrade", config=config)
        assert result.returncode == 0, describe(result)
    tables = {row[0] for row in query(postgres_url, "SELECT tablename FROM pg_tables")}
    assert {"procrastinate_jobs", "procrastinate_workers", "cluster_workers", "backfill_parts"} <= tables
    sqlite_tables = {row[0] for row in query(sqlite_url, "SELECT name FROM sqlite_master")}
    assert not {t for t in sqlite_tables if t.startswith("procrastinate")}


def test_backfill_parts_are_spread_over_the_workers(tmp_path: Path, postgres_url: str,
                                                    cluster: Callable[[Path], Workers]) -> None:
    with archive_site(1) as first, archive_site(100) as second:
        config = write_config(tmp_path, {"first": source_of(first), "second": source_of(second)},
                              database=postgres_url)
        workers = cluster(config)
        pids = workers.start(2)
        # Both backfills at once: each source's parts one at a time, the two sources side by side.
        runs = [subprocess.Popen([sys.executable, "-m", "crawler.cli", "--config", str(config), "backfill",
                                  name, "-q"], cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for name in ("first", "second")]
        outputs = [run.communicate(timeout=300) for run in runs]
        expected = sorted(site.url_for(a.path) for site in (first, second) for a in site.main_articles())
    for run, (out, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, f"{out}\n{err}\n{workers.logs()}"
        assert "part(s) queued for the cluster's workers" in err
    parts = query(postgres_url, "SELECT source, status, worker FROM backfill_parts")
    assert len(parts) == 6 and {p.status for p in parts} == {"done"}
    assert {int(p.worker.rsplit(":", 1)[1]) for p in parts} == set(pids), "both workers crawled parts"
    assert stored_urls(postgres_url) == expected


def test_a_worker_killed_mid_part_has_its_part_crawled_by_another(
    tmp_path: Path, postgres_url: str, cluster: Callable[[Path], Workers]
) -> None:
    with archive_site(1, months=2, per_month=20) as site:
        # One request at a time, 0.4 s apart: a part takes several seconds.
        config = write_config(tmp_path, {"ledger": source_of(site)}, database=postgres_url,
                              crawl={"delay": 0.4, "per_domain": 1, "concurrency": 1})
        workers = cluster(config)
        workers.start(2)
        queued = run_newsmill("backfill", "ledger", "--detach", config=config)
        assert queued.returncode == 0, describe(queued)
        articles = {a.path for a in site.main_articles()}

        def part_under_way() -> tuple[int, str] | None:
            """A part marked running whose crawl has fetched one of its month's articles."""
            for part_id, url, worker in query(postgres_url, "SELECT id, url, worker FROM backfill_parts "
                                                            "WHERE status = 'running'"):
                month = "/" + url.rsplit("sitemap-", 1)[1][:7].replace("-", "/") + "/"
                if any(p.startswith(month) for p in site.requested_paths() if p in articles):
                    return part_id, worker
            return None

        part_id, worker = wait_until(part_under_way, "a part's crawl under way")
        victim = int(worker.rsplit(":", 1)[1])
        listing = run_newsmill("workers", "--json", config=config)
        assert listing.returncode == 0, describe(listing)
        live = {w["pid"]: w for w in json.loads(listing.stdout)["live"]}
        assert len(live) == 2
        assert [j["args"]["part_id"] for j in live[victim]["jobs"]] == [part_id], "its job in flight"
        others = [w["jobs"] for pid, w in live.items() if pid != victim]
        assert others == [[]], "one crawl of a source at a time"

        os.kill(victim, signal.SIGKILL)
        # The other worker notices the silence, hands the job back to the queue and crawls it.
        left = "SELECT count(*) FROM backfill_parts WHERE status <> 'done'"
        jobs = "SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')"
        wait_until(lambda: query(postgres_url, left)[0][0] == 0 and query(postgres_url, jobs)[0][0] == 0,
                   "every part done after the kill")
        fetched = site.requested_paths()
        base = site.url
    rerun = query(postgres_url, "SELECT attempts, worker FROM backfill_parts WHERE id = :id", id=part_id)[0]
    survivor = int(rerun.worker.rsplit(":", 1)[1])
    assert rerun.attempts == 2 and survivor != victim, (rerun, victim, workers.logs())
    urls = stored_urls(postgres_url)
    assert sorted(u.removeprefix(base) for u in urls) == sorted(articles), "every article, each once"
    # Pages the killed crawl had fetched but not yet written are fetched again; nothing more.
    times = Counter(p for p in fetched if p in articles)
    assert max(times.values()) <= 2, times
    # The killed crawl's run record is closed by the next crawl of the source.
    runs = query(postgres_url, "SELECT status, error FROM crawl_runs ORDER BY id")
    assert [r.status for r in runs].count("running") == 0
    assert any(r.status == "interrupted" and "abandoned" in (r.error or "") for r in runs)
    after = json.loads(run_newsmill("workers", "--json", config=config).stdout)
    assert victim not in {w["pid"] for w in after["live"]}


def test_runs_of_a_source_do_not_pile_up(tmp_path: Path, postgres_url: str,
                                          cluster: Callable[[Path], Workers]) -> None:
    with archive_site(1, months=1) as site:
        config = write_config(tmp_path, {"ledger": source_of(site)}, database=postgres_url)
        assert run_newsmill("db", "upgrade", config=config).returncode == 0
        script = (
            "from crawler.cluster.app import defer_crawl, make_app\n"
            f"app = make_app({postgres_url!r})\n"
            "with app.open():\n"
            "    print([defer_crawl(app, 'ledger') is not None for _ in range(3)])\n"
        )
        deferred = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                                  timeout=60, check=False)
        assert deferred.stdout.strip() == "[True, False, False]", deferred.stderr
        queued = json.loads(run_newsmill("workers", "--json", config=config).stdout)["queued"]
        assert queued == {"newsmill:crawl": 1}
        cluster(config).start(1)
        wait_until(lambda: query(postgres_url, "SELECT status FROM crawl_runs WHERE status <> 'running'"),
                   "the queued run done")
        runs = query(postgres_url, "SELECT trigger, status FROM crawl_runs")
    assert [(r.trigger, r.status) for r in runs] == [("cluster", "ok")]
