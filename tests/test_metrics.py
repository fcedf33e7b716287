"""The metrics endpoint served for real on 127.0.0.1 and scraped over HTTP: a bearer token
when one is set, /healthz following the scheduler, reasons kept to a bounded set of labels.
The daemon's metrics as sites break and mend: tests/test_health_daemon.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from common.health import Run
from crawler.monitor.metrics import Metrics, MetricsServer, reason_label
from tests.scrape import get, scrape, value


def a_run(**fields: object) -> Run:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    values: dict[str, object] = {
        "id": 1,
        "source": "ledger",
        "trigger": "schedule",
        "status": "ok",
        "started_at": start,
        "finished_at": start + timedelta(seconds=42),
        "pages": 5,
        "new": 3,
        "duplicates": 2,
        "revised": 1,
        "skipped": {"already stored": 7, "no article text": 1},
        "errors": {"HTTP 403": 2, "ignored: http://x/a?b=1 said no": 1},
        "error": None,
    }
    values.update(fields)
    return Run(**values)  # type: ignore[arg-type]


def test_a_run_is_counted_under_bounded_labels() -> None:
    metrics = Metrics()
    scheduling = [True]
    server = MetricsServer(metrics, "127.0.0.1", 0, lambda: scheduling[0]).start()
    try:
        metrics.run(a_run())
        metrics.health_state("ledger", "degraded")
        found = scrape(server.address)
        assert value(found, "newsmill_runs_total", source="ledger", status="ok") == 1
        assert value(found, "newsmill_run_duration_seconds_sum", source="ledger") == 42
        assert value(found, "newsmill_pages_total", source="ledger") == 5
        assert value(found, "newsmill_articles_total", source="ledger", outcome="new") == 3
        assert value(found, "newsmill_articles_total", source="ledger", outcome="duplicate") == 1
        assert value(found, "newsmill_articles_total", source="ledger", outcome="revised") == 1
        assert value(found, "newsmill_skipped_total", source="ledger", reason="no article text") == 1
        assert value(found, "newsmill_errors_total", source="ledger", reason="HTTP 403") == 2
        assert value(found, "newsmill_errors_total", source="ledger", reason="other") == 1
        assert value(found, "newsmill_source_health", source="ledger") == 1
        assert value(found, "newsmill_last_success_timestamp_seconds", source="ledger") > 0
        assert get(f"http://{server.address}/healthz")[0] == 200
        scheduling[0] = False
        assert get(f"http://{server.address}/healthz")[0] == 503
    finally:
        server.stop()


def test_a_token_is_wanted_when_one_is_set() -> None:
    server = MetricsServer(Metrics(), "127.0.0.1", 0, lambda: True, token="s3cret").start()
    try:
        assert get(f"http://{server.address}/metrics")[0] == 401
        assert get(f"http://{server.address}/metrics", {"Authorization": "Bearer wrong"})[0] == 401
        assert (
            "newsmill_alerts_total"
            in get(f"http://{server.address}/metrics", {"Authorization": "Bearer s3cret"})[1]
        )
        assert get(f"http://{server.address}/healthz")[0] == 200, "a health check needs no token"
    finally:
        server.stop()


def test_reasons_with_urls_or_free_text_become_other() -> None:
    assert reason_label("HTTP 429") == "HTTP 429"
    assert reason_label("disallowed by robots.txt") == "disallowed by robots.txt"
    assert reason_label("unreachable: http://example.org/feed: timeout") == "other"
    assert reason_label("x" * 80) == "other"
