"""The dates a backfill asks for, and which sitemaps and entries they rule out before a fetch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta


def parse_day(text: str) -> date:
    """A date given on the command line: YYYY-MM-DD (a full ISO timestamp is cut to its day)."""
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise ValueError(f"{text!r} is not a date (YYYY-MM-DD)") from None


@dataclass(frozen=True, slots=True)
class Window:
    """From `since` to `until`, both days included; either end may be open."""

    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        if self.since and self.until and self.since > self.until:
            raise ValueError(f"--since {self.since} is after --until {self.until}")

    @property
    def key(self) -> str:
        """How the window is recorded beside its parts: "2024-01-01..2024-06-30", "..2024-06-30"."""
        return f"{self.since or ''}..{self.until or ''}"

    @classmethod
    def from_key(cls, key: str) -> Window:
        since, _, until = key.partition("..")
        return cls(parse_day(since) if since else None, parse_day(until) if until else None)

    def describe(self) -> str:
        if not self.since and not self.until:
            return "all dates"
        if not self.until:
            return f"since {self.since}"
        if not self.since:
            return f"until {self.until}"
        return f"{self.since} to {self.until}"

    def _start(self) -> datetime | None:
        return datetime.combine(self.since, time(), UTC) if self.since else None

    def _end(self) -> datetime | None:
        return datetime.combine(self.until + timedelta(days=1), time(), UTC) if self.until else None

    def holds(self, published: datetime | None) -> bool:
        """Whether an article of that date is wanted; an undated one may be, so it is."""
        if published is None:
            return True
        start, end = self._start(), self._end()
        return (start is None or published >= start) and (end is None or published < end)

    def changed_since_start(self, lastmod: datetime | None) -> bool:
        """Whether a sitemap last changed at `lastmod` may list articles of the window: one
        last changed before the window starts lists only older articles. Its lastmod says
        nothing about how old its oldest entry is, so the window's end rules none out."""
        start = self._start()
        return lastmod is None or start is None or lastmod >= start
