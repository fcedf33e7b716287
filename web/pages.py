"""The HTML pages: search and the latest articles, one article, the sources, the runs, the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import HTMLResponse

from pipelines.storage import history, overview
from pipelines.storage import search as searching
from pipelines.storage.exported import load_record
from web import charts, params
from web.render import templates
from web.sources import is_known, languages, summaries

router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

PER_PAGE = 20
SPARK_DAYS = 30
SOURCE_DAYS = 90


def _page(request: Request, name: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, context)


@router.get("/")
def index(
    request: Request,
    q: Annotated[str, Query(max_length=500)] = "",
    source: Annotated[str, Query(max_length=200)] = "",
    language: Annotated[str, Query(max_length=20)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> HTMLResponse:
    filters = params.filters(request, source, language, since, until)
    engine = params.store(request).engine
    total = None
    if q.strip():
        page = searching.search(engine, q, filters, limit=PER_PAGE, cursor=cursor)
        total = searching.count(engine, q, filters)
    else:
        page = searching.latest(engine, filters, limit=PER_PAGE, cursor=cursor)
    form = {"q": q, "source": source, "language": language, "since": since, "until": until}
    following = None
    if page.next:
        following = request.url.include_query_params(cursor=page.next)
    return _page(
        request,
        "index.html",
        form=form,
        hits=page.hits,
        total=total,
        following=str(following) if following else None,
        sources=sorted(request.app.state.settings.schedules) or sorted(overview.totals(engine)),
        languages=languages(request),
    )


@router.get("/articles/{article_id}")
def article(request: Request, article_id: Annotated[int, Path(ge=1)]) -> HTMLResponse:
    store = params.store(request)
    record = load_record(store.engine, article_id)
    if record is None:
        raise HTTPException(404, f"no article has the id {article_id}")
    found = history.history(store, record["url"])
    versions = found.versions if found else []
    diffs = [(old.revision, new.revision, lines) for old, new, lines in (found.diffs() if found else [])]
    return _page(request, "article.html", article=record, versions=versions, diffs=diffs)


@router.get("/sources")
def sources(request: Request) -> HTMLResponse:
    found = summaries(request)
    engine = params.store(request).engine
    days = overview.per_day(engine, SPARK_DAYS)
    sparks = {name: charts.per_day(counts, width=220, height=48) for name, counts in days.items()}
    return _page(
        request,
        "sources.html",
        sources=found,
        sparks=sparks,
        with_health=any(s.health is not None for s in found),
        days=SPARK_DAYS,
    )


@router.get("/sources/{name}")
def source(request: Request, name: Annotated[str, Path(max_length=200)]) -> HTMLResponse:
    if not is_known(request, name):
        raise HTTPException(404, f"no source is named {name!r}")
    (summary,) = summaries(request, runs_each=30, only=name)
    engine = params.store(request).engine
    days = overview.per_day(engine, SOURCE_DAYS, source=name).get(name)
    oldest_first = list(reversed(summary.runs))
    runs_chart = None
    if oldest_first:
        runs_chart = charts.runs(
            [r.started_at.strftime("%m-%d %H:%M") for r in oldest_first],
            {
                "pages": [r.pages for r in oldest_first],
                "new": [r.new for r in oldest_first],
                "errors": [sum((r.errors or {}).values()) for r in oldest_first],
            },
        )
    return _page(
        request,
        "source.html",
        source=summary,
        per_day=charts.per_day(days, title="articles per day, by publication date") if days else None,
        fill=charts.fill_rates(overview.fill_rates(engine, name)) if summary.totals.articles else None,
        runs_chart=runs_chart,
    )


@router.get("/runs")
def runs(
    request: Request,
    source: Annotated[str, Query(max_length=200)] = "",
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> HTMLResponse:
    if source and not is_known(request, source):
        raise HTTPException(400, f"source: no source is named {source!r}")
    found = params.store(request).runs(source=source or None, limit=limit)
    return _page(request, "runs.html", runs=[r.as_dict() for r in found], source=source, limit=limit)


@router.get("/api")
def api_page(request: Request) -> HTMLResponse:
    """The API's reference, rendered from the app's own OpenAPI document."""
    document = request.app.openapi()
    endpoints = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            endpoints.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "required": p.get("required", False),
                            "description": p.get("description", ""),
                            "type": p.get("schema", {}).get("type")
                            or " | ".join(s.get("type", "") for s in p.get("schema", {}).get("anyOf", [])),
                        }
                        for p in operation.get("parameters", [])
                    ],
                }
            )
    return _page(request, "api.html", endpoints=endpoints)
