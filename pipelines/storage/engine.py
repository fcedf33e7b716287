"""Engines for SQLite and PostgreSQL, set up for newsmill's writers: SQLite in WAL mode with a
busy timeout, so a second writer waits instead of failing; PostgreSQL with libpq keepalives, so a
server that stops answering fails a write within seconds instead of hanging the crawl."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

SQLITE_BUSY_TIMEOUT = 30.0  # seconds a SQLite connection waits for another's lock


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout makes a second writer wait for the lock instead of failing.
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT * 1000:.0f}")
    _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor: sqlite3.Cursor) -> None:
    """WAL lets readers (export, the daemon) run beside a writing crawl.

    WAL is stored in the file, so only a new database needs the switch. Two processes opening
    one new file at once can both try it; SQLite then answers "database is locked" at once,
    without waiting on its busy handler (waiting could deadlock), so the wait is here."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def make_engine(database_url: str, *, connections: int | None = None) -> Engine:
    """`connections`: how many the pool keeps for callers at once (SQLAlchemy's default, 5
    and 10 more on demand, unless told), for an engine many crawls share."""
    url = make_url(database_url)
    pool: dict[str, Any] = {"pool_size": connections, "max_overflow": 10} if connections else {}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT}, **pool)
        else:
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # libpq: a server that stops answering (rather than refusing) still fails a write within
    # seconds, so the store falls back to its buffer and spool instead of hanging the crawl.
    libpq = {"connect_timeout": 10, "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5}
    connect_args = libpq if url.get_backend_name() == "postgresql" else {}
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args, **pool)
