"""Webhook delivery against a real local receiver (tests/receiver.py): retries with backoff,
a webhook that is down or hangs counted and never waited for; the `alerts:` config keys.
Alerts sent by the daemon as sites break and mend: tests/test_health_daemon.py."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from urllib3.util import Retry

from crawler.monitor.webhooks import Webhooks
from tests.conftest import closed_port, describe, run_newsmill, write_config
from tests.daemontools import Silent, wait_until
from tests.databases import *  # noqa: F403  (the database fixtures)
from tests.receiver import Receiver
from tests.site.server import NewsSite


def quick_retry() -> Retry:
    # The default's shape (webhooks.default_retry), with backoff in hundredths of a second.
    return Retry(
        total=3,
        backoff_factor=0.01,
        status_forcelist=(429, 500, 502, 503, 504),
        allowed_methods=None,
        raise_on_status=False,
    )


class Outcomes:
    def __init__(self) -> None:
        self.seen: list[tuple[str, bool]] = []
        self.lock = threading.Lock()

    def __call__(self, kind: str, delivered: bool) -> None:
        with self.lock:
            self.seen.append((kind, delivered))


def test_a_webhook_that_fails_at_first_gets_the_post_once_it_answers() -> None:
    outcomes = Outcomes()
    with Receiver() as receiver:
        receiver.statuses.extend([503, 500])
        hooks = Webhooks(outcomes, quick_retry())
        hooks.post(receiver.url(), "health", {"source": "a", "status": "failing"})
        wait_until("the delivery's outcome", lambda: outcomes.seen)
        assert hooks.close(5) == 0
    assert outcomes.seen == [("health", True)]
    assert [p.status for p in receiver.posts] == [503, 500, 200], "retried until it answered"
    assert receiver.received() == [{"source": "a", "status": "failing"}]


def test_a_webhook_that_is_down_is_counted_as_failed_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    outcomes = Outcomes()
    hooks = Webhooks(outcomes, quick_retry())
    for _ in range(2):
        hooks.post(f"http://127.0.0.1:{closed_port()}/hook", "articles", {"articles": []})
    wait_until("both deliveries to give up", lambda: len(outcomes.seen) == 2)
    assert outcomes.seen == [("articles", False)] * 2
    assert "not delivered after retries" in caplog.text


def test_a_hung_webhook_never_holds_up_the_caller_nor_another_webhook() -> None:
    outcomes = Outcomes()
    hung = Silent()
    try:
        with Receiver() as receiver:
            hooks = Webhooks(outcomes, quick_retry())
            hooks.post(hung.url, "health", {"n": 1})  # its thread waits for an answer that never comes
            hooks.post(receiver.url(), "health", {"n": 2})
            wait_until("the live webhook's POST", lambda: receiver.received())
            assert outcomes.seen == [("health", True)], "the hung one is still pending, the other went"
            assert hooks.close(0.2) == 1, "counted as undelivered when the daemon stops"
    finally:
        hung.close()


# -- config -----------------------------------------------------------------------------------


def alerts_config(tmp_path: Path, site: NewsSite, alerts: Any, daemon: Any = None) -> Path:
    extra: dict[str, Any] = {"alerts": alerts}
    if daemon is not None:
        extra["daemon"] = daemon
    return write_config(tmp_path, {"ledger": {"feeds": [site.url_for("/feed.xml")]}}, extra=extra)


def test_alerts_and_metrics_keys_are_read(tmp_path: Path, site: NewsSite) -> None:
    from crawler.config import load_config

    config = load_config(
        alerts_config(
            tmp_path,
            site,
            [
                {"webhook": "http://127.0.0.1:8080/hook", "on": ["health"]},
                {
                    "webhook": "http://127.0.0.1:8080/news",
                    "on": ["articles"],
                    "sources": ["ledger"],
                    "match": ["climate", "elections?"],
                },
            ],
            daemon={"metrics": "127.0.0.1:9410"},
        )
    )
    assert [a.on for a in config.alerts] == [["health"], ["articles"]]
    assert config.alerts[1].match == ["climate", "elections?"]
    assert config.daemon.metrics == "127.0.0.1:9410"


@pytest.mark.parametrize(
    ("alerts", "daemon", "message"),
    [
        (
            [{"webhook": "http://h/x", "on": ["health"], "bogus": 1}],
            None,
            "alerts[0], key 'bogus': unknown key",
        ),
        ([{"webhook": "http://h/x", "on": ["mail"]}], None, "alerts[0], key 'on[0]'"),
        ([{"webhook": "http://h/x", "on": []}], None, "alerts[0], key 'on'"),
        ([{"webhook": "h/x", "on": ["health"]}], None, "alerts[0], key 'webhook'"),
        (
            [{"webhook": "http://h/x", "on": ["articles"], "sources": ["nope"]}],
            None,
            "alerts[0], key 'sources': no source named 'nope'",
        ),
        ([{"webhook": "http://h/x", "on": ["articles"], "match": ["("]}], None, "alerts[0], key 'match'"),
        ([{"webhook": "http://h/x", "on": ["health"], "match": ["x"]}], None, "only an alert on [articles]"),
        ({"webhook": "http://h/x"}, None, "alerts: must be a list"),
        ([], {"metrics": "9410"}, "daemon, key 'metrics'"),
        ([], {"metrics": "0.0.0.0:9410"}, "set daemon.metrics_token"),
    ],
)
def test_bad_alerts_and_metrics_keys_are_refused(
    tmp_path: Path, site: NewsSite, alerts: Any, daemon: Any, message: str
) -> None:
    result = run_newsmill("health", config=alerts_config(tmp_path, site, alerts, daemon))
    assert result.returncode == 2, describe(result)
    assert message in result.stderr, result.stderr


# -- alerts on each database ------------------------------------------------------------------


def _record_run(store: Any, source: str, status: str, error: str | None = None) -> Any:
    from pipelines.storage.models import CrawlRun, utcnow

    with store.sessions.begin() as session:
        run = CrawlRun(source=source, trigger="schedule", started_at=utcnow(), finished_at=utcnow(),
                       status=status, error=error, pages=0, new=0, duplicates=0, skipped={}, errors={})
        session.add(run)
    return run


def _store_article(store: Any, source: str, n: int, title: str) -> None:
    from pipelines.storage.models import Article

    with store.sessions.begin() as session:
        session.add(Article(source=source, url=f"https://example.org/{n}", title=title, text="Body text.",
                            content_hash=f"{source}-{n}"))


def test_an_alert_tells_each_change_once_and_each_new_article_once(database_url: str) -> None:
    from common.health import Thresholds
    from crawler.config import AlertConfig
    from crawler.monitor.alerts import Alerts
    from pipelines.storage.database import Store
    from pipelines.storage.health import source_health

    store = Store(database_url)
    store.create_schema()
    outcomes = Outcomes()
    try:
        with Receiver() as receiver:
            hooks = Webhooks(outcomes, quick_retry())
            rules = [AlertConfig(webhook=receiver.url("/health"), on=["health"]),
                     AlertConfig(webhook=receiver.url("/news"), on=["articles"], match=["climate"])]

            def after_run(run: Any) -> None:
                # What the daemon's monitor does after each run, here on this test's thread.
                alerts = Alerts(rules, store, hooks)  # anew each time: as after a restart
                alerts.health_changed(source_health(store, "s", Thresholds(failing_after=2)))
                alerts.run_finished("s", run.started_at)

            after_run(_record_run(store, "s", "ok"))
            for _ in range(4):
                after_run(_record_run(store, "s", "failed", "HTTP 403 on every seed"))
            run = _record_run(store, "s", "ok")
            _store_article(store, "s", 1, "Climate talks resume")
            _store_article(store, "s", 2, "Local elections")
            _store_article(store, "s", 3, "A CLIMATE of fear")
            after_run(run)
            after_run(_record_run(store, "s", "ok"))  # nothing new: no POST
            wait_until("every POST delivered", lambda: len(outcomes.seen) == 3)
            health = [(b["previous"], b["status"]) for b in receiver.received("/health")]
            assert health == [("ok", "failing"), ("failing", "ok")]
            [batch] = receiver.received("/news")
            assert [a["title"] for a in batch["articles"]] == ["Climate talks resume", "A CLIMATE of fear"]
            hooks.close(5)
    finally:
        store.close()
