"""The per-source lock across real processes, on SQLite (a file lock) and PostgreSQL
(an advisory lock): held means held for everyone else, and a holder's death frees it."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from crawler.locks import source_lock
from tests.conftest import ROOT
from tests.databases import database_url, postgres_url, sqlite_url  # noqa: F401 - fixtures

HOLD = """
import sys, time
from crawler.locks import source_lock
lock = source_lock(sys.argv[1], sys.argv[2])
print("held" if lock.acquire() else "busy", flush=True)
time.sleep(600)  # the holder lives until the test kills it
"""


@pytest.fixture
def holder(database_url: str) -> Iterator[subprocess.Popen[str]]:  # noqa: F811
    """Another process holding the lock of source "news"."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, database_url, "news"], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    try:
        assert proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def test_a_held_source_lock_is_refused_to_other_processes(
    database_url: str,  # noqa: F811
    holder: subprocess.Popen[str],
) -> None:
    lock = source_lock(database_url, "news")
    assert not lock.acquire()
    other = source_lock(database_url, "other-source")
    assert other.acquire(), "another source's lock is free"
    other.release()


def test_a_source_lock_is_freed_when_its_holder_is_killed(
    database_url: str,  # noqa: F811
    holder: subprocess.Popen[str],
) -> None:
    lock = source_lock(database_url, "news")
    assert not lock.acquire()
    holder.kill()  # SIGKILL: no chance to release anything itself
    holder.wait()
    deadline = time.monotonic() + 30
    while not lock.acquire():
        assert time.monotonic() < deadline, "the lock outlived its holder"
        time.sleep(0.1)
    lock.release()


def test_a_released_source_lock_can_be_taken_again(database_url: str) -> None:  # noqa: F811
    first, second = source_lock(database_url, "news"), source_lock(database_url, "news")
    assert first.acquire()
    assert not second.acquire(), "held within one process too"
    first.release()
    assert second.acquire()
    second.release()


def test_a_pooled_source_lock_is_let_go_before_its_connection_is_reused(
    database_url: str,  # noqa: F811
) -> None:
    from pipelines.storage.engine import make_engine

    engine = make_engine(database_url, connections=1)  # one connection, reused by every lock
    try:
        pooled, other = source_lock(database_url, "news", engine=engine), source_lock(database_url, "news")
        assert pooled.acquire()
        assert not other.acquire(), "held for a lock with a connection of its own"
        pooled.release()
        assert other.acquire(), "released, though its connection lives on in the pool"
        again = source_lock(database_url, "news", engine=engine)
        assert not again.acquire(), "the pool's connection holds nothing of the earlier lock"
        other.release()
        assert again.acquire()
        again.release()
    finally:
        engine.dispose()
