"""A cluster over PostgreSQL: real `newsmill worker` processes (two, standing in for machines)
taking real jobs from procrastinate's queue, crawling the fixture site; kill -9 for real."""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
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


def archive_site(first: int, months: int = 3, per_month: int = 4, host: str = "127.0.0.1") -> NewsSite:
    """Another `host` (127.0.0.2, ...) is another site: the cluster crawls one site at a time."""
    site = NewsSite(fixtures=False, host=host)
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


def defer_runs(config: Path, *sources: str) -> list[bool]:
    """Queue a run of each source as the scheduler does; whether each was queued."""
    script = (
        "import sys\n"
        "from crawler.cluster.app import defer_crawl, make_app\n"
        "from crawler.config import load_config\n"
        "config = load_config(sys.argv[1])\n"
        "app = make_app(config.database)\n"
        "with app.open():\n"
        "    print([defer_crawl(app, config.sources[name]) is not None for name in sys.argv[2:]])\n"
    )
    deferred = subprocess.run([sys.executable, "-c", script, str(config), *sources], cwd=ROOT,
                              capture_output=True, text=True, timeout=60, check=False, env=cli_env())
    assert deferred.returncode == 0, deferred.stderr
    return [word == "True" for word in deferred.stdout.strip().strip("[]").split(", ")]


def children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children", encoding="ascii") as listing:
        return [int(p) for p in listing.read().split()]


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
    with archive_site(1) as first, archive_site(100, host="127.0.0.2") as second:
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
        assert defer_runs(config, "ledger", "ledger", "ledger") == [True, False, False]
        queued = json.loads(run_newsmill("workers", "--json", config=config).stdout)["queued"]
        assert queued == {"newsmill:crawl": 1}
        (pid,) = cluster(config).start(1)
        wait_until(lambda: query(postgres_url, "SELECT status FROM crawl_runs WHERE status <> 'running'"),
                   "the queued run done")
        runs = query(postgres_url, "SELECT trigger, status, worker FROM crawl_runs")
    assert [(r.trigger, r.status) for r in runs] == [("cluster", "ok")]
    assert runs[0].worker == f"{socket.gethostname()}:{pid}", "the record names the worker that ran it"
    listed = json.loads(run_newsmill("runs", "--json", config=config).stdout)
    assert [r["worker"] for r in listed] == [runs[0].worker]


SLOW = {"delay": 0.4, "per_domain": 1, "concurrency": 1}  # one request at a time: a run takes seconds


def run_under_way(database: str, site: NewsSite) -> Any:
    """The running record of a run whose crawl has fetched one of the site's articles."""
    articles = {a.path for a in site.main_articles()}
    running = query(database, "SELECT id, worker FROM crawl_runs WHERE status = 'running'")
    if running and any(p in articles for p in site.requested_paths()):
        return running[0]
    return None


def idle(database: str) -> bool:
    return not query(database, "SELECT id FROM procrastinate_jobs WHERE status IN ('todo', 'doing') "
                               "UNION ALL SELECT id FROM crawl_runs WHERE status = 'running'")


def pid_of(worker: str) -> int:
    return int(worker.rsplit(":", 1)[1])


def gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            return stat.read().split(") ", 1)[1].startswith("Z")  # a zombie has let go of everything
    except FileNotFoundError:
        return True


def each_article_once(database: str, site: NewsSite) -> None:
    urls = stored_urls(database)
    assert sorted(u.removeprefix(site.url) for u in urls) == sorted(a.path for a in site.main_articles())
    # Pages the killed crawl had fetched but not yet written are fetched again; nothing more.
    times = Counter(p for p in site.requested_paths() if p in {a.path for a in site.main_articles()})
    assert max(times.values()) <= 2, times


