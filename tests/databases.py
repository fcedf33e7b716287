"""Real databases for tests: a SQLite file, or a fresh PostgreSQL database per test.

`database_url` runs a test once on each. The PostgreSQL server is the one at 127.0.0.1:5432
(override with NEWSMILL_TEST_POSTGRES, an admin URL); each test gets its own database,
created before and dropped after, so tests never see each other's rows. Without a
reachable server the PostgreSQL runs skip, with the reason in pytest's summary.

Import the fixtures into a test module (`from tests.databases import database_url`), or
list this module in conftest's `pytest_plugins`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import URL, make_url

__all__ = ["database_url", "postgres_url", "sqlite_url"]

POSTGRES_ENV = "NEWSMILL_TEST_POSTGRES"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

_unreachable: list[str] = []  # the reason, once found, so every test does not wait again


def postgres_admin_url() -> URL:
    return make_url(os.environ.get(POSTGRES_ENV) or POSTGRES_ADMIN)


def _admin_engine() -> Engine:
    return create_engine(
        postgres_admin_url(), isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5}
    )


def require_postgres() -> URL:
    """The admin URL, or skip the test saying why PostgreSQL cannot be used."""
    if _unreachable:
        pytest.skip(_unreachable[0])
    admin = postgres_admin_url()
    engine = _admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as exc:
        reason = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        _unreachable.append(
            f"PostgreSQL not reachable at {admin.render_as_string(hide_password=True)}: {reason}"
        )
        pytest.skip(_unreachable[0])
    finally:
        engine.dispose()
    return admin


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test alone; dropped afterwards."""
    admin = require_postgres()
    name = f"newsmill_test_{uuid.uuid4().hex[:12]}"
    engine = _admin_engine()
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin.set(database=name).render_as_string(hide_password=False)
        with engine.connect() as connection:
            # FORCE: a crawl subprocess the test killed may still hold a connection.
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'newsmill.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """The test's own empty database: once as a SQLite file, once on PostgreSQL."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))
