"""The daemon for real: `python scheduler.py` as a process, its crawls as its child processes,
second-level schedules against HTTP servers on 127.0.0.1, a real SQLite file, real signals.

Waiting is always polling for an observable state (a run record, a log line, an exit) with
a deadline; the deadlines are generous because a loaded CI machine starts crawl processes
slowly, and a passing test never waits for them.
"""

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
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from crawler.locks import source_lock
from tests.conftest import ARTICLE_PATTERNS, ROOT, cli_env, closed_port, describe, run_newsmill, write_config
from tests.site.server import NewsSite, synthetic_article

DEADLINE = 120.0  # seconds for a state the daemon is expected to reach
EXIT_DEADLINE = 10.0  # seconds from SIGTERM to exit, as the acceptance test allows


# -- helpers ------------------------------------------------------------------------------------


def wait_until(
    what: str, check: Callable[[], Any], timeout: float = DEADLINE, daemon: Daemon | None = None
) -> Any:
    """Poll `check` until it returns something truthy; fail with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if daemon is not None and daemon.proc.poll() is not None:
            pytest.fail(f"the daemon exited ({daemon.proc.returncode}) before {what}\n{daemon.log_text()}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}\n{daemon.log_text() if daemon else ''}")


class Silent:
    """A port that takes connections and never answers: a hung server."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)  # the kernel completes the handshakes; nobody ever reads

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def close(self) -> None:
        self.sock.close()


@dataclass
class Daemon:
    """`python scheduler.py --config CONFIG --log-format json`, its log in a file."""

    config: Path
    proc: subprocess.Popen[bytes]
    log_path: Path
    exit_seconds: float | None = None
    child_pids: set[int] = field(default_factory=set)

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")[-6000:]

    def lines(self) -> list[dict[str, Any]]:
        """The log, each line parsed; a line that is not JSON fails the test."""
        lines = []
        for raw in self.log_path.read_text(encoding="utf-8").splitlines():
            try:
                lines.append(json.loads(raw))
            except ValueError:
                pytest.fail(f"a log line that is not JSON: {raw!r}")
        return lines

    def events(self, event: str, source: str | None = None) -> list[dict[str, Any]]:
        found = [e for e in self.lines() if e.get("event") == event]
        return [e for e in found if source is None or e.get("source") == source]

    def send(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send `signum`, wait for the exit; the exit status."""
        started = time.monotonic()
        self.proc.send_signal(signum)
        try:
            code = self.proc.wait(timeout=EXIT_DEADLINE + 20)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon did not exit after {signal.Signals(signum).name}\n{self.log_text()}")
        self.exit_seconds = time.monotonic() - started
        return code

    def cleanup(self) -> None:
        """After a failed test: nothing of this daemon may outlive it."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for event in self.events_quietly("run_started"):
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(int(event["pid"]), signal.SIGKILL)  # crawls run in groups of their own

    def events_quietly(self, event: str) -> list[dict[str, Any]]:
        found = []
        for raw in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                line = json.loads(raw)
            except ValueError:
                continue
            if line.get("event") == event:
                found.append(line)
        return found


@contextmanager
def running_daemon(config: Path) -> Iterator[Daemon]:
    log_path = config.parent / "daemon.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "scheduler.py", "--config", str(config), "--log-format", "json"],
            cwd=ROOT,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
    daemon = Daemon(config, proc, log_path)
    try:
        yield daemon
    finally:
        daemon.cleanup()


def database_url(config: Path) -> str:
    return str(yaml.safe_load(config.read_text(encoding="utf-8"))["database"])


def runs(config: Path, source: str | None = None) -> list[dict[str, Any]]:
    """The run records, oldest first, as `newsmill runs --json` would list them."""
    from pipelines.database import Store

    store = Store(database_url(config))
    try:
        records = [r.as_dict() for r in store.runs(source=source, limit=1000)]
    except Exception:  # the daemon has not created the schema yet
        records = []
    finally:
        store.close()
    return records[::-1]


def finished(config: Path, source: str, status: str | None = None) -> list[dict[str, Any]]:
    return [r for r in runs(config, source) if r["status"] != "running" and status in (None, r["status"])]


def runs_json(config: Path, *args: str) -> list[dict[str, Any]]:
    result = run_newsmill("runs", "--json", "--limit", "1000", *args, config=config)
    assert result.returncode == 0, describe(result)
    return list(json.loads(result.stdout))


def when(iso: str) -> datetime:
    return datetime.fromisoformat(iso).astimezone(UTC)


def feed_source(site: NewsSite, **overrides: Any) -> dict[str, Any]:
    return {"feeds": [site.url_for("/feed.xml")], "articles": list(ARTICLE_PATTERNS), **overrides}


# -- one daemon, four sources: live, refused, hung, and what the CLI shows ---------------------


@dataclass
class Scheduled:
    config: Path
    site: NewsSite
    daemon: Daemon
    exit_code: int
    sources_while_running: list[dict[str, Any]]
    max_runtime: float = 2.0
    grace: float = 2.0


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scheduled]:
    """The daemon crawling a live source, a refused host and a hung host every second,
    until each has a finished run to show (three for the live one); then SIGTERM."""
    directory = tmp_path_factory.mktemp("scheduled")
    silent = Silent()
    with NewsSite(fixtures=False) as site:
        for n in range(1, 7):
            site.add_article(synthetic_article(n))
        config = write_config(
            directory,
            {
                "live": feed_source(site, schedule="every 1s"),
                "refused": {"start_urls": [f"http://127.0.0.1:{closed_port()}/"], "schedule": "every 1s"},
                "hung": {
                    "start_urls": [silent.url],
                    "schedule": "every 1s",
                    "max_runtime": "2s",
                    "crawl": {"timeout": 300, "retries": 0, "obey_robots": False},
                },
                "manual": feed_source(site),  # no schedule: crawled from the command line only
            },
            extra={"daemon": {"grace_period": 2}},
        )
        with running_daemon(config) as daemon:
            wait_until("a first live run", lambda: finished(config, "live", "ok"), daemon=daemon)
            # Articles published while the daemon runs are picked up by a later run.
            for n in range(7, 10):
                site.add_article(synthetic_article(n))
            wait_until(
                "three live runs, a failed refused run and a timed-out hung run",
                lambda: (
                    len(finished(config, "live", "ok")) >= 3
                    and finished(config, "refused", "failed")
                    and finished(config, "hung", "timeout")
                ),
                daemon=daemon,
            )
            result = run_newsmill("sources", "--json", config=config)
            assert result.returncode == 0, describe(result)
            code = daemon.stop()
            yield Scheduled(config, site, daemon, code, json.loads(result.stdout))
    silent.close()


