"""Locks that hold across processes: one crawl of a source at a time, one daemon per database.

The daemon's crawls and `newsmill crawl` are separate processes, possibly on separate
machines when the database is PostgreSQL, so the lock lives where they all meet:
- PostgreSQL: a session-level advisory lock, held by a connection of its own; the server
  drops it when the holder's connection goes, so a killed crawl never leaves it behind. The
  server probes that connection (TCP keepalives, SERVER_KEEPALIVES): a holder whose machine
  vanished without closing it loses the lock within about 25 s.
- SQLite (and anything else): an flock()ed file in the state directory beside the database
  file; the kernel drops it when the holder's process dies, however it dies.
Neither needs a table, so there is nothing to migrate and nothing to clean up.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import IO, Self

from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

from pipelines.storage.engine import make_engine
from pipelines.storage.models import utcnow

# The server's side of the lock's connection (per session, any user may set them): probed
# after 10 s of silence, every 5 s, given up after 3 unanswered probes.
SERVER_KEEPALIVES = {"tcp_keepalives_idle": "10", "tcp_keepalives_interval": "5", "tcp_keepalives_count": "3"}


def state_dir(database_url: str) -> Path:
    """Where newsmill keeps lock files and the daemon's status for this database.

    Beside an SQLite file (`data/newsmill.db` -> `data/newsmill.db.run/`), so everyone using
    that file agrees on it; for a server database, a per-URL directory under the temp dir.
    """
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database)
        return path.parent.resolve() / f"{path.name}.run"
    key = hashlib.sha1(url.render_as_string(hide_password=True).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"newsmill-{key}"


def _file_name(name: str) -> str:
    # Source names are free text in config.yaml; the hash keeps two names that clean up
    # alike ("a/b", "a_b") from sharing a lock.
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name)[:80]
    return f"{cleaned}-{hashlib.sha1(name.encode()).hexdigest()[:8]}.lock"


class Lock:
    """A non-blocking, cross-process lock named `name` for one database."""

    def __init__(self, database_url: str, name: str, *, engine: Engine | None = None) -> None:
        """`engine`: on PostgreSQL, a pool to take the lock's connection from (a crawl worker's,
        which takes a lock for every run) instead of a connection of its own."""
        self.name = name
        self.database_url = database_url
        self._postgres = make_url(database_url).get_backend_name() == "postgresql"
        self.path = state_dir(database_url) / "locks" / _file_name(name)
        self._key = int.from_bytes(hashlib.sha1(f"newsmill:{name}".encode()).digest()[:8], "big", signed=True)
        self._file: IO[str] | None = None
        self._pool = engine if self._postgres else None
        self._engine: Engine | None = None
        self._connection: Connection | None = None

    @property
    def held(self) -> bool:
        return self._file is not None or self._connection is not None

    def acquire(self) -> bool:
        """Take the lock if nobody holds it; False at once if somebody does."""
        if self.held:
            return True
        return self._acquire_postgres() if self._postgres else self._acquire_file()

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the descriptor drops the flock
            self._file = None
        if self._connection is not None:
            if self._pool is not None:
                self._unlock_pooled(self._connection)
            else:
                self._connection.close()  # the advisory lock is the session's; it ends here
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def alive(self) -> bool:
        """Whether a held lock is still held: on PostgreSQL, its connection still answers (a
        server restart or a network cut ends the session, and the lock with it)."""
        if self._file is not None:
            return True
        if self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except Exception:
            return False
        return True

    def holder(self) -> str:
        """Who holds the lock, as far as can be told: for messages only."""
        if self._postgres:
            return "another process"
        try:
            text_ = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            text_ = ""
        return text_ or "another process"

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.release()

    # -- implementations -------------------------------------------------------------------

    def _acquire_file(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held while locked
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        # The file outlives its holders; its text names the current one for `holder()`.
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()} since {utcnow():%Y-%m-%d %H:%M:%S} UTC\n")
        handle.flush()
        self._file = handle
        return True

    def _acquire_postgres(self) -> bool:
        if self._pool is None:
            self._engine = make_engine(self.database_url)
        query = text("SELECT pg_try_advisory_lock(:key)")
        if self._pool is None:  # a connection of its own: the server probes it (a pool's are reused)
            settings = ", ".join(f"set_config('{k}', '{v}', false)" for k, v in SERVER_KEEPALIVES.items())
            query = text(f"SELECT pg_try_advisory_lock(:key), {settings}")
        try:
            connection = (self._pool or self._engine).connect()  # type: ignore[union-attr]
            got = bool(connection.execute(query, {"key": self._key}).scalar())
            connection.commit()
        except Exception:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            raise
        if not got:
            connection.close()
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None
            return False
        self._connection = connection
        return True

    def _unlock_pooled(self, connection: Connection) -> None:
        # The connection goes back to the pool and lives on: the lock must be let go of first.
        # A connection that cannot say so is thrown away, and the lock goes with its session.
        try:
            connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self._key})
            connection.commit()
        except Exception:
            connection.invalidate()
        finally:
            connection.close()


def source_lock(database_url: str, source: str, *, engine: Engine | None = None) -> Lock:
    """Held by whichever process is crawling `source` right now."""
    return Lock(database_url, f"source:{source}", engine=engine)


def daemon_lock(database_url: str) -> Lock:
    """Held by the one daemon scheduling crawls into this database (on PostgreSQL, the
    cluster's leader)."""
    return Lock(database_url, "daemon")
