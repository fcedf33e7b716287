"""A crawl worker process, seen from the daemon: start it, send it jobs, hear its messages
and its log, stop it, kill it, and see it die.

Each worker runs in a session (and so a process group) of its own: a Ctrl-C at the daemon's
terminal reaches only the daemon, which decides what its workers get, and a kill takes the
worker's extraction pool down with it instead of leaving orphans holding memory. Jobs and
reports travel as pickled messages over a socket pair (multiprocessing.connection frames
them); the worker's stderr is its log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from crawler.daemon import worker as worker_module
from crawler.daemon.jobs import Init

TAIL_LINES = 20


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class WorkerProcess:
    """One worker. `on_message(worker, message)` and `on_exit(worker, code)` are called on
    the worker's reader thread; `on_line(line)` on its log thread."""

    def __init__(
        self,
        slot: int,
        popen: subprocess.Popen[bytes],
        conn: Connection,
        on_message: Callable[[WorkerProcess, tuple[Any, ...]], None],
        on_exit: Callable[[WorkerProcess, int], None],
        on_line: Callable[[str], None],
    ) -> None:
        self.slot = slot
        self.popen = popen
        self.pid = popen.pid
        self.conn = conn
        self.started = time.monotonic()
        self.ready = False
        self.retiring = False  # being replaced: takes no new jobs, exits once it has none
        self.stop_sent = False
        self.fatal: str | None = None  # why it could not crawl at all, as it said
        self.runs = 0  # runs it has finished
        self.code: int | None = None
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._send_lock = threading.Lock()
        self._on_message = on_message
        self._on_exit = on_exit
        self._on_line = on_line
        self._log = threading.Thread(target=self._read_log, name=f"worker-{self.pid}-log", daemon=True)
        self._reader = threading.Thread(target=self._read, name=f"worker-{self.pid}", daemon=True)

    @classmethod
    def spawn(
        cls,
        slot: int,
        init: Init,
        *,
        on_message: Callable[[WorkerProcess, tuple[Any, ...]], None],
        on_exit: Callable[[WorkerProcess, int], None],
        on_line: Callable[[str], None],
    ) -> WorkerProcess:
        ours, theirs = socket.socketpair()
        with theirs:
            popen = subprocess.Popen(
                [sys.executable, "-m", worker_module.__name__, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
                cwd=os.getcwd(),
            )
        worker = cls(slot, popen, Connection(ours.detach()), on_message, on_exit, on_line)
        worker.send("init", init)
        worker._log.start()
        worker._reader.start()
        return worker

    @property
    def alive(self) -> bool:
        return self.code is None

    def send(self, *message: Any) -> bool:
        """False if the worker is gone (its reader thread reports how)."""
        try:
            with self._send_lock:
                self.conn.send(message)
            return True
        except OSError:
            return False

    def stop(self) -> None:
        """Ask the worker to stop its runs (recorded "interrupted") and exit."""
        self.stop_sent = True
        self.send("stop")

    def kill(self) -> None:
        """Stop it now, with everything it started (its extraction pool)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def memory_mib(self) -> float:
        """The worker's resident memory (not its extraction pool's), 0 if it is gone."""
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return 0.0

    def wait(self, timeout: float | None) -> bool:
        """Whether it has exited (and been reported) within `timeout` seconds."""
        self._reader.join(timeout)
        return not self._reader.is_alive()

    def _read(self) -> None:
        while True:
            try:
                message = self.conn.recv()  # from our own child: trusted input
            except (EOFError, OSError):
                break
            if message[0] == "ready":
                self.ready = True
            elif message[0] == "fatal":
                self.fatal = str(message[1])
            self._on_message(self, message)
        code = self.popen.wait()
        self.kill()  # pool workers that outlived their parent have nothing left to do
        self._log.join(timeout=5)
        self.conn.close()
        if self.popen.stderr is not None:
            self.popen.stderr.close()
        self.code = code
        self._on_exit(self, code)

    def _read_log(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.tail.append(line)
                self._on_line(line)
