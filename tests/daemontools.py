"""Driving the daemon in tests: `python scheduler.py` started and stopped as a process,
its run records and log lines read back, every wait a poll with a deadline."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import ARTICLE_PATTERNS, ROOT, cli_env, describe, run_newsmill, write_config
from tests.site.server import NewsSite

DEADLINE = 120.0  # seconds for a state the daemon is expected to reach
EXIT_DEADLINE = 10.0  # seconds from SIGTERM to exit, as the acceptance test allows


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
        for event in self.events_quietly("run_started") + self.events_quietly("worker_started"):
            with suppress(ProcessLookupError, PermissionError):
                # Crawls, and a cluster's local workers, run in groups of their own.
                os.killpg(int(event["pid"]), signal.SIGKILL)

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
def running_daemon(config: Path, *args: str, log_name: str = "daemon.log",
                   env: Mapping[str, str] | None = None) -> Iterator[Daemon]:
    """`python scheduler.py --config CONFIG --log-format json ARGS...`, its log in `log_name`
    beside the config; `env`: added to the daemon's environment (its crawl workers inherit it)."""
    log_path = config.parent / log_name
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "scheduler.py", "--config", str(config), "--log-format", "json", *args],
            cwd=ROOT,
            env={**cli_env(), **(env or {})},
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
    from pipelines.storage.database import Store

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


@contextmanager
def daemon_in_a_hung_crawl(directory: Path, source: str, schedule: str) -> Iterator[tuple[Path, Daemon]]:
    """The daemon with one source, a server that accepts and never answers, once that source's
    crawl has recorded its run as running: it stays open until stopped (its timeout is far off).
    Yields the config and the daemon."""
    silent = Silent()
    crawl = {"timeout": 300, "retries": 0, "obey_robots": False}
    sources = {source: {"start_urls": [silent.url], "schedule": schedule, "crawl": crawl}}
    config = write_config(directory, sources, extra={"daemon": {"grace_period": 1}})
    try:
        with running_daemon(config) as daemon:
            wait_until(
                f"the {source} crawl to open its run",
                lambda: [r for r in runs(config, source) if r["status"] == "running"],
                daemon=daemon,
            )
            yield config, daemon
    finally:
        silent.close()
