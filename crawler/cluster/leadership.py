"""Which `newsmill run` of a cluster schedules: the one holding the daemon lock.

The lock is a session-level advisory lock (crawler.locks): it lives as long as its holder's
connection. A leader killed in any way (kill -9 included) has its connection closed by its
kernel, and the server drops the lock at once; a leader whose machine vanished loses it when
the server's keepalive probes go unanswered (about 25 s). The others stand by and try the lock
every TRY_EVERY seconds, so one of them leads within TRY_EVERY seconds of the lock's release.
The leader checks its lock's connection every CHECK_EVERY seconds and stands by again when it
is gone (a server restart, a cut network): another may hold the lock by then.

Two leaders for a moment (one whose connection died unnoticed, one new) cost nothing worse than
a run queued twice, which the queue refuses: a source's run has a queueing lock.
"""

from __future__ import annotations

import logging
import threading

from crawler.locks import Lock, daemon_lock

log = logging.getLogger("newsmill.daemon")

TRY_EVERY = 5.0  # seconds between a standby's attempts at the lock
CHECK_EVERY = 5.0  # seconds between a leader's checks of its lock's connection


class Leadership:
    """Tries and holds the daemon lock on a thread of its own; `leading` says the outcome,
    and `changed` is set whenever it changes."""

    def __init__(self, database_url: str) -> None:
        self.lock: Lock = daemon_lock(database_url)
        self.changed = threading.Event()
        self._leading = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="newsmill-leadership", daemon=True)
        self._failing = False
        self._decided = False  # the first attempt has said which role this process has
        self._guard = threading.Lock()  # the lock is touched by this thread and step_down

    @property
    def leading(self) -> bool:
        return self._leading

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop trying; release the lock if held (another takes over within TRY_EVERY)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=CHECK_EVERY + 60)  # a check stuck on a dead network ends by keepalives
        with self._guard:
            self.lock.release()
        self._leading = False

    def step_down(self) -> None:
        """Stand by (this process cannot schedule after all); try again later."""
        with self._guard:
            self.lock.release()
            self._set(False)

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._guard:
                self._look()
            self._stop.wait(CHECK_EVERY if self._leading else TRY_EVERY)

    def _look(self) -> None:
        if self._leading:
            if self.lock.alive():
                return
            log.error("lost the scheduler's lock (its database connection is gone): standing by")
            self.lock.release()
            self._set(False)
            return
        try:
            got = self.lock.acquire()
        except Exception as exc:  # the database away: try again later
            if not self._failing:
                log.error("cannot reach the database to take the scheduler's lock: %s", exc)
            self._failing = True
            return
        if self._failing:
            log.info("the database answers again")
            self._failing = False
        if got and not self._stop.is_set():
            self._set(True)
        elif got:
            self.lock.release()
        elif not self._decided:
            self._set(False)

    def _set(self, leading: bool) -> None:
        self._decided = True
        self._leading = leading
        self.changed.set()