def test_scheduled_runs_happen_and_are_recorded(scheduled: Scheduled) -> None:
    live = [r for r in runs_json(scheduled.config, "--source", "live") if r["status"] == "ok"]
    assert len(live) >= 3
    assert {r["trigger"] for r in live} == {"schedule"}
    assert all(r["finished_at"] and r["started_at"] <= r["finished_at"] for r in live)
    assert sum(r["new"] for r in live) == 9, "every article stored, by one run or another"
    assert live[-1]["new"] == 6, "the first run stored what was there at start-up"
    for record in live:
        assert set(record) >= {
            "source",
            "trigger",
            "started_at",
            "finished_at",
            "status",
            "pages",
            "new",
            "duplicates",
            "skipped",
            "errors",
            "error",
        }


def test_no_article_page_is_downloaded_twice_across_runs(scheduled: Scheduled) -> None:
    paths = {a.path for a in scheduled.site.articles}
    hits = Counter(p for p in scheduled.site.requested_paths() if p in paths)
    assert sorted(hits) == sorted(paths), "every article was fetched"
    assert [p for p, n in hits.items() if n > 1] == []


def test_a_slow_crawl_is_not_overlapped_by_its_next_run(scheduled: Scheduled) -> None:
    # Every crawl takes longer than its 1s interval (a process start alone does), so each
    # next run was due while the last one was still going.
    live = finished(scheduled.config, "live")
    assert len(live) >= 3
    for before, after in itertools.pairwise(live):
        assert when(after["started_at"]) >= when(before["finished_at"]), (before, after)
    starts = scheduled.daemon.events("run_started", "live")
    ends = scheduled.daemon.events("run_finished", "live")
    assert len(starts) == len(ends), "a run started before the last one of the source ended"


def test_a_refused_host_is_recorded_failed_while_another_source_keeps_succeeding(
    scheduled: Scheduled,
) -> None:
    refused = finished(scheduled.config, "refused")
    assert refused and {r["status"] for r in refused} <= {"failed", "interrupted"}
    first = next(r for r in refused if r["status"] == "failed")
    assert "connection refused" in (first["error"] or ""), first
    later_ok = [r for r in finished(scheduled.config, "live", "ok") if r["started_at"] > first["finished_at"]]
    assert later_ok, "the live source kept being crawled after the refused one failed"


def test_a_hung_source_is_stopped_at_max_runtime(scheduled: Scheduled) -> None:
    timed_out = finished(scheduled.config, "hung", "timeout")
    assert timed_out
    for run in timed_out:
        took = (when(run["finished_at"]) - when(run["started_at"])).total_seconds()
        # Killed max_runtime + grace after its process started; the record opens later still.
        assert took <= scheduled.max_runtime + scheduled.grace + 3, run
    assert [r for r in runs(scheduled.config, "hung") if r["status"] == "running"] == []


