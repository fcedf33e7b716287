"""Alembic's environment for newsmill: always run in code by pipelines.storage.schema, on a connection
it hands over, so no alembic.ini and no working directory matter."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import Connection, create_engine

from pipelines.storage import jobqueue
from pipelines.storage.fulltext import is_index_table
from pipelines.storage.models import Base

config = context.config
target_metadata = Base.metadata


def _include_name(name: str | None, kind: str, _parents: Any) -> bool:
    # The full-text index lives outside the models (pipelines.storage.fulltext), and so does the
    # cluster's queue (procrastinate's, pipelines.storage.jobqueue): not for autogenerate.
    return not (kind == "table" and is_index_table(name)) and not jobqueue.is_queue_object(name)


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead, so the
        # same revision works on both dialects.
        render_as_batch=True,
        compare_type=True,
        include_name=_include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    # Only reached when someone runs the `alembic` tool by hand with -x url=... .
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: run migrations through `newsmill db upgrade`")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("newsmill migrations run online only: `newsmill db upgrade`")
run()
