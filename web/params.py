"""Request parameters into typed filters, or a 400 that says which parameter is wrong and why."""

from __future__ import annotations

from fastapi import HTTPException, Request

from pipelines.storage.database import Store
from pipelines.storage.search import Filters, parse_date
from web.sources import is_known


def filters(
    request: Request,
    source: str | None,
    language: str | None,
    since: str | None,
    until: str | None,
) -> Filters:
    """Empty parameters count as absent (a form submits every field)."""
    source, language = source or None, (language or None)
    if source is not None and not is_known(request, source):
        raise HTTPException(400, f"source: no source is named {source!r}")
    try:
        start = parse_date(since) if since else None
    except ValueError as exc:
        raise HTTPException(400, f"since: {exc}") from None
    try:
        end = parse_date(until, end=True) if until else None
    except ValueError as exc:
        raise HTTPException(400, f"until: {exc}") from None
    if start and end and end <= start:
        raise HTTPException(400, "until: must be after since")
    return Filters(source=source, language=language, since=start, until=end)


def store(request: Request) -> Store:
    value: Store = request.app.state.store
    return value