@pytest.mark.parametrize("next_run_queued", [False, True], ids=["alone", "next-run-queued"])
def test_a_worker_killed_mid_run_has_the_run_done_by_another(
    tmp_path: Path, postgres_url: str, cluster: Callable[[Path], Workers], next_run_queued: bool
) -> None:
    with archive_site(1, months=2, per_month=15) as site:
        config = write_config(tmp_path, {"ledger": source_of(site)}, database=postgres_url, crawl=SLOW)
        workers = cluster(config)
        workers.start(2)
        assert defer_runs(config, "ledger") == [True]
        run = wait_until(lambda: run_under_way(postgres_url, site), "a run's crawl under way")
        victim = pid_of(run.worker)
        crawls = children(victim)
        assert crawls, "the worker's long-lived crawl process"
        if next_run_queued:  # the scheduler's next due run, waiting behind the running one
            assert defer_runs(config, "ledger") == [True]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: all(gone(pid) for pid in crawls), "the dead worker's crawl process gone with it")
        wait_until(lambda: idle(postgres_url), "the run done again after the kill")
        each_article_once(postgres_url, site)
    runs = query(postgres_url, "SELECT id, status, error, worker FROM crawl_runs ORDER BY id")
    assert runs[0].id == run.id and runs[0].status == "interrupted" and "abandoned" in runs[0].error, runs
    assert [r.status for r in runs[1:]] == ["ok"], runs
    assert pid_of(runs[1].worker) != victim, workers.logs()
    jobs = query(postgres_url, "SELECT status, attempts FROM procrastinate_jobs ORDER BY id")
    if next_run_queued:  # the dead one closed (not left holding the site's lock), the queued one ran
        assert [j.status for j in jobs] == ["failed", "succeeded"], jobs
    else:
        assert [(j.status, j.attempts) for j in jobs] == [("succeeded", 2)], jobs


def test_a_crawl_process_dying_under_a_live_worker_is_restarted_and_its_run_recorded(
    tmp_path: Path, postgres_url: str, cluster: Callable[[Path], Workers]
) -> None:
    with archive_site(1, months=2, per_month=15) as site:
        config = write_config(tmp_path, {"ledger": source_of(site)}, database=postgres_url, crawl=SLOW)
        (worker,) = cluster(config).start(1)
        assert defer_runs(config, "ledger") == [True]
        wait_until(lambda: run_under_way(postgres_url, site), "a run's crawl under way")
        (crawl,) = children(worker)
        os.kill(crawl, signal.SIGKILL)
        wait_until(lambda: idle(postgres_url), "the killed run recorded and its job ended")
        first = query(postgres_url, "SELECT status, error FROM crawl_runs")
        assert [r.status for r in first] == ["interrupted"], first
        assert f"crawl worker (pid {crawl}) killed by SIGKILL" in first[0].error
        assert [j.status for j in query(postgres_url, "SELECT status FROM procrastinate_jobs")] == ["failed"]
        # The worker lives on, with a new crawl process, and the next run of the source is whole.
        assert defer_runs(config, "ledger") == [True]
        wait_until(lambda: idle(postgres_url) and len(query(postgres_url, "SELECT id FROM crawl_runs")) == 2,
                   "the next run done")
        assert children(worker) and crawl not in children(worker)
        each_article_once(postgres_url, site)
    assert [r.status for r in query(postgres_url, "SELECT status FROM crawl_runs ORDER BY id")][1] == "ok"


def test_sources_on_one_host_are_never_crawled_at_once_across_workers(
    tmp_path: Path, postgres_url: str, cluster: Callable[[Path], Workers]
) -> None:
    with archive_site(1, months=1, per_month=8) as site:
        sources = {name: source_of(site) for name in ("world", "politics", "sport")}
        config = write_config(tmp_path, sources, database=postgres_url, crawl=SLOW)
        cluster(config).start(2)
        assert defer_runs(config, *sources) == [True, True, True]
        wait_until(lambda: idle(postgres_url) and len(query(postgres_url, "SELECT id FROM crawl_runs")) == 3,
                   "the three runs done")
    runs = query(postgres_url, "SELECT source, status, started_at, finished_at FROM crawl_runs "
                               "ORDER BY started_at")
    assert sorted(r.source for r in runs) == sorted(sources) and {r.status for r in runs} == {"ok"}
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at <= later.started_at, "two crawls of one host at once"


def test_a_worker_stopped_mid_run_hands_the_run_back(
    tmp_path: Path, postgres_url: str, cluster: Callable[[Path], Workers]
) -> None:
    with archive_site(1, months=2, per_month=15) as site:
        config = write_config(tmp_path, {"ledger": source_of(site)}, database=postgres_url, crawl=SLOW,
                              extra={"daemon": {"grace_period": 1}})
        workers = cluster(config)
        workers.start(2)
        assert defer_runs(config, "ledger") == [True]
        run = wait_until(lambda: run_under_way(postgres_url, site), "a run's crawl under way")
        victim = next(p for p in workers.processes if p.pid == pid_of(run.worker))
        victim.terminate()
        assert victim.wait(timeout=DEADLINE) == 0, workers.logs()
        wait_until(lambda: idle(postgres_url), "the run handed back and done by the other worker")
        each_article_once(postgres_url, site)
    runs = query(postgres_url, "SELECT status, worker FROM crawl_runs ORDER BY id")
    assert [r.status for r in runs] == ["interrupted", "ok"], runs
    assert pid_of(runs[1].worker) != victim.pid
