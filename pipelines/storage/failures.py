"""Article URLs that failed, and when each may be tried again.

A source crawled every few minutes for months meets the same broken links on every run: a
404, an empty page, a gallery that is not an article. Each is fetched once, then left alone
for a while that doubles with every failure: briefly for what may mend by itself (a 5xx, a
timeout), for hours to weeks for what will not (gone, not an article, too large).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from pipelines.storage.database import Store
from pipelines.storage.models import FailedUrl, url_hash, utcnow

# (first wait, longest wait)
TRANSIENT = (timedelta(minutes=15), timedelta(days=1))
PERMANENT = (timedelta(hours=6), timedelta(days=30))
_TRANSIENT_REASONS = (
    "HTTP 5",
    "HTTP 429",
    "HTTP 408",
    "timeout",
    "connection refused",
    "DNS lookup failed",
    "truncated response",
    "download failed",
    "extraction failed",
)
_CHUNK = 500


def is_transient(reason: str) -> bool:
    return reason.startswith(_TRANSIENT_REASONS)


def retry_delay(reason: str, failures: int) -> timedelta:
    first, longest = TRANSIENT if is_transient(reason) else PERMANENT
    return min(first * 2 ** min(failures - 1, 16), longest)


@dataclass(frozen=True, slots=True)
class Failure:
    url: str
    source: str
    reason: str


def waiting(store: Store, urls: Iterable[str], now: datetime | None = None) -> set[str]:
    """Which of these URLs failed before and are not to be tried again yet."""
    now = now or utcnow()
    by_hash = {url_hash(u): u for u in urls}
    keys = list(by_hash)
    found: set[str] = set()
    with store.sessions() as session:
        for start in range(0, len(keys), _CHUNK):
            rows = session.scalars(
                select(FailedUrl.url_hash).where(
                    FailedUrl.url_hash.in_(keys[start : start + _CHUNK]), FailedUrl.retry_after > now
                )
            )
            found.update(by_hash[h] for h in rows)
    return found


def record(store: Store, failures: Mapping[str, Failure]) -> None:
    """Count one more failure for each URL, in one transaction, and set its next try."""
    if not failures:
        return
    now = utcnow()
    by_hash = {url_hash(url): failure for url, failure in failures.items()}
    with store.sessions.begin() as session:
        known = {
            row.url_hash: row
            for start in range(0, len(by_hash), _CHUNK)
            for row in session.scalars(
                select(FailedUrl).where(FailedUrl.url_hash.in_(list(by_hash)[start : start + _CHUNK]))
            )
        }
        for key in sorted(by_hash):  # key order, so two crawls' flushes cannot deadlock
            failure = by_hash[key]
            row = known.get(key)
            if row is None:
                row = FailedUrl(url_hash=key, url=failure.url, source=failure.source, failures=0)
                session.add(row)
            row.failures += 1
            row.reason = failure.reason[:200]
            row.last_failed_at = now
            row.retry_after = now + retry_delay(failure.reason, row.failures)
