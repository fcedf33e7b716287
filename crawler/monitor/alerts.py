"""config.yaml `alerts:` applied after a source's run: a health alert POSTs when the source's
status changes (and when it recovers), never once per run; an articles alert POSTs the new
articles that match it, in one batch. What an alert has told is kept in the database
(pipelines.storage.alerts), so that a restarted daemon neither repeats nor loses one."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.health import OK, Health
from crawler.config import AlertConfig
from crawler.monitor.webhooks import Webhooks
from pipelines.storage import alerts as marks
from pipelines.storage.database import Store
from pipelines.storage.models import Article

HEALTH, ARTICLES = "health", "articles"


def alert_key(alert: AlertConfig) -> str:
    """A stable name for an alert: the same alert in a later config keeps its marks; an
    alert changed (another webhook, other keywords) starts afresh."""
    spelled = repr((alert.webhook, sorted(alert.on), sorted(alert.sources), list(alert.match)))
    return hashlib.sha1(spelled.encode("utf-8")).hexdigest()[:16]


def _covers(alert: AlertConfig, kind: str, source: str) -> bool:
    return kind in alert.on and (not alert.sources or source in alert.sources)


def health_payload(health: Health, previous: str) -> dict[str, Any]:
    return {"event": "health", "previous": previous, **health.as_dict()}


def article_record(article: Article) -> dict[str, Any]:
    return {
        "id": article.id,
        "source": article.source,
        "url": article.url,
        "title": article.title,
        "published_at": article.published_at.isoformat() if article.published_at else None,
    }


class Alerts:
    def __init__(self, alerts: Sequence[AlertConfig], store: Store, webhooks: Webhooks) -> None:
        self.store = store
        self.webhooks = webhooks
        self.rules = [(alert, alert_key(alert), _compile(alert.match)) for alert in alerts]
        # What each health alert last announced, read once: the monitor is the one writer.
        self._announced: dict[tuple[str, str], str] = {}

    def health_changed(self, health: Health) -> None:
        """POST to each health alert of the source whose last word on it was another status."""
        for alert, key, _ in self.rules:
            if not _covers(alert, HEALTH, health.source):
                continue
            # Never told: as if told ok, so that a source that starts out ok says nothing.
            mark = (key, health.source)
            if mark not in self._announced:
                self._announced[mark] = marks.announced(self.store, key, health.source) or OK
            previous = self._announced[mark]
            if previous != health.status:
                self.webhooks.post(alert.webhook, HEALTH, health_payload(health, previous))
                marks.announce(self.store, key, health.source, health.status)
                self._announced[mark] = health.status

    def run_finished(self, source: str, run_started: datetime, new: int = 1) -> None:
        """POST the source's new articles that each articles alert matches, one batch a POST.
        A run that stored nothing (`new` 0) has nothing to tell, and costs no query."""
        if not new:
            return
        for alert, key, patterns in self.rules:
            if not _covers(alert, ARTICLES, source):
                continue
            while articles := marks.new_articles(self.store, key, source, run_started):
                found = [article_record(a) for a in articles if _matches(a, patterns)]
                if found:
                    payload = {
                        "event": "articles",
                        "source": source,
                        "match": list(alert.match),
                        "articles": found,
                    }
                    self.webhooks.post(alert.webhook, ARTICLES, payload)
                marks.considered(self.store, key, source, articles[-1].id)
                if len(articles) < marks.BATCH:
                    break


def _compile(match: Sequence[str]) -> list[re.Pattern[str]]:
    return [re.compile(pattern, re.IGNORECASE) for pattern in match]


def _matches(article: Article, patterns: Sequence[re.Pattern[str]]) -> bool:
    if not patterns:
        return True  # an articles alert without `match`: every new article
    fields = (article.title or "", article.description or "", article.text or "")
    return any(p.search(f) for p in patterns for f in fields)
