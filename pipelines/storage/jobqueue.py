"""The cluster's job queue lives in PostgreSQL beside the articles: procrastinate's tables and
functions, installed by migration 0009 (and with a new database's schema), never on SQLite.

procrastinate's own schema file is applied as it ships with the pinned version: its tables are
procrastinate's to define, and they stay out of newsmill's models (Alembic's comparison of the
models with a database leaves them aside, see is_queue_object).
"""

from __future__ import annotations

from sqlalchemy import Connection, inspect

PREFIX = "procrastinate_"


def is_queue_object(name: str | None) -> bool:
    return bool(name and name.startswith(PREFIX))


def install(connection: Connection) -> bool:
    """Create procrastinate's schema on a PostgreSQL database that has none; True if it did."""
    if connection.dialect.name != "postgresql":
        return False
    if inspect(connection).has_table(PREFIX + "jobs"):
        return False
    from procrastinate.schema import SchemaManager

    # Its file holds many statements and function bodies: sent as one simple query, as
    # procrastinate's own applier does, on the caller's transaction.
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(SchemaManager.get_schema())
    finally:
        cursor.close()
    return True