def test_sigterm_exits_0_promptly_and_leaves_no_run_open(scheduled: Scheduled) -> None:
    assert scheduled.exit_code == 0, scheduled.daemon.log_text()
    assert scheduled.daemon.exit_seconds is not None and scheduled.daemon.exit_seconds < EXIT_DEADLINE
    assert [r for r in runs(scheduled.config) if r["status"] == "running" or not r["finished_at"]] == []


def test_one_json_log_line_per_run_start_and_end_with_counts(scheduled: Scheduled) -> None:
    daemon = scheduled.daemon
    lines = daemon.lines()  # fails on any line that is not JSON
    assert {"time", "level", "logger", "message"} <= set(lines[0])
    for source in ("live", "refused", "hung"):
        starts, ends = daemon.events("run_started", source), daemon.events("run_finished", source)
        recorded = [r for r in runs(scheduled.config, source)]
        assert len(starts) == len(ends) == len(recorded), source
    for end in daemon.events("run_finished"):
        assert {
            "source",
            "run_id",
            "status",
            "seconds",
            "pages",
            "new",
            "duplicates",
            "skipped",
            "errors",
        } <= set(end)
    by_id = {r["id"]: r for r in runs(scheduled.config)}
    for end in daemon.events("run_finished"):
        assert (end["status"], end["new"]) == (by_id[end["run_id"]]["status"], by_id[end["run_id"]]["new"])


def test_sources_shows_schedule_next_and_last_run(scheduled: Scheduled) -> None:
    listed = {s["source"]: s for s in scheduled.sources_while_running}
    assert set(listed) == {"live", "refused", "hung", "manual"}
    assert listed["live"]["schedule"] == "every 1s"
    assert listed["live"]["next_run"] is not None, "the running daemon's next run"
    assert listed["live"]["status"] in {"ok", "running"}
    assert listed["live"]["last_run"] is not None
    assert listed["manual"]["schedule"] is None and listed["manual"]["next_run"] is None
    assert listed["manual"]["last_run"] is None
    # With the daemon gone there is no next run, and the last run is what was recorded last.
    after = run_newsmill("sources", "--json", config=scheduled.config)
    assert after.returncode == 0, describe(after)
    now = {s["source"]: s for s in json.loads(after.stdout)}
    assert now["live"]["next_run"] is None
    last = runs(scheduled.config, "hung")[-1]
    assert (now["hung"]["last_run_id"], now["hung"]["status"]) == (last["id"], last["status"])


# -- signals ------------------------------------------------------------------------------------


def test_sigterm_records_running_crawls_interrupted_and_exits_0(tmp_path: Path) -> None:
    silent = Silent()
    config = write_config(
        tmp_path,
        {
            "hung": {
                "start_urls": [silent.url],
                "schedule": "every 1h",
                "crawl": {"timeout": 300, "retries": 0, "obey_robots": False},
            }
        },
        extra={"daemon": {"grace_period": 1}},
    )
    try:
        with running_daemon(config) as daemon:
            wait_until(
                "the hung crawl to open its run",
                lambda: [r for r in runs(config, "hung") if r["status"] == "running"],
                daemon=daemon,
            )
            assert daemon.stop(signal.SIGTERM) == 0, daemon.log_text()
            assert daemon.exit_seconds is not None and daemon.exit_seconds < EXIT_DEADLINE
    finally:
        silent.close()
    records = runs_json(config)
    assert [r["status"] for r in records] == ["interrupted"]
    assert records[0]["finished_at"] is not None


def test_sighup_starts_a_new_source_and_a_broken_config_changes_nothing(tmp_path: Path) -> None:
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        config = write_config(tmp_path, {"first": feed_source(site, schedule="every 1s")})
        good = config.read_text(encoding="utf-8")
        with running_daemon(config) as daemon:
            wait_until("a run of the first source", lambda: finished(config, "first"), daemon=daemon)

            config.write_text(good.replace("every 1s", "every fortnight"), encoding="utf-8")
            daemon.send(signal.SIGHUP)
            refused = wait_until(
                "the reload to be refused", lambda: daemon.events("reload_refused"), daemon=daemon
            )
            assert "first" in refused[0]["message"] and "schedule" in refused[0]["message"]
            started = len(daemon.events("run_started", "first"))
            wait_until(
                "the first source to go on under the old config",
                lambda: len(daemon.events("run_started", "first")) > started,
                daemon=daemon,
            )

            document = yaml.safe_load(good)
            document["sources"]["second"] = feed_source(site, schedule="every 1h")
            config.write_text(yaml.safe_dump(document), encoding="utf-8")
            daemon.send(signal.SIGHUP)
            reloaded = wait_until("the reload", lambda: daemon.events("reloaded"), daemon=daemon)
            assert reloaded[0]["added"] == "second"
            wait_until("a run of the new source", lambda: finished(config, "second"), daemon=daemon)
            assert daemon.stop() == 0, daemon.log_text()
    assert {r["status"] for r in runs_json(config, "--source", "second")} == {"ok"}


