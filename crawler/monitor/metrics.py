"""Prometheus metrics of the daemon (prometheus_client), served with `/healthz` on
`daemon.metrics`. Labels are the source's name and, for skips and errors, a bounded reason:
URLs and free text never become label values."""

from __future__ import annotations

import contextlib
import hmac
import logging
import re
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from common.health import STATES, Run

log = logging.getLogger("newsmill.metrics")

# A reason is kept as a label when it is one of the short fixed phrases the crawl counts
# ("HTTP 403", "no article text", "timeout"); anything else (messages with URLs or numbers) is "other".
_BOUNDED_REASON = re.compile(r"HTTP \d{3}|[A-Za-z][A-Za-z .()-]{0,40}")
_DURATIONS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200)
_DELAYS = (0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900)


def reason_label(reason: str) -> str:
    return reason if _BOUNDED_REASON.fullmatch(reason) else "other"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter(
            "newsmill_runs", "Crawl runs finished, by source and status", ["source", "status"], registry=r
        )
        self.duration = Histogram(
            "newsmill_run_duration_seconds", "How long runs took", ["source"], buckets=_DURATIONS, registry=r
        )
        self.pages = Counter("newsmill_pages", "Article pages downloaded", ["source"], registry=r)
        self.articles = Counter(
            "newsmill_articles",
            "Articles by outcome: new, duplicate, revised",
            ["source", "outcome"],
            registry=r,
        )
        self.skipped = Counter(
            "newsmill_skipped", "Pages and URLs skipped, by reason", ["source", "reason"], registry=r
        )
        self.errors = Counter(
            "newsmill_errors", "Failed requests, by reason", ["source", "reason"], registry=r
        )
        self.delay = Histogram(
            "newsmill_run_delay_seconds",
            "From a run's due time to its start",
            ["source"],
            buckets=_DELAYS,
            registry=r,
        )
        self.last_success = Gauge(
            "newsmill_last_success_timestamp_seconds",
            "When the source's last ok run finished",
            ["source"],
            registry=r,
        )
        self.health = Gauge(
            "newsmill_source_health", "Source health: 0 ok, 1 degraded, 2 failing", ["source"], registry=r
        )
        self.alerts = Counter(
            "newsmill_alerts",
            "Webhook POSTs by kind and outcome (sent, failed)",
            ["kind", "outcome"],
            registry=r,
        )
        self.leader = Gauge(
            "newsmill_scheduler_leader",
            "1 while this process schedules the sources, 0 while it stands by (a cluster's other schedulers)",
            registry=r,
        )
        for kind in ("health", "articles"):
            for outcome in ("sent", "failed"):
                self.alerts.labels(
                    kind, outcome
                )  # present at 0 from the start: alerting rules can rate() them

    def run(self, run: Run) -> None:
        source = run.source
        self.runs.labels(source, run.status).inc()
        if run.finished_at and run.started_at:
            self.duration.labels(source).observe((run.finished_at - run.started_at).total_seconds())
        self.pages.labels(source).inc(run.pages or 0)
        duplicates = (run.duplicates or 0) - (run.revised or 0)
        for outcome, n in (("new", run.new), ("duplicate", duplicates), ("revised", run.revised)):
            self.articles.labels(source, outcome).inc(max(n or 0, 0))
        for counter, counts in ((self.skipped, run.skipped), (self.errors, run.errors)):
            for reason, n in (counts or {}).items():
                counter.labels(source, reason_label(reason)).inc(n)
        if run.status == "ok" and run.finished_at:
            self.last_success.labels(source).set(run.finished_at.timestamp())

    def started_late(self, source: str, due: datetime, started: datetime) -> None:
        self.delay.labels(source).observe(max((started - due).total_seconds(), 0.0))

    def health_state(self, source: str, status: str) -> None:
        self.health.labels(source).set(STATES.index(status))

    def last_success_at(self, source: str, finished: datetime) -> None:
        self.last_success.labels(source).set(finished.timestamp())

    def alert(self, kind: str, delivered: bool) -> None:
        self.alerts.labels(kind, "sent" if delivered else "failed").inc()

    def forget(self, sources: Iterable[str]) -> None:
        """Sources gone from the config: their gauges no longer claim a state."""
        for source in sources:
            for gauge in (self.health, self.last_success):
                with contextlib.suppress(KeyError):  # never set
                    gauge.remove(source)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every 15 s is not news


class MetricsServer:
    """`/metrics` (and any other path but `/healthz`) in Prometheus' text format; `/healthz`
    200 while `scheduling()` says so (its text, when it gives one: "standing by"), 503
    otherwise. With a token, `/metrics` wants `Authorization: Bearer TOKEN`."""

    def __init__(
        self, metrics: Metrics, host: str, port: int, scheduling: Callable[[], bool | str],
        token: str | None = None,
    ) -> None:
        exposition = make_wsgi_app(metrics.registry)
        expected = f"Bearer {token}".encode() if token else None

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if environ.get("PATH_INFO") == "/healthz":
                up = scheduling()
                start_response(
                    "200 OK" if up else "503 Service Unavailable", [("Content-Type", "text/plain")]
                )
                said = up if isinstance(up, str) else "scheduling" if up else "not scheduling"
                return [f"{said}\n".encode()]
            given = environ.get("HTTP_AUTHORIZATION", "").encode()
            if expected is not None and not hmac.compare_digest(given, expected):
                start_response(
                    "401 Unauthorized", [("WWW-Authenticate", "Bearer"), ("Content-Type", "text/plain")]
                )
                return [b"a bearer token is needed\n"]
            body: Iterable[bytes] = exposition(environ, start_response)
            return body

        self.server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_Quiet)
        self.thread = threading.Thread(target=self.server.serve_forever, name="metrics", daemon=True)

    @property
    def address(self) -> str:
        host, port = self.server.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> MetricsServer:
        self.thread.start()
        log.info("metrics on http://%s/metrics, health check on /healthz", self.address)
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()
