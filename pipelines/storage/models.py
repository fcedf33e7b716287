"""The data model: articles, every URL an article is known by, and crawl-run records."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, also on SQLite, which keeps no time zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def url_hash(url: str) -> str:
    """A fixed-width key for a URL: indexes stay small and no URL is too long to index."""
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


class Base(DeclarativeBase):
    # Named constraints: Alembic revisions can then drop or alter them on both dialects.
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        list[str]: JSON,
        dict[str, int]: JSON,
    }


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200), index=True)
    url: Mapped[str] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(Text)
    authors: Mapped[list[str]] = mapped_column(default=list)
    published_at: Mapped[datetime | None]
    language: Mapped[str | None] = mapped_column(String(20))
    description: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(default=list)
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)
    revision: Mapped[int] = mapped_column(default=1, server_default="1")  # 1 for the first version
    updated_at: Mapped[datetime | None]  # when the latest revision replaced the one before

    __table_args__ = (Index("ix_articles_first_seen_at", "first_seen_at"),)


# Listing the latest articles, and search's date filters, go by this: the publication date, or
# when the article was first seen if its page gave none (pipelines.storage.search). Migration 0007.
Index("ix_articles_dated", func.coalesce(Article.published_at, Article.first_seen_at), Article.id)
# The latest articles of one source, a range of this (migration 0012). The plain index on
# source stays: SQLite filters a search's matches by source with it, looking up (source, id)
# in it rather than reading each match's row.
Index(
    "ix_articles_source_dated",
    Article.source,
    func.coalesce(Article.published_at, Article.first_seen_at),
    Article.id,
)


class ArticleUrl(Base):
    """Every canonical URL an article was reached by: its own, and those of its copies."""

    __tablename__ = "article_urls"

    url_hash: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    source: Mapped[str] = mapped_column(String(200))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class ArticleRevision(Base):
    """A version of an article's text that a later re-fetch superseded; the latest lives in
    `articles`, so an article never corrected costs no second copy of its text."""

    __tablename__ = "article_revisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"), index=True)
    revision: Mapped[int]
    text: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    fetched_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("article_id", "revision"),)


class FingerprintBand(Base):
    """One LSH bucket of an article's near-duplicate fingerprint (common.fingerprint):
    candidates for a new text are the articles sharing any of its buckets, an index lookup."""

    __tablename__ = "fingerprint_bands"

    bucket: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class HttpValidator(Base):
    """The ETag / Last-Modified a URL last answered with, sent back on the next visit."""

    __tablename__ = "http_validators"

    url_hash: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), index=True)
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class FailedUrl(Base):
    """An article URL that failed, and when it may be tried again: a page that is gone or is
    not an article is not fetched again on every run of a source crawled every few minutes."""

    __tablename__ = "failed_urls"

    url_hash: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(200), index=True)
    reason: Mapped[str] = mapped_column(String(200))
    failures: Mapped[int] = mapped_column(default=1)
    last_failed_at: Mapped[datetime] = mapped_column(default=utcnow)
    retry_after: Mapped[datetime]


class CrawlRun(Base):
    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    trigger: Mapped[str] = mapped_column(String(20))  # schedule | cli
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="running")
    pages: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[dict[str, int]] = mapped_column(default=dict)
    errors: Mapped[dict[str, int]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    # Among the duplicates: stored articles whose text had changed, kept as a new revision.
    # Last, where migration 0004 added it.
    revised: Mapped[int] = mapped_column(default=0, server_default="0")
    # What extraction made of the run's article pages (pipelines.stats.extraction), for
    # source health; None for runs recorded before migration 0006 and runs that died early.
    extraction: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # Who ran the crawl, "host:pid" (migration 0011): the daemon's crawl worker process, a
    # cluster's `newsmill worker`, or the one-off `newsmill crawl`; None for older runs.
    worker: Mapped[str | None] = mapped_column(String(120))

    # A daemon polling 200 sources every 30 s records over half a million runs a day (migration
    # 0008): a source's latest runs, its run left open, and the runs past keep_runs (pruning)
    # are each found by an index.
    __table_args__ = (
        Index("ix_crawl_runs_source_id", "source", "id"),
        Index("ix_crawl_runs_source_status", "source", "status"),
        Index("ix_crawl_runs_started_at", "started_at"),
    )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "trigger": self.trigger,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "status": self.status,
            "pages": self.pages,
            "new": self.new,
            "duplicates": self.duplicates,
            "revised": self.revised,
            "skipped": dict(self.skipped or {}),
            "errors": dict(self.errors or {}),
            "error": self.error,
            "extraction": self.extraction,
            "worker": self.worker,
        }


class BackfillPart(Base):
    """One part of a source's backfill: a sitemap listing articles (a child of a sitemap
    index, a news sitemap), crawled on its own and marked done, so a backfill of years of
    sitemaps resumes where it stopped and can be spread over a cluster's workers."""

    __tablename__ = "backfill_parts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(200))
    # The dates asked for, as "SINCE..UNTIL" (ISO dates, either side empty): the same sitemap
    # backfilled for another range is another part.
    window: Mapped[str] = mapped_column(String(60))
    url_hash: Mapped[str] = mapped_column(String(40))
    url: Mapped[str] = mapped_column(Text)
    lastmod: Mapped[datetime | None]  # as the sitemap index gave it
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending running done failed
    attempts: Mapped[int] = mapped_column(default=0)
    pages: Mapped[int] = mapped_column(default=0)
    new: Mapped[int] = mapped_column(default=0)
    duplicates: Mapped[int] = mapped_column(default=0)
    errors: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(200))  # host:pid that crawled it last
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("source", "window", "url_hash", name="uq_backfill_parts_part"),
        Index("ix_backfill_parts_source_status", "source", "status"),
    )


class AlertMark(Base):
    """What an alert has told so far: the health status it last announced for a source, or
    the newest of a source's articles it has considered. In the database, so that a restarted
    daemon neither repeats an alert nor loses one."""

    __tablename__ = "alert_marks"

    alert: Mapped[str] = mapped_column(String(64), primary_key=True)  # a hash of the alert's config
    source: Mapped[str] = mapped_column(String(200), primary_key=True)
    status: Mapped[str | None] = mapped_column(String(20))
    article_id: Mapped[int | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ClusterWorker(Base):
    """Who a cluster worker is (procrastinate's own record has an id and a heartbeat only):
    `newsmill workers` names each live worker by host and pid."""

    __tablename__ = "cluster_workers"

    worker_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
