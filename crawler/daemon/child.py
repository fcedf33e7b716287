"""One crawl's process, seen from the daemon: start it, hear its log, stop it, kill it.

The crawl runs in a session (and so a process group) of its own: a Ctrl-C at the daemon's
terminal reaches only the daemon, which decides what its crawls get, and a kill takes the
crawl's extraction pool down with it instead of leaving orphans holding memory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable

from crawler.config import Config
from crawler.daemon import worker

TAIL_LINES = 20


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with status {code}"


class CrawlProcess:
    def __init__(self, source: str, popen: subprocess.Popen[bytes], on_line: Callable[[str], None]) -> None:
        self.source = source
        self.popen = popen
        self.pid = popen.pid
        self.started = time.monotonic()
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._on_line = on_line
        self._relay = threading.Thread(target=self._read_stderr, name=f"log-{source}", daemon=True)
        self._relay.start()

    @classmethod
    def spawn(
        cls, config: Config, source: str, *, log_level: str, on_line: Callable[[str], None]
    ) -> CrawlProcess:
        popen = subprocess.Popen(
            [sys.executable, "-m", worker.__name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            cwd=os.getcwd(),
        )
        child = cls(source, popen, on_line)
        assert popen.stdin is not None
        try:
            popen.stdin.write(worker.job(config, source, log_level=log_level))
            popen.stdin.close()
        except BrokenPipeError:  # it died at once; its exit status and stderr will say why
            pass
        return child

    @property
    def seconds(self) -> float:
        return time.monotonic() - self.started

    def wait(self, timeout: float | None) -> int | None:
        """The exit status, or None if it is still running after `timeout` seconds."""
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def terminate(self) -> None:
        """Ask the crawl to stop: Scrapy finishes what is in flight and records the run."""
        # Only the crawl's own process: the extraction pool must live to drain its queue.
        if self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def kill(self) -> None:
        """Stop it now, with everything it started."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, signal.SIGKILL)

    def finish(self) -> int:
        """Wait for the exit, clear away anything it left running, read its last words."""
        code = self.popen.wait()
        self.kill()  # pool workers that outlived their parent have nothing left to do
        self._relay.join(timeout=5)
        if self.popen.stderr is not None:
            self.popen.stderr.close()
        return code

    def _read_stderr(self) -> None:
        assert self.popen.stderr is not None
        for raw in self.popen.stderr:
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self.tail.append(line)
                self._on_line(line)
