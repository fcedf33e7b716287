"""The read-only web view and its JSON API: one FastAPI app over the store.

`newsmill serve` (crawler/commands/serve.py) validates the config, the address and the token,
then runs create_app() under uvicorn. The app reads the store only through pipelines/ (search,
overview, exported); it writes nothing. Templates and the style sheet ship inside this package,
so the app works offline and behind firewalls: no CDN, no script.
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from common.health import Thresholds
from pipelines.storage.database import Store
from pipelines.storage.search import InvalidCursor, QuerySyntaxError
from web import api, pages
from web.render import templates

HERE = Path(__file__).resolve().parent
TOKEN_COOKIE = "newsmill_token"
# No script anywhere; pygal's SVG carries its own <style>, hence inline styles.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True)
class WebSettings:
    database: str  # SQLAlchemy URL
    schedules: dict[str, str] = field(default_factory=dict)  # configured source -> its schedule
    token: str | None = None  # required of every request when set
    thresholds: dict[str, Thresholds] = field(default_factory=dict)  # each source's `health:`


def create_app(settings: WebSettings) -> FastAPI:
    store = Store(settings.database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        store.close()

    app = FastAPI(
        lifespan=lifespan,
        title="newsmill",
        summary="The articles newsmill stored: search, one article as exported, sources, crawl runs.",
        version="1",
        # FastAPI's /docs and /redoc load their scripts from a CDN; /api documents the API
        # from the same OpenAPI document, served by the app itself.
        docs_url=None,
        redoc_url=None,
        openapi_url="/api/openapi.json",
    )
    app.state.settings = settings
    app.state.store = store
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(api.router)
    app.include_router(pages.router)

    _errors(app)
    if settings.token is not None:
        _require_token(app, settings.token)

    @app.middleware("http")
    async def _headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    return app


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api")


def _error(request: Request, status: int, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=status)
    return templates.TemplateResponse(
        request, "error.html", {"status": status, "message": message}, status_code=status
    )


def _errors(app: FastAPI) -> None:
    """Bad input is a 400 with a message saying what is wrong, as JSON under /api, else a page."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        problems = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
            problems.append(f"{where}: {error.get('msg', 'invalid')}")
        return _error(request, 400, "; ".join(problems) or "invalid request")

    @app.exception_handler(QuerySyntaxError)
    async def _query(request: Request, exc: QuerySyntaxError) -> Response:
        return _error(request, 400, f"cannot search for that: {exc}")

    @app.exception_handler(InvalidCursor)
    async def _cursor(request: Request, exc: InvalidCursor) -> Response:
        return _error(request, 400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))


def _require_token(app: FastAPI, token: str) -> None:
    """Every request shows the token: `Authorization: Bearer TOKEN`, or `?token=TOKEN` once in
    a browser, which then keeps it in a cookie (HttpOnly, SameSite=Strict)."""
    expected = token.encode()

    def matches(candidate: str | None) -> bool:
        return candidate is not None and hmac.compare_digest(candidate.encode(), expected)

    @app.middleware("http")
    async def _check(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        header = request.headers.get("authorization", "")
        bearer = header[7:] if header.lower().startswith("bearer ") else None
        if matches(bearer) or matches(request.cookies.get(TOKEN_COOKIE)):
            return await call_next(request)
        if matches(request.query_params.get("token")):
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
            redirect = RedirectResponse(target, status_code=303)
            redirect.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return redirect
        refused = _error(
            request,
            401,
            "a token is required: send `Authorization: Bearer TOKEN`, or open this page with ?token=TOKEN",
        )
        refused.headers["WWW-Authenticate"] = "Bearer"
        return refused
