"""Signals for a long-running process: taken by the main thread from a self-pipe, outside
any handler.

A handler that did the work itself could run in the middle of a lock-holding call and
deadlock the process; here handlers do nothing, signal.set_wakeup_fd writes each signal's
number to a pipe, and the main loop reads them when it waits.
"""

from __future__ import annotations

import os
import select
import signal
from typing import Any

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
HANDLED = (*STOP_SIGNALS, signal.SIGHUP)


class SignalPipe:
    """Installed by `open()`, undone by `close()`; `read(timeout)` waits for signals."""

    def __init__(self) -> None:
        self._read_end = self._write_end = -1
        self._previous: dict[signal.Signals, Any] = {}

    def open(self) -> SignalPipe:
        self._read_end, self._write_end = os.pipe()
        os.set_blocking(self._write_end, False)
        signal.set_wakeup_fd(self._write_end, warn_on_full_buffer=False)
        self._previous = {s: signal.signal(s, _ignore) for s in HANDLED}
        return self

    def close(self) -> None:
        signal.set_wakeup_fd(-1)
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        os.close(self._read_end)
        os.close(self._write_end)

    def read(self, timeout: float | None) -> list[int]:
        """The signals that came within `timeout` seconds (none: an empty list)."""
        ready, _, _ = select.select([self._read_end], [], [], timeout)
        return list(os.read(self._read_end, 64)) if ready else []


def _ignore(_signum: int, _frame: Any) -> None:
    """The work happens in the main loop, which the wakeup fd wakes."""
