"""The daemon's scheduled runs, for real: `python scheduler.py` as a process, its crawls as its
child processes, second-level schedules against HTTP servers on 127.0.0.1, a real SQLite file.
Signals, locks and crashes: tests/test_daemon_control.py.

Waiting is always polling for an observable state (a run record, a log line, an exit) with
a deadline; the deadlines are generous because a loaded CI machine starts crawl processes
slowly, and a passing test never waits for them.
"""

from __future__ import annotations

import itertools
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import closed_port, describe, run_newsmill, write_config
from tests.daemontools import (
    EXIT_DEADLINE,
    Daemon,
    Silent,
    feed_source,
    finished,
    running_daemon,
    runs,
    runs_json,
    wait_until,
    when,
)
from tests.site.server import NewsSite, synthetic_article

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
