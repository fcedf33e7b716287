"""What the web view shows about sources: articles stored, articles per day, how often each
metadata field is filled. Read-only queries, the same on SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Engine, String, case, cast, func, literal_column, select

from pipelines.storage.models import Article

# The metadata fields a page may or may not give, in the exported record's order.
FILLED_FIELDS = ("title", "authors", "published_at", "language", "description", "image", "tags")


@dataclass(frozen=True, slots=True)
class SourceTotals:
    articles: int
    newest: datetime | None  # the latest publication date (else first seen) among its articles
    last_stored: datetime | None  # when its latest article was first seen


def _dated() -> ColumnElement[datetime]:
    return func.coalesce(Article.published_at, Article.first_seen_at)


def _day(engine: Engine) -> ColumnElement[str]:
    """An article's date as YYYY-MM-DD (UTC)."""
    if engine.dialect.name == "sqlite":
        # Stored as UTC text, 'YYYY-MM-DD HH:MM:SS...' (pipelines.models.UTCDateTime).
        return func.substr(cast(_dated(), String), 1, 10)
    return func.to_char(_dated().op("AT TIME ZONE")(literal_column("'UTC'")), "YYYY-MM-DD")


def totals(engine: Engine) -> dict[str, SourceTotals]:
    statement = select(
        Article.source, func.count(), func.max(_dated()), func.max(Article.first_seen_at)
    ).group_by(Article.source)
    with engine.connect() as connection:
        rows = connection.execute(statement).all()
    return {source: SourceTotals(n, _aware(newest), _aware(last)) for source, n, newest, last in rows}


def _aware(value: Any) -> datetime | None:
    """max() over a SQLite column comes back as text, untouched by the column's type."""
    if value is None or isinstance(value, datetime):
        return value
    from datetime import UTC

    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def per_day(
    engine: Engine, days: int, source: str | None = None, *, at_least: int = 14
) -> dict[str, list[tuple[date, int]]]:
    """Articles per day for each source (or one), over at most `days` days that end on the
    day of the latest article among them (a source that went quiet shows its last active
    weeks, then the gap up to the others' latest day), and no further back than the oldest
    article but for `at_least` days."""
    day = _day(engine).label("day")
    span = select(func.min(_dated()), func.max(_dated()))
    if source is not None:
        span = span.where(Article.source == source)
    with engine.connect() as connection:
        oldest, newest = (_aware(v) for v in connection.execute(span).one())
        if oldest is None or newest is None:
            return {}
        last = newest.date()
        days = max(min(days, (last - oldest.date()).days + 1), at_least)
        first = last - timedelta(days=days - 1)
        statement = (
            select(Article.source, day, func.count())
            .where(_dated() >= datetime(first.year, first.month, first.day, tzinfo=newest.tzinfo))
            .group_by(Article.source, day)
        )
        if source is not None:
            statement = statement.where(Article.source == source)
        counts: dict[str, dict[date, int]] = {}
        for name, label, n in connection.execute(statement):
            counts.setdefault(name, {})[date.fromisoformat(label)] = n
    every = [first + timedelta(days=i) for i in range(days)]
    return {name: [(d, by_day.get(d, 0)) for d in every] for name, by_day in sorted(counts.items())}


def fill_rates(engine: Engine, source: str) -> dict[str, float]:
    """The share of the source's articles that have each metadata field (0 to 1)."""

    def filled(name: str) -> Any:
        column = getattr(Article, name)
        present: ColumnElement[bool]
        if name in ("authors", "tags"):  # JSON lists: '[]' when the page named none
            present = cast(column, String).not_in(["[]", "null"])
        elif name == "published_at":
            present = column.is_not(None)
        else:
            present = func.coalesce(column, "") != ""
        return func.sum(case((present, 1), else_=0))

    statement = select(func.count(), *(filled(name) for name in FILLED_FIELDS)).where(
        Article.source == source
    )
    with engine.connect() as connection:
        total, *values = connection.execute(statement).one()
    if not total:
        return dict.fromkeys(FILLED_FIELDS, 0.0)
    return {name: int(v or 0) / total for name, v in zip(FILLED_FIELDS, values, strict=True)}


def languages(engine: Engine) -> list[str]:
    statement = select(Article.language).where(Article.language.is_not(None)).distinct()
    with engine.connect() as connection:
        return sorted(connection.scalars(statement))
