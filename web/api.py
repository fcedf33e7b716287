"""The JSON API under /api: articles (searched or latest), one article as exported, sources,
crawl runs. Documented by the OpenAPI document at /api/openapi.json and the page at /api."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request

from pipelines.storage import search as searching
from pipelines.storage.exported import load_record
from web import params
from web.sources import is_known, summaries

router = APIRouter(prefix="/api", tags=["api"])


@router.get("/articles", summary="Articles: searched (q) or the latest, a page at a time")
def articles(
    request: Request,
    q: Annotated[
        str | None,
        Query(max_length=500, description='search query: words, "a phrase", prefix*, a OR b, -word'),
    ] = None,
    source: Annotated[str | None, Query(max_length=200, description="only this source's articles")] = None,
    language: Annotated[str | None, Query(max_length=20, description="only this language, e.g. en")] = None,
    since: Annotated[
        str | None, Query(description="published (else first seen) on or after: 2024-03-05 or ISO 8601")
    ] = None,
    until: Annotated[str | None, Query(description="published on or before (a bare day includes it)")] = None,
    limit: Annotated[int, Query(ge=1, le=searching.MAX_LIMIT, description="articles per page")] = 20,
    cursor: Annotated[str | None, Query(max_length=500, description="`next` of the page before")] = None,
) -> dict[str, Any]:
    """`articles`: each with id, source, url, title, published_at, first_seen_at, language, and
    when searched a `snippet` (HTML: the text escaped, the matches in `<mark>`), best match
    first; else newest first. `next`: the cursor of the following page, null on the last."""
    filters = params.filters(request, source, language, since, until)
    engine = params.store(request).engine
    if q:
        page = searching.search(engine, q, filters, limit=limit, cursor=cursor)
    else:
        page = searching.latest(engine, filters, limit=limit, cursor=cursor)
    return {"articles": [hit.as_dict() for hit in page.hits], "next": page.next}


@router.get("/articles/{article_id}", summary="One article, as `newsmill export` writes it")
def article(
    request: Request, article_id: Annotated[int, Path(ge=1, description="the article's id")]
) -> dict[str, Any]:
    record = load_record(params.store(request).engine, article_id)
    if record is None:
        raise HTTPException(404, f"no article has the id {article_id}")
    return record


@router.get("/sources", summary="Sources: configured or stored, with totals and the last run")
def sources(request: Request) -> dict[str, Any]:
    return {"sources": [s.as_dict() for s in summaries(request, runs_each=1)]}


@router.get("/runs", summary="Crawl runs, newest first")
def runs(
    request: Request,
    source: Annotated[str | None, Query(max_length=200, description="only this source's runs")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many runs")] = 50,
) -> dict[str, Any]:
    if source and not is_known(request, source):
        raise HTTPException(400, f"source: no source is named {source!r}")
    found = params.store(request).runs(source=source or None, limit=limit)
    return {"runs": [run.as_dict() for run in found]}
