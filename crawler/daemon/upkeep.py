"""The run records' upkeep: now and then, those older than `daemon.keep_runs` go, but each
source's last run and last failure. Done by whoever schedules (the daemon, a cluster's
leader), in a thread of its own: a first pruning of a large table can take a while."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta

from crawler.daemon.logs import fields
from pipelines.storage.database import Store
from pipelines.storage.models import utcnow

log = logging.getLogger("newsmill.daemon")

PRUNE_EVERY = 3600.0  # seconds between prunings of the run records past daemon.keep_runs


class Pruner:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pruned_at = -PRUNE_EVERY
        self._thread: threading.Thread | None = None

    def maybe_prune(self, keep_runs: float) -> None:
        """Prune if the last pruning is an hour old and over; returns at once."""
        if time.monotonic() - self._pruned_at < PRUNE_EVERY:
            return
        if self._thread is not None and self._thread.is_alive():
            return
        self._pruned_at = time.monotonic()
        cutoff = utcnow() - timedelta(seconds=keep_runs)

        def prune() -> None:
            try:
                removed = self.store.prune_runs(cutoff)
            except Exception as exc:
                log.error("run records not pruned: %s", exc)
                return
            if removed:
                log.info(
                    "pruned %d run records started before %s", removed, cutoff.isoformat(timespec="seconds"),
                    extra=fields(event="runs_pruned", removed=removed),
                )

        self._thread = threading.Thread(target=prune, name="newsmill-prune", daemon=True)
        self._thread.start()
