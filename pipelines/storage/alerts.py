"""What alerts remember between runs and restarts (alert_marks): the health status an alert
last announced for a source, and the newest of a source's articles it has considered."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from pipelines.storage.database import Store
from pipelines.storage.models import AlertMark, Article, utcnow

BATCH = 500  # articles read at a time


def announced(store: Store, alert: str, source: str) -> str | None:
    """The status `alert` last announced for `source`; None if it never did."""
    with store.sessions() as session:
        mark = session.get(AlertMark, (alert, source))
        return mark.status if mark else None


def announce(store: Store, alert: str, source: str, status: str) -> None:
    with store.sessions.begin() as session:
        mark = session.get(AlertMark, (alert, source)) or AlertMark(alert=alert, source=source)
        mark.status = status
        mark.updated_at = utcnow()
        session.add(mark)


def new_articles(store: Store, alert: str, source: str, run_started: datetime) -> list[Article]:
    """The source's articles `alert` has not considered yet, oldest first, at most BATCH.

    A source runs once at a time and its run has finished when this is asked: its articles
    are all committed, in id order, so an id mark misses none. An alert that has no mark yet
    starts at the run that has just finished: no flood of history."""
    with store.sessions() as session:
        mark = session.get(AlertMark, (alert, source))
        if mark is not None and mark.article_id is not None:
            after = mark.article_id
        else:
            before_run = select(func.max(Article.id)).where(
                Article.source == source, Article.first_seen_at < run_started
            )
            after = session.scalar(before_run) or 0
        query = (
            select(Article)
            .where(Article.source == source, Article.id > after)
            .order_by(Article.id)
            .limit(BATCH)
        )
        return list(session.scalars(query))


def considered(store: Store, alert: str, source: str, article_id: int) -> None:
    """`alert` has considered the source's articles up to `article_id`."""
    with store.sessions.begin() as session:
        mark = session.get(AlertMark, (alert, source)) or AlertMark(alert=alert, source=source)
        mark.article_id = max(article_id, mark.article_id or 0)
        mark.updated_at = utcnow()
        session.add(mark)
