"""The daemon under signals and beside other crawls, for real: SIGTERM and SIGHUP, the
per-source lock shared with `newsmill crawl`, a crawl process that dies, a config that does
not validate. Waits poll for an observable state with a deadline (tests.daemontools)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from crawler.locks import source_lock
from tests.conftest import ROOT, cli_env, describe, run_newsmill, write_config
from tests.daemontools import (
    EXIT_DEADLINE,
    daemon_in_a_hung_crawl,
    database_url,
    feed_source,
    finished,
    running_daemon,
    runs,
    runs_json,
    wait_until,
)
from tests.site.server import NewsSite, synthetic_article

# -- signals ------------------------------------------------------------------------------------


def test_sigterm_records_running_crawls_interrupted_and_exits_0(tmp_path: Path) -> None:
    with daemon_in_a_hung_crawl(tmp_path, "hung", "every 1h") as (config, daemon):
        assert daemon.stop(signal.SIGTERM) == 0, daemon.log_text()
        assert daemon.exit_seconds is not None and daemon.exit_seconds < EXIT_DEADLINE
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
    with daemon_in_a_hung_crawl(tmp_path, "hung", "every 1h") as (config, daemon):
        result = run_newsmill("crawl", "hung", "-q", "--wait", "0", config=config)
        assert result.returncode == 1, describe(result)
        assert "hung is being crawled by pid" in result.stderr
        assert [r["trigger"] for r in runs(config)] == ["schedule"], "no second crawl was recorded"
        assert daemon.stop() == 0


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


def test_a_crawl_worker_that_dies_has_its_run_recorded_interrupted_and_is_replaced(tmp_path: Path) -> None:
    with daemon_in_a_hung_crawl(tmp_path, "doomed", "every 1s") as (config, daemon):
        pid = int(daemon.events("run_started", "doomed")[0]["pid"])
        os.kill(pid, signal.SIGKILL)  # as the OOM killer would
        lost = wait_until(
            "the killed run to be recorded", lambda: finished(config, "doomed", "interrupted"), daemon=daemon
        )
        assert f"crawl worker (pid {pid}) killed by SIGKILL" in lost[0]["error"]
        again = wait_until(
            "the source to run again on a new worker",
            lambda: [e for e in daemon.events("run_started", "doomed") if int(e["pid"]) != pid],
            daemon=daemon,
        )
        assert int(again[0]["run_id"]) > lost[0]["id"]
        assert daemon.stop() == 0
    assert [r for r in runs(config) if r["status"] == "running"] == []


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
