"""The exported article record, design.md's contract: what `newsmill export` writes a line of
and what the web view's API answers for one article."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from pipelines.storage.models import Article, ArticleUrl

FIELDS = (
    "id",
    "source",
    "url",
    "title",
    "authors",
    "published_at",
    "language",
    "description",
    "image",
    "tags",
    "text",
    "first_seen_at",
    "fetched_at",
    "content_hash",
    "revision",  # 1 for the text first stored; each correction found by a recheck adds one
    "updated_at",  # when the latest revision was stored; null for revision 1
    "urls",  # the story's other URLs: copies and near-duplicates stored as aliases of it
)


def article_record(article: Article, urls: list[str] | None = None) -> dict[str, Any]:
    record: dict[str, Any] = {name: getattr(article, name) for name in FIELDS if name != "urls"}
    record["urls"] = list(urls or [])
    for name in ("published_at", "first_seen_at", "fetched_at", "updated_at"):
        value = record[name]
        record[name] = value.isoformat() if value else None
    record["authors"] = list(record["authors"] or [])
    record["tags"] = list(record["tags"] or [])
    return record


def load_record(engine: Engine, article_id: int) -> dict[str, Any] | None:
    """One article's record, with the other URLs it is known by; None if there is no such id."""
    with Session(engine) as session:
        article = session.get(Article, article_id)
        if article is None:
            return None
        urls = session.scalars(
            select(ArticleUrl.url)
            .where(ArticleUrl.article_id == article_id, ArticleUrl.url != article.url)
            .order_by(ArticleUrl.first_seen_at, ArticleUrl.url)
        )
        return article_record(article, list(urls))
