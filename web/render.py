"""The Jinja2 environment of the HTML pages: autoescaping on (a title `<script>` shows as text),
and the filters the templates use."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from pipelines.storage.search import snippet_html

templates = Jinja2Templates(
    env=Environment(
        loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=StrictUndefined,
    )
)


def when(value: datetime | str | None, with_time: bool = True) -> str:
    """A moment in UTC, to the minute; '-' for none."""
    if value is None:
        return "-"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.strftime("%Y-%m-%d %H:%M UTC" if with_time else "%Y-%m-%d")


def marked(snippet: str | None) -> Markup:
    """A search snippet: its text escaped, the matches in <mark>."""
    return Markup(snippet_html(snippet or ""))


templates.env.filters["when"] = when
templates.env.filters["marked"] = marked