# -- isolation: the lock, a crash ---------------------------------------------------------------


def test_cli_crawl_never_runs_a_source_the_daemon_is_crawling(tmp_path: Path) -> None:
    silent = Silent()
    config = write_config(
        tmp_path,
        {
            "hung": {
                "start_urls": [silent.url],
                "schedule": "every 1h",
                "crawl": {"timeout": 300, "retries": 0, "obey_robots": False},
            }
        },
        extra={"daemon": {"grace_period": 1}},
    )
    try:
        with running_daemon(config) as daemon:
            wait_until(
                "the daemon's crawl to open its run",
                lambda: [r for r in runs(config, "hung") if r["status"] == "running"],
                daemon=daemon,
            )
            result = run_newsmill("crawl", "hung", "-q", "--wait", "0", config=config)
            assert result.returncode == 1, describe(result)
            assert "hung is being crawled by pid" in result.stderr
            assert [r["trigger"] for r in runs(config)] == ["schedule"], "no second crawl was recorded"
            assert daemon.stop() == 0
    finally:
        silent.close()


def test_scheduled_run_is_skipped_while_another_process_crawls_the_source(tmp_path: Path) -> None:
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        config = write_config(tmp_path, {"busy": feed_source(site, schedule="every 1s")})
        held = source_lock(database_url(config), "busy")  # what `newsmill crawl busy` holds
        assert held.acquire()
        try:
            with running_daemon(config) as daemon:
                wait_until("a skipped run", lambda: daemon.events("run_skipped", "busy"), daemon=daemon)
                assert runs(config) == [], "a skipped run leaves no record"
                held.release()
                wait_until(
                    "a run once the lock is free", lambda: finished(config, "busy", "ok"), daemon=daemon
                )
                assert daemon.stop() == 0
        finally:
            held.release()
        assert site.hits(site.articles[0].path) == 1


def test_cli_crawl_waits_for_a_source_crawled_elsewhere_then_crawls_it(tmp_path: Path) -> None:
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        config = write_config(tmp_path, {"busy": feed_source(site)})
        held = source_lock(database_url(config), "busy")  # another process's crawl of "busy"
        assert held.acquire()
        crawl = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl", "busy", "-q"],
            cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        try:
            assert crawl.stderr is not None
            line = crawl.stderr.readline()  # blocks until the crawl says it waits
            assert "waiting for another crawl of busy" in line, line
            assert site.requested_paths() == [], "nothing is fetched while the lock is held elsewhere"
            held.release()
            assert crawl.wait(timeout=120) == 0, crawl.communicate()
        finally:
            held.release()
            if crawl.poll() is None:
                crawl.kill()
        assert site.hits(site.articles[0].path) == 1
        assert [r["status"] for r in runs(config, "busy")] == ["ok"]


def test_a_crawl_process_that_dies_is_recorded_failed_and_the_daemon_goes_on(tmp_path: Path) -> None:
    silent = Silent()
    config = write_config(
        tmp_path,
        {
            "doomed": {
                "start_urls": [silent.url],
                "schedule": "every 1s",
                "crawl": {"timeout": 300, "retries": 0, "obey_robots": False},
            }
        },
        extra={"daemon": {"grace_period": 1}},
    )
    try:
        with running_daemon(config) as daemon:
            wait_until(
                "the crawl to open its run",
                lambda: [r for r in runs(config, "doomed") if r["status"] == "running"],
                daemon=daemon,
            )
            pid = int(daemon.events("run_started", "doomed")[0]["pid"])
            os.kill(pid, signal.SIGKILL)  # as the OOM killer would
            failed = wait_until(
                "the killed run to be recorded", lambda: finished(config, "doomed", "failed"), daemon=daemon
            )
            assert "killed by SIGKILL" in failed[0]["error"]
            wait_until(
                "the next run to start",
                lambda: len(daemon.events("run_started", "doomed")) >= 2,
                daemon=daemon,
            )
            assert daemon.stop() == 0
    finally:
        silent.close()


def test_a_config_that_does_not_validate_is_refused_at_start_with_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"bad": {"feeds": ["http://127.0.0.1:9/feed.xml"], "schedule": "often"}})
    result = subprocess.run(
        [sys.executable, "scheduler.py", "--config", str(config)],
        cwd=ROOT,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, describe(result)
    assert "bad" in result.stderr and "schedule" in result.stderr
