"""HTTP validators per URL: the ETag and Last-Modified a page last answered with.

Sent back as If-None-Match / If-Modified-Since, they let a feed, sitemap or listing page
that has not changed answer 304 with no body, so a re-crawl with nothing new costs a few
empty responses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pipelines.storage.database import Store
from pipelines.storage.models import Article, ArticleUrl, HttpValidator, url_hash, utcnow


@dataclass(frozen=True, slots=True)
class Validators:
    etag: str | None
    last_modified: str | None
    checked_at: datetime | None = None

    def __bool__(self) -> bool:
        return bool(self.etag or self.last_modified)


def lookup(store: Store, url: str) -> Validators | None:
    # Once per feed, sitemap or listing page of every poll: a plain query, not an ORM object.
    query = select(HttpValidator.etag, HttpValidator.last_modified, HttpValidator.checked_at).where(
        HttpValidator.url_hash == url_hash(url)
    )
    with store.engine.connect() as connection:
        row = connection.execute(query).first()
    return Validators(row.etag, row.last_modified, row.checked_at) if row else None


def save(store: Store, source: str, found: Mapping[str, Validators]) -> None:
    """Keep these URLs' validators, replacing older ones; one transaction."""
    if not found:
        return
    insert = store.insert()
    now = utcnow()
    rows: list[dict[str, Any]] = [
        {
            "url_hash": url_hash(url),
            "url": url,
            "source": source,
            "etag": v.etag,
            "last_modified": v.last_modified,
            "checked_at": v.checked_at or now,
        }
        for url, v in found.items()
    ]
    # Key order, as every batch write in the store: two crawls upserting the same URLs in
    # opposite orders would deadlock on PostgreSQL.
    rows.sort(key=lambda row: row["url_hash"])
    with store.sessions.begin() as session:
        for start in range(0, len(rows), 500):
            statement = insert(HttpValidator).values(rows[start : start + 500])
            session.execute(
                statement.on_conflict_do_update(
                    index_elements=["url_hash"],
                    set_={
                        "etag": statement.excluded.etag,
                        "last_modified": statement.excluded.last_modified,
                        "checked_at": statement.excluded.checked_at,
                        "source": statement.excluded.source,
                    },
                )
            )


def for_urls(store: Store, urls: Iterable[str]) -> dict[str, Validators]:
    """The validators kept for these URLs (those that have any)."""
    by_hash = {url_hash(u): u for u in urls}
    with store.sessions() as session:
        rows = session.scalars(select(HttpValidator).where(HttpValidator.url_hash.in_(list(by_hash))))
        return {by_hash[r.url_hash]: Validators(r.etag, r.last_modified, r.checked_at) for r in rows}


def for_rechecks(store: Store, source: str, since: datetime) -> list[tuple[str, Validators | None]]:
    """The source's articles first seen at or after `since`, newest first: each by its own URL,
    the one a recheck fetches (a correction is recognised there only), with the validators to
    ask "changed since?" with. Those its own URL answered with; else the ETag one of its other
    URLs answered with (the page it was first fetched by, a tracking variant of it): an entity
    tag names the page's content, whatever the URL, where a date would say nothing of it."""
    query = (
        select(Article.id, Article.url, ArticleUrl.url, HttpValidator.etag, HttpValidator.last_modified)
        .join(ArticleUrl, ArticleUrl.article_id == Article.id, isouter=True)
        .join(HttpValidator, HttpValidator.url_hash == ArticleUrl.url_hash, isouter=True)
        .where(Article.source == source, Article.first_seen_at >= since)
        .order_by(Article.first_seen_at.desc(), Article.id)
    )
    found: dict[int, tuple[str, Validators | None]] = {}
    with store.sessions() as session:
        for article_id, url, via, etag, last_modified in session.execute(query):
            own = via == url and bool(etag or last_modified)
            borrowed = via != url and bool(etag)
            kept = found.setdefault(article_id, (url, None))[1]
            if own:
                found[article_id] = (url, Validators(etag, last_modified))
            elif borrowed and kept is None:
                found[article_id] = (url, Validators(etag, None))
    return list(found.values())
