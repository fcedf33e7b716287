"""`newsmill run`'s own crawl workers in a cluster: `newsmill worker` child processes, started
at start-up, started again when one dies, stopped with the daemon.

Each is exactly what an operator would start on another machine, so a cluster's runs go
through one path wherever they land. A worker dies with its `newsmill run`: it gets SIGTERM
when its parent goes, however the parent went (PR_SET_PDEATHSIG, through a small launcher:
see _LAUNCHER), and stops as a worker does on SIGTERM: no new job, its running ones get the
grace period, then go back to the queue. Its output is logged again by the daemon, line by
line, in the daemon's log format.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from crawler.daemon.logs import fields

log = logging.getLogger("newsmill.daemon")
relay_log = logging.getLogger("newsmill.worker")

RESTART_FIRST, RESTART_MAX = 1.0, 60.0  # seconds between starts of a worker that keeps dying
STABLE_AFTER = 30.0  # seconds a worker must live for its death to count as isolated
STOP_SLACK = 15.0  # seconds past the grace period a stopping worker gets before SIGKILL

# The child: a small launcher, single-threaded, that gets SIGTERM when `newsmill run` dies
# (PR_SET_PDEATHSIG) and hands it on, once, to the worker it forked. A parent with threads
# sends that signal again as each of its threads exits, and a worker takes a second SIGTERM as
# "stop now"; the launcher sends one. The worker has the same death signal for the launcher.
# A parent already gone (it died between fork and prctl) means exit at once.
_LAUNCHER = """
import ctypes, os, signal, sys
def orphan_on(sig):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    return os.getppid() != parent
parent = int(sys.argv[1])
if orphan_on(signal.SIGTERM):
    sys.exit(0)
parent = os.getpid()
told = []
def hand_on(signum, frame):
    if not told:
        told.append(signum)
        os.kill(worker, signal.SIGTERM)
signal.signal(signal.SIGTERM, hand_on)
signal.signal(signal.SIGINT, signal.SIG_IGN)
worker = os.fork()
if worker == 0:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    if orphan_on(signal.SIGTERM):
        os._exit(0)
    os.execv(sys.argv[2], sys.argv[2:])
_, status = os.waitpid(worker, 0)
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""
_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (\S+): (.*)$")


@dataclass
class Child:
    process: subprocess.Popen[bytes]
    started: float  # monotonic
    relay: threading.Thread
    stopping: bool = False

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class LocalWorkers:
    """`count` `newsmill worker` processes for the config at `config_path`."""

    config_path: Path | None
    count: int
    grace_period: float
    children: list[Child | None] = field(default_factory=list)
    retiring: list[Child] = field(default_factory=list)  # told to stop, not gone yet
    _restart_at: dict[int, float] = field(default_factory=dict)
    _failures: dict[int, int] = field(default_factory=dict)
    _stopping: bool = False

    def start(self) -> None:
        """Start them (from the main thread: the children's death signal follows the thread
        that started them)."""
        self.children = [self._spawn(slot) for slot in range(self.count)]

    def pids(self) -> list[int]:
        return [c.pid for c in self.children if c is not None]

    def check(self) -> None:
        """About once a second, from the main thread: a worker that died is started again."""
        self.retiring = [c for c in self.retiring if c.process.poll() is None]
        if self._stopping:
            return
        now = time.monotonic()
        for slot, child in enumerate(self.children):
            if child is not None:
                code = child.process.poll()
                if code is None:
                    continue
                lived = now - child.started
                fails = self._failures.get(slot, 0) + 1 if lived < STABLE_AFTER else 1
                self._failures[slot] = fails
                pause = 0.0 if fails <= 1 else min(RESTART_FIRST * 2 ** (fails - 2), RESTART_MAX)
                log.error("crawl worker %d exited with status %s; starting another%s", child.pid, code,
                          f" in {pause:g}s" if pause else "",
                          extra=fields(event="worker_exited", pid=child.pid, code=code))
                self.children[slot] = None
                self._restart_at[slot] = now + pause
            if self.children[slot] is None and self._restart_at.get(slot, 0.0) <= now:
                self.children[slot] = self._spawn(slot)

    def renew(self) -> None:
        """A new config: fresh workers take the jobs from now on; the old ones finish theirs
        (as on SIGTERM) and leave."""
        old = [c for c in self.children if c is not None]
        for child in old:
            self._terminate(child)
        self.retiring.extend(old)
        self.start()

    def stop(self) -> None:
        """SIGTERM to every worker: no new job; the running ones get the grace period."""
        self._stopping = True
        for child in self._all():
            self._terminate(child)

    def wait(self, timeout: float) -> bool:
        """Whether every worker is gone within `timeout` seconds (polled: the main thread also
        reads signals)."""
        deadline = time.monotonic() + timeout
        while any(c.process.poll() is None for c in self._all()):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def kill(self, why: str) -> None:
        for child in self._all():
            if child.process.poll() is None:
                log.warning("killing crawl worker %d: %s", child.pid, why)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)  # the launcher and its worker
        for child in self._all():
            child.process.wait()
            child.relay.join(timeout=5)

    def stop_timeout(self) -> float:
        return self.grace_period + STOP_SLACK

    # -- one child ----------------------------------------------------------------------------

    def _all(self) -> list[Child]:
        return [c for c in self.children if c is not None] + self.retiring

    def _terminate(self, child: Child) -> None:
        child.stopping = True
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGTERM)

    def _spawn(self, slot: int) -> Child:
        config = ["--config", str(self.config_path)] if self.config_path else []
        command = [sys.executable, "-m", "crawler.cli", *config, "worker"]
        process = subprocess.Popen(
            [sys.executable, "-c", _LAUNCHER, str(os.getpid()), *command],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            # Its own session: a Ctrl-C at a terminal reaches the daemon, which stops it in order.
            start_new_session=True,
        )
        relay = threading.Thread(target=_relay, args=(process, slot), name=f"newsmill-worker-{slot}",
                                 daemon=True)
        relay.start()
        # pid: the launcher's, whose process group holds the worker too.
        log.info("crawl worker started", extra=fields(event="worker_started", pid=process.pid, slot=slot))
        return Child(process, time.monotonic(), relay)


def _relay(process: subprocess.Popen[bytes], slot: int) -> None:
    """The worker's output, each line logged again with its level and which local worker said it."""
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.decode("utf-8", errors="replace").rstrip()
        if not line:
            continue
        parsed = _LINE.match(line)
        if parsed:
            level, name, message = parsed.groups()
            relay_log.log(logging.getLevelNamesMapping()[level], message,
                          extra=fields(local_worker=slot, logger_name=name))
        else:  # something printed, a traceback's line
            relay_log.info(line, extra=fields(local_worker=slot))
    process.stdout.close()
