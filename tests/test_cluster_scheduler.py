"""`newsmill run` on PostgreSQL, for real: the cluster's scheduler. Two of them on one database
(one leads, one stands by and takes over when the leader is killed with kill -9), one that
only schedules (`--workers 0`) while a separate `newsmill worker` crawls, the queue and the
runs read back from the database, the run records checked for overlaps."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from tests.conftest import ROOT, cli_env, closed_port, describe, run_newsmill, write_config
from tests.daemontools import Daemon, Silent, feed_source, finished, running_daemon, runs, wait_until
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.site.server import NewsSite, synthetic_article

TAKEOVER = 30.0  # seconds the issue allows a standby to take over from a dead leader


def role(daemon: Daemon) -> str | None:
    """The role the daemon last said it has: leader, standby (None before it knows)."""
    said = daemon.events("role")
    return str(said[-1]["role"]) if said else None


def overlaps(records: list[dict[str, Any]]) -> list[tuple[int, int]]:
    """Pairs of runs of one source whose times overlap (a run still open overlaps all after it)."""
    found = []
    by_source: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_source.setdefault(record["source"], []).append(record)
    for source_runs in by_source.values():
        ordered = sorted(source_runs, key=lambda r: r["started_at"])
        for earlier, later in itertools.pairwise(ordered):
            end = earlier["finished_at"]
            if end is None or datetime.fromisoformat(end) > datetime.fromisoformat(later["started_at"]):
                found.append((earlier["id"], later["id"]))
    return found


def children(pid: int) -> set[int]:
    """The live child processes of `pid` (Linux)."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(p) for p in (task / "children").read_text().split()}
    return found


def registered(database: str) -> set[int]:
    """The pids of the cluster's workers registered with the queue."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT c.pid FROM cluster_workers c JOIN procrastinate_workers w "
                                           "ON w.id = c.worker_id")).all()
    finally:
        engine.dispose()
    return {int(row.pid) for row in rows}


def sources_json(config: Path) -> dict[str, dict[str, Any]]:
    result = run_newsmill("sources", "--json", config=config)
    assert result.returncode == 0, describe(result)
    return {r["source"]: r for r in json.loads(result.stdout)}


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def counted(port: int, source: str, status: str) -> float:
    """newsmill_runs_total of `source` and `status` as the daemon's /metrics says."""
    wanted = f'newsmill_runs_total{{source="{source}",status="{status}"}} '
    for line in get(f"http://127.0.0.1:{port}/metrics")[1].splitlines():
        if line.startswith(wanted):
            return float(line.removeprefix(wanted))
    return 0.0


