"""The schema's revision: Alembic, run in code, so it works from an installed package in any cwd.

`prepare()` is what crawls call before touching the database: a new database is created at the
current revision, one at an older revision is refused with the command to run. `upgrade()` is
`newsmill db upgrade`. Both hold a lock while they look and migrate (a PostgreSQL advisory lock,
SQLite's write lock), so two crawls starting on one new database create it once.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError

from pipelines.storage import fulltext, jobqueue
from pipelines.storage.engine import make_engine
from pipelines.storage.models import Base

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
BASELINE = "0001"
# The newest migration. prepare() compares a database with it first, so that the usual crawl
# of an up-to-date database never loads Alembic (a quarter of a second of every crawl's
# start-up); tests/test_schema.py checks that it is Alembic's head.
HEAD = "0012"
UPGRADE_HINT = "run `newsmill db upgrade`"
# Alembic's record of the revision, as Alembic itself creates it.
_VERSION_TABLE = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)
# Any fixed 64-bit key: every newsmill process agrees on it, nothing else uses it.
_PG_LOCK_KEY = 0x6E65_7773_6D69_6C6C
# Errors that mean the server went away (or never answered), not that a statement was wrong.
_LOST = (OperationalError, InterfaceError)


class DatabaseError(Exception):
    """The database cannot be used; the message names it, never with its password."""


class DatabaseUnavailable(DatabaseError):
    pass


class SchemaOutdated(DatabaseError):
    pass


def safe_url(url: str | URL) -> str:
    return make_url(url).render_as_string(hide_password=True)


def describe(url: str | URL) -> str:
    """Which database, for a person: host and database name, never the password."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return f"SQLite database {parsed.database or ':memory:'}"
    where = parsed.host or "localhost"
    if parsed.port:
        where += f":{parsed.port}"
    user = f" as user {parsed.username!r}" if parsed.username else ""
    return f"database {parsed.database!r} on host {where}{user} ({safe_url(parsed)})"


def scrub(message: str, url: str | URL) -> str:
    """A driver's error text with the password taken out, in case the driver quoted it."""
    password = make_url(url).password
    if password:
        message = message.replace(str(password), "***")
    return message


def reason(exc: BaseException, url: str | URL) -> str:
    """One line on why a database call failed: the driver's words, without the password."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return scrub(first_line, url)


def unavailable(url: str | URL, exc: BaseException) -> DatabaseUnavailable:
    return DatabaseUnavailable(f"cannot connect to {describe(url)}: {reason(exc, url)}")


def alembic_config() -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head() -> str:
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the package always ships its baseline
        raise DatabaseError("no migrations found")
    return revision


def _migration_engine(url: str | URL) -> Engine:
    engine = make_engine(url if isinstance(url, str) else url.render_as_string(hide_password=False))
    if engine.dialect.name == "sqlite":
        # pysqlite runs DDL outside any transaction; take control so a migration is atomic
        # and BEGIN IMMEDIATE serialises two processes migrating one file.
        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Connection) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def _locked(url: str | URL) -> Iterator[Connection]:
    """A connection in a transaction that holds newsmill's migration lock."""
    try:
        engine = _migration_engine(url)
    except OSError as exc:  # a SQLite file whose directory cannot be made
        raise unavailable(url, exc) from None
    try:
        try:
            connection = engine.connect()
        except SQLAlchemyError as exc:
            raise unavailable(url, exc) from None
        with connection, connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
            yield connection
    finally:
        engine.dispose()


def _revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _has_tables(connection: Connection) -> bool:
    existing = set(inspect(connection).get_table_names())
    return bool(existing & set(Base.metadata.tables))


def _run(connection: Connection, action: str, revision: str) -> None:
    from alembic import command

    config = alembic_config()
    config.attributes["connection"] = connection
    getattr(command, action)(config, revision)


def _check(url: str | URL, revision: str | None) -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(alembic_config())
    target = head()
    if revision == target:
        return
    if revision is None:
        raise SchemaOutdated(
            f"{describe(url)} has newsmill's tables but no schema revision: {UPGRADE_HINT}"
        )
    try:
        script.get_revision(revision)
    except Exception:
        raise SchemaOutdated(
            f"{describe(url)} is at schema revision {revision}, which this newsmill does not know "
            f"(it knows up to {target}): it was upgraded by a newer newsmill; upgrade newsmill"
        ) from None
    raise SchemaOutdated(
        f"{describe(url)} is at schema revision {revision}, this newsmill needs {target}: {UPGRADE_HINT}"
    )


def prepare(url: str | URL) -> None:
    """Make sure the database can be used: create a new one at head, refuse an outdated one."""
    if _at_head(url):
        return
    try:
        with _locked(url) as connection:
            if _is_empty(connection):
                _create_at_head(connection)
                return
            _check(url, _revision(connection))
    except _LOST as exc:
        raise unavailable(url, exc) from None


def _is_empty(connection: Connection) -> bool:
    tables = set(inspect(connection).get_table_names())
    return _VERSION_TABLE.name not in tables and not tables & set(Base.metadata.tables)


def _create_at_head(connection: Connection) -> None:
    """A new database, made from the models and stamped HEAD, as Alembic's documentation
    advises: the same schema as the migrations build (tests/test_schema.py compares them),
    without loading Alembic and running every migration in turn on each new database."""
    Base.metadata.create_all(connection)
    fulltext.install(connection, backfill=False)  # not in the models: neither dialect's kind fits both
    jobqueue.install(connection)
    _VERSION_TABLE.create(connection)
    connection.execute(_VERSION_TABLE.insert().values(version_num=HEAD))


def _at_head(url: str | URL) -> bool:
    """Whether the database is at HEAD already, read without Alembic nor the migration lock.

    A server that cannot be reached is reported at once; any other doubt (no such table, a
    failed query) answers False, and prepare() takes the careful path, which says what is
    wrong."""
    try:
        engine = make_engine(url if isinstance(url, str) else url.render_as_string(hide_password=False))
    except OSError:  # a SQLite file whose directory cannot be made
        return False
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(_VERSION_TABLE.name):
                return False
            versions = connection.execute(select(_VERSION_TABLE.c.version_num)).scalars()
            return list(versions) == [HEAD]
    except _LOST as exc:
        raise unavailable(url, exc) from None
    except (SQLAlchemyError, OSError):
        return False
    finally:
        engine.dispose()


def current(url: str | URL) -> str | None:
    try:
        with _locked(url) as connection:
            return _revision(connection)
    except _LOST as exc:
        raise unavailable(url, exc) from None


def upgrade(url: str | URL, revision: str = "head") -> tuple[str | None, str | None]:
    """Migrate to `revision`; returns the revisions before and after."""
    try:
        with _locked(url) as connection:
            before = _revision(connection)
            if before is None and _has_tables(connection):
                # Made by create_all before newsmill had migrations: that schema is the baseline.
                _run(connection, "stamp", BASELINE)
            _run(connection, "upgrade", revision)
            return before, _revision(connection)
    except _LOST as exc:
        raise unavailable(url, exc) from None
