"""A store filled by a real crawl of the fixture site, once per test module and database.

`crawled` is module-scoped and parametrised over SQLite and PostgreSQL: the read side's tests
(search, the web view, its API) read what `newsmill crawl` stored, as a user's would.
Import it into a test module: `from tests.crawled import Crawled, crawled`.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.conftest import blog_source, describe, ledger_source, run_newsmill, write_config
from tests.databases import _admin_engine, require_postgres
from tests.site.server import NewsSite, synthetic_article

__all__ = ["HOSTILE_TITLE", "Crawled", "crawled"]

# A story whose title and text are markup, as a hostile or careless page may give them: the
# read side must show them as text, never run or render them.
HOSTILE_TITLE = "<script>document.title='pwned'</script> Tide tables & <b>bold</b> claims"
HOSTILE_PARAGRAPH = "Harbourmasters posted <img src=x onerror=\"document.title='pwned'\"> notices."


@dataclass(frozen=True)
class Crawled:
    site: NewsSite
    config: Path
    database: str  # its SQLAlchemy URL
    dialect: str


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def crawled(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    directory = tmp_path_factory.mktemp(f"crawled-{request.param}")
    name = ""
    if request.param == "postgresql":
        admin = require_postgres()
        name = f"newsmill_test_{uuid.uuid4().hex[:12]}"
        engine = _admin_engine()
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        engine.dispose()
        database = admin.set(database=name).render_as_string(hide_password=False)
    else:
        database = f"sqlite:///{directory / 'news.db'}"
    try:
        with NewsSite() as site:
            story = synthetic_article(900)
            site.add_article(
                replace(story, title=HOSTILE_TITLE, paragraphs=(HOSTILE_PARAGRAPH, *story.paragraphs))
            )
            config = write_config(
                directory,
                {"ledger": ledger_source(site), "ledger-blog": blog_source(site)},
                database=database,
            )
            result = run_newsmill("crawl", "--all", config=config)
            assert result.returncode == 0, describe(result)
            yield Crawled(site, config, database, request.param)
    finally:
        if name:
            engine = _admin_engine()
            with engine.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            engine.dispose()