@contextmanager
def newsmill_worker(config: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `newsmill worker` of the cluster, as an operator starts one on another machine."""
    with open(config.parent / "worker.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "crawler.cli", "--config", str(config), "worker", "--concurrency", "2"],
            cwd=ROOT, env=cli_env(), stdout=log, stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def test_workers_0_on_sqlite_is_refused_with_exit_2(tmp_path: Path) -> None:
    config = write_config(tmp_path, {"s": {"feeds": ["http://127.0.0.1:9/feed.xml"], "schedule": "every 1m"}})
    result = run_newsmill("run", "--workers", "0", config=config)
    assert result.returncode == 2, describe(result)
    assert "needs a cluster over PostgreSQL" in result.stderr


def test_a_standby_takes_over_within_30s_when_the_leaders_machine_is_lost(
    tmp_path: Path, postgres_url: str
) -> None:
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        sources = {"one": feed_source(site, schedule="every 2s"),
                   "two": feed_source(site, schedule="every 3s")}
        ports = {name: closed_port() for name in ("a", "b")}
        configs = {
            name: write_config(tmp_path, sources, database=postgres_url, name=f"{name}.yaml",
                               extra={"daemon": {"grace_period": 2, "metrics": f"127.0.0.1:{port}"}})
            for name, port in ports.items()
        }
        with running_daemon(configs["a"], log_name="a.log") as first:
            wait_until("the first to lead", lambda: role(first) == "leader", daemon=first)
            with running_daemon(configs["b"], log_name="b.log") as second:
                wait_until("the second to stand by", lambda: role(second) == "standby", daemon=second)
                wait_until("two runs of each source done",
                           lambda: all(len([r for r in runs(configs["a"], s) if r["status"] == "ok"]) >= 2
                                       for s in sources), daemon=second)
                assert get(f"http://127.0.0.1:{ports['b']}/healthz") == (200, "standing by\n")
                assert not second.events("run_queued"), "a standby queues nothing"

                # The leader's machine is lost: kill -9 for it and its local worker at once.
                first.proc.send_signal(signal.SIGKILL)
                for started in first.events("worker_started"):
                    with suppress(ProcessLookupError):
                        os.killpg(int(started["pid"]), signal.SIGKILL)
                first.proc.wait()
                killed_at = time.monotonic()
                last_before = max(r["id"] for r in runs(configs["a"]))
                wait_until("the standby to lead", lambda: role(second) == "leader", timeout=TAKEOVER,
                           daemon=second)
                took = time.monotonic() - killed_at
                # The dead worker's runs are closed (their next runs waited already) or handed back;
                # a dead leader queued at most one run of each source: two more are the new leader's.
                wait_until("three runs of each source after the kill",
                           lambda: all(len([r for r in runs(configs["b"], s)
                                            if r["id"] > last_before and r["status"] == "ok"]) >= 3
                                       for s in sources), daemon=second)
                assert get(f"http://127.0.0.1:{ports['b']}/healthz") == (200, "scheduling\n")
                status, metrics = get(f"http://127.0.0.1:{ports['b']}/metrics")
                assert status == 200 and "newsmill_scheduler_leader 1.0" in metrics
                assert second.stop() == 0
    assert took <= TAKEOVER
    assert {e["source"] for e in second.events("run_queued")} == set(sources)
    # The new leader heard of the runs its worker finished, and logged them.
    assert {e["source"] for e in second.events("run_finished")} == set(sources)
    records = runs(configs["b"])
    assert overlaps(records) == [], "a source crawled twice at once"
    assert [r["id"] for r in records if r["status"] == "running"] == [], "every run closed"


def test_workers_0_schedules_while_a_separate_worker_crawls(tmp_path: Path, postgres_url: str) -> None:
    silent = Silent()
    port = closed_port()
    try:
        with NewsSite(fixtures=False) as site:
            site.add_article(synthetic_article(1))
            # Each run waits 8 s for a server that never answers: running whenever the test looks.
            hung = {"start_urls": [silent.url], "schedule": "every 2s",
                    "crawl": {"timeout": 8, "retries": 0, "obey_robots": False}}
            sources = {"live": feed_source(site, schedule="every 2s"), "hung": hung}
            config = write_config(tmp_path, sources, database=postgres_url,
                                  extra={"daemon": {"grace_period": 1, "metrics": f"127.0.0.1:{port}"}})
            with running_daemon(config, "--workers", "0") as daemon:
                wait_until("it to lead", lambda: role(daemon) == "leader", daemon=daemon)
                # Nobody takes the jobs yet: one run of each source waits, never more.
                wait_until("a run of each source queued",
                           lambda: {s: (r["queued"], r["running"]) for s, r in sources_json(config).items()}
                           == {"live": (1, 0), "hung": (1, 0)}, daemon=daemon)
                assert runs(config) == [], "nothing crawled without a worker"
                assert children(daemon.proc.pid) == set(), "no local worker"
                with newsmill_worker(config) as worker:
                    wait_until("the hung source's run taken by the worker",
                               lambda: sources_json(config)["hung"]["running"] == 1, daemon=daemon)
                    wait_until("runs of the live source done",
                               lambda: len([r for r in runs(config, "live") if r["status"] == "ok"]) >= 3,
                               daemon=daemon)
                    assert children(daemon.proc.pid) == set(), "still no local worker"
                    wait_until("the leader to hear of them",
                               lambda: len(daemon.events("run_finished", "live")) >= 3, daemon=daemon)
                    wait_until("the leader to count them in its metrics",
                               lambda: counted(port, "live", "ok") >= 3, daemon=daemon)
                    worker.terminate()
                    assert worker.wait(timeout=60) == 0
                assert daemon.stop() == 0
    finally:
        silent.close()
    assert overlaps(runs(config)) == []


def test_sighup_in_a_cluster_schedules_a_new_source_and_a_broken_config_changes_nothing(
    tmp_path: Path, postgres_url: str
) -> None:
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        config = write_config(tmp_path, {"first": feed_source(site, schedule="every 2s")},
                              database=postgres_url, extra={"daemon": {"grace_period": 2}})
        good = config.read_text(encoding="utf-8")
        with running_daemon(config) as daemon:
            wait_until("a run of the first source", lambda: finished(config, "first", "ok"), daemon=daemon)

            config.write_text(good.replace("every 2s", "every fortnight"), encoding="utf-8")
            daemon.send(signal.SIGHUP)
            refused = wait_until("the reload to be refused", lambda: daemon.events("reload_refused"),
                                 daemon=daemon)
            assert "first" in refused[0]["message"] and "schedule" in refused[0]["message"]
            assert len(daemon.events("worker_started")) == 1, "the workers kept"
            # Still scheduled, and crawled, as before.
            queued = len(daemon.events("run_queued", "first"))
            done = len(finished(config, "first", "ok"))
            wait_until("the first source to go on under the old config",
                       lambda: len(daemon.events("run_queued", "first")) > queued + 1
                       and len(finished(config, "first", "ok")) > done + 1, daemon=daemon)

            document = yaml.safe_load(good)
            document["sources"]["second"] = feed_source(site, schedule="every 1h")
            config.write_text(yaml.safe_dump(document), encoding="utf-8")
            daemon.send(signal.SIGHUP)
            reloaded = wait_until("the reload", lambda: daemon.events("reloaded"), daemon=daemon)
            assert reloaded[0]["added"] == "second"
            # The local worker is a fresh one that knows the new source.
            wait_until("a run of the new source", lambda: finished(config, "second", "ok"), daemon=daemon)
            assert len(daemon.events("worker_started")) == 2
            assert daemon.stop() == 0, daemon.log_text()
    assert overlaps(runs(config)) == []


def test_a_local_worker_leaves_the_cluster_when_its_newsmill_run_is_killed(
    tmp_path: Path, postgres_url: str
) -> None:
    config = write_config(tmp_path, {"s": {"feeds": ["http://127.0.0.1:9/feed.xml"], "schedule": "every 1h"}},
                          database=postgres_url, extra={"daemon": {"grace_period": 1}})
    with running_daemon(config) as daemon:
        wait_until("it to lead", lambda: role(daemon) == "leader", daemon=daemon)
        worker = wait_until("its worker in the cluster", lambda: registered(postgres_url), daemon=daemon)
        daemon.proc.send_signal(signal.SIGKILL)
        daemon.proc.wait()
        # It stops as on SIGTERM and signs off: not left for the others to find silent.
        wait_until("the worker to sign off", lambda: not registered(postgres_url))
        pid = worker.pop()
        wait_until("the worker to exit", lambda: not Path(f"/proc/{pid}").exists())


def test_a_leader_whose_connection_is_cut_stands_by_then_leads_again(
    tmp_path: Path, postgres_url: str
) -> None:
    from sqlalchemy import create_engine, text

    source = {"feeds": ["http://127.0.0.1:9/feed.xml"], "schedule": "every 1h"}
    config = write_config(tmp_path, {"s": source}, database=postgres_url)
    terminate = text("SELECT pg_terminate_backend(l.pid) FROM pg_locks l"
                     " JOIN pg_database d ON d.oid = l.database"
                     " WHERE l.locktype = 'advisory' AND d.datname = current_database()")
    with running_daemon(config, "--workers", "0") as daemon:
        wait_until("it to lead", lambda: role(daemon) == "leader", daemon=daemon)
        # The server ends the session holding the lock (a restart, a cut network would too).
        engine = create_engine(postgres_url)
        try:
            with engine.begin() as connection:
                cut = connection.execute(terminate).all()
        finally:
            engine.dispose()
        assert len(cut) == 1
        wait_until("it to stand by", lambda: role(daemon) == "standby", daemon=daemon)
        wait_until("it to lead again", lambda: role(daemon) == "leader", daemon=daemon)
        assert daemon.stop() == 0
    assert [e["role"] for e in daemon.events("role")] == ["leader", "standby", "leader"]


def test_the_leader_alerts_on_runs_its_workers_did(tmp_path: Path, postgres_url: str) -> None:
    from tests.receiver import Receiver

    with NewsSite(fixtures=False) as site, Receiver() as receiver:
        site.add_article(synthetic_article(1))
        sources = {"live": feed_source(site, schedule="every 2s"),
                   "dead": {"feeds": [f"http://127.0.0.1:{closed_port()}/feed.xml"], "schedule": "every 2s",
                            "crawl": {"retries": 0}}}
        alerts = [{"webhook": receiver.url("/news"), "on": ["articles"], "sources": ["live"]},
                  {"webhook": receiver.url("/health"), "on": ["health"], "sources": ["dead"]}]
        config = write_config(tmp_path, sources, database=postgres_url,
                              extra={"daemon": {"grace_period": 2}, "alerts": alerts})

        def posted(path: str) -> list[Any]:
            return receiver.received(path)

        def titles() -> list[str]:
            return [a["title"] for body in posted("/news") for a in body["articles"]]

        with running_daemon(config) as daemon:
            wait_until("the first article posted", lambda: len(titles()) == 1, daemon=daemon)
            site.add_article(synthetic_article(2))
            wait_until("the second article posted", lambda: len(titles()) == 2, daemon=daemon)
            wait_until("the dead source's health posted", lambda: posted("/health"), daemon=daemon)
            ok = len(finished(config, "live", "ok"))
            wait_until("more runs", lambda: len(finished(config, "live", "ok")) > ok + 2, daemon=daemon)
            assert daemon.stop() == 0
    assert len(titles()) == len(set(titles())) == 2, "each new article posted once"
    assert [(b["source"], b["status"]) for b in posted("/health")] == [("dead", "failing")]
