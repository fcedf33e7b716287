"""Webhook delivery off the crawl path: a thread and a bounded queue per webhook URL, so that
one that is down delays neither the crawls nor the other webhooks; retries with backoff by
urllib3's Retry. What could not be delivered is logged and counted, never raised."""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import urllib3
from urllib3.exceptions import HTTPError
from urllib3.util import Retry, Timeout

log = logging.getLogger("newsmill.alerts")

QUEUE_SIZE = 1000  # POSTs waiting per webhook; beyond, new ones are dropped (and counted)
TIMEOUT = Timeout(connect=5, read=10)


def default_retry() -> Retry:
    # 5 tries over about 15 s (backoff 1, 2, 4, 8 s), honouring a 429's or 503's Retry-After.
    return Retry(
        total=4,
        backoff_factor=1,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,  # POST too: a receiver that failed has not acted on it
        raise_on_status=False,
        respect_retry_after_header=True,
    )


Outcome = Callable[[str, bool], None]  # (kind, delivered)


class Webhooks:
    def __init__(self, outcome: Outcome, retry: Retry | None = None) -> None:
        self.outcome = outcome
        self.http = urllib3.PoolManager(retries=retry or default_retry(), timeout=TIMEOUT)
        self._queues: dict[str, queue.Queue[tuple[str, bytes] | None]] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._pending = 0  # queued or being delivered

    def post(self, url: str, kind: str, payload: dict[str, Any]) -> None:
        """Queue a JSON POST; returns at once."""
        body = json.dumps(payload, default=str).encode("utf-8")
        try:
            self._queue(url).put_nowait((kind, body))
        except queue.Full:
            log.error("webhook %s: %d POSTs waiting already; this %s alert is dropped", url, QUEUE_SIZE, kind)
            self.outcome(kind, False)
            return
        with self._lock:
            self._pending += 1

    def _queue(self, url: str) -> queue.Queue[tuple[str, bytes] | None]:
        with self._lock:
            found = self._queues.get(url)
            if found is None:
                found = self._queues[url] = queue.Queue(QUEUE_SIZE)
                thread = threading.Thread(
                    target=self._deliver, args=(url, found), name="webhook", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            return found

    def _deliver(self, url: str, waiting: queue.Queue[tuple[str, bytes] | None]) -> None:
        while (item := waiting.get()) is not None:
            kind, body = item
            try:
                response = self.http.request(
                    "POST", url, body=body, headers={"Content-Type": "application/json"}
                )
                delivered = 200 <= response.status < 300
                why = f"HTTP {response.status}"
            except HTTPError as exc:  # MaxRetryError and the like: retries are spent
                delivered, why = False, str(getattr(exc, "reason", None) or exc)
            if not delivered:
                log.error("webhook %s: %s alert not delivered after retries: %s", url, kind, why)
            with self._lock:
                self._pending -= 1
            self.outcome(kind, delivered)

    def close(self, timeout: float) -> int:
        """Deliver what is queued within `timeout` seconds; the number left undelivered."""
        with self._lock:
            queues, threads = list(self._queues.values()), list(self._threads)
        for waiting in queues:
            with contextlib.suppress(queue.Full):  # a full queue's thread stops with the process
                waiting.put_nowait(None)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            left = self._pending
        if left:
            log.error("%d webhook POST(s) not delivered: the daemon stopped before they could be", left)
        return left
