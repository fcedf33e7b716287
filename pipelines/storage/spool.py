"""Articles that could not reach the database, kept on local disk until it is back.

One JSON-lines file per crawl process: a header naming the database (never its password),
then one article a line. Every write is flushed and fsynced, so a spooled article survives
kill -9; a half-written last line is skipped on replay. The writer holds a lock on its file
while the crawl runs, so a replay started elsewhere leaves that file alone.

Replaying is safe to repeat: the store's unique constraints make an article already stored
a duplicate, never a second copy.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipelines.storage.database import Store
from pipelines.storage.records import ArticleRecord

if TYPE_CHECKING:
    from filelock import FileLock

log = logging.getLogger(__name__)

FORMAT = 1
SUFFIX = ".jsonl"
# The fingerprint is a cache of the text's shingles: the store makes it again on replay.
_FIELDS = {f.name for f in dataclasses.fields(ArticleRecord)} - {"fingerprint"}


def database_key(database_url: str) -> str:
    """Which database a spool file belongs to: its URL without the password."""
    from pipelines.storage.schema import safe_url

    return safe_url(database_url)


def encode(record: ArticleRecord) -> str:
    data: dict[str, Any] = {}
    dates: list[str] = []
    for name in _FIELDS:
        value = getattr(record, name)
        if isinstance(value, datetime):
            value = value.isoformat()
            dates.append(name)
        data[name] = value
    data["_dates"] = sorted(dates)
    return json.dumps(data, ensure_ascii=False, sort_keys=True)


def decode(line: str) -> ArticleRecord:
    return _record(json.loads(line))


def _record(data: dict[str, Any]) -> ArticleRecord:
    for name in data.pop("_dates", []):
        data[name] = datetime.fromisoformat(data[name])
    return ArticleRecord(**{k: v for k, v in data.items() if k in _FIELDS})


def _lock(path: Path) -> FileLock:
    # Imported at the first spool file: most crawls never write or find one, and the import
    # would sit before their first request.
    from filelock import FileLock

    return FileLock(str(path) + ".lock")


def write_entries(directory: Path, database_url: str, label: str, entries: Sequence[dict[str, Any]]) -> Path:
    """A spool file of its own for writes a crawl makes as it closes, each an object with its
    "_kind" (see apply_entry), JSON-ready; flushed and fsynced. Its path."""
    directory.mkdir(parents=True, exist_ok=True)
    label = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
    path = directory / f"{time.strftime('%Y%m%dT%H%M%S')}-{label}-{os.getpid()}-{time.monotonic_ns()}{SUFFIX}"
    lock = _lock(path)
    lock.acquire()  # a replay never reads it half-written
    try:
        with path.open("w", encoding="utf-8") as handle:
            header = {"newsmill_spool": FORMAT, "database": database_key(database_url)}
            handle.write(json.dumps(header) + "\n")
            handle.write("".join(json.dumps(e, ensure_ascii=False, sort_keys=True) + "\n" for e in entries))
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        _release(lock)
    return path


def apply_entry(store: Store, entry: dict[str, Any]) -> None:
    """Write one spooled closing write: a run record's end ("run") or validators ("validators")."""
    from pipelines.storage import validators  # which imports nothing of the spool

    kind = entry.get("_kind")
    if kind == "run":
        store.finish_run(
            entry["run_id"],
            entry["status"],
            entry["counts"],
            entry.get("error"),
            finished_at=datetime.fromisoformat(entry["finished_at"]),
            replayed=True,
        )
    elif kind == "validators":
        found = {
            url: validators.Validators(etag, modified, datetime.fromisoformat(checked) if checked else None)
            for url, (etag, modified, checked) in entry["found"].items()
        }
        validators.save(store, entry["source"], found)
    else:
        raise ValueError(f"unknown spool entry {kind!r}")


@dataclass(slots=True)
class _File:
    path: Path
    lock: FileLock
    count: int = 0


class Spool:
    """This process's spool files: each created on demand and locked until stored or closed.

    Writes go to the current file; `drain()` seals it and stores the sealed files, so the
    reactor can go on spilling into a fresh file while the writer thread replays.
    """

    def __init__(self, directory: Path, database_url: str, label: str = "crawl") -> None:
        self.directory = directory
        self.key = database_key(database_url)
        self.label = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
        self._current: _File | None = None
        self._handle: Any = None
        self._sealed: list[_File] = []
        self._mutex = threading.Lock()  # the reactor spills while the writer thread drains

    @property
    def count(self) -> int:
        """Articles spooled and not stored yet."""
        with self._mutex:
            files = [*self._sealed, *([self._current] if self._current else [])]
            return sum(f.count for f in files)

    @property
    def paths(self) -> list[Path]:
        with self._mutex:
            return [f.path for f in [*self._sealed, *([self._current] if self._current else [])]]

    def write(self, records: Sequence[ArticleRecord]) -> None:
        if not records:
            return
        with self._mutex:
            if self._current is None:
                self._open()
            assert self._current is not None
            self._handle.write("".join(encode(r) + "\n" for r in records))
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._current.count += len(records)

    def _open(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S")
        path = self.directory / f"{stamp}-{self.label}-{os.getpid()}-{time.monotonic_ns()}{SUFFIX}"
        lock = _lock(path)
        lock.acquire()
        self._current = _File(path, lock)
        self._handle = path.open("a", encoding="utf-8")
        self._handle.write(json.dumps({"newsmill_spool": FORMAT, "database": self.key}) + "\n")

    def _seal(self) -> None:
        if self._current is not None:
            self._handle.close()
            self._handle = None
            self._sealed.append(self._current)
            self._current = None

    def drain(self, store: Store, batch: int = 200) -> tuple[int, int]:
        """Store every article this process spooled, deleting each file once stored;
        (stored, new). A database error propagates; the files stay for the next try."""
        with self._mutex:
            self._seal()
            files = list(self._sealed)
        stored = new = 0
        for spooled in files:
            result = _replay_file(store, spooled.path, batch)
            spooled.path.unlink(missing_ok=True)
            _release(spooled.lock)
            with self._mutex:
                self._sealed.remove(spooled)
            stored += result.records
            new += result.new
        return stored, new

    def close(self) -> None:
        """Unlock the files left: from now on any replay may take them."""
        with self._mutex:
            self._seal()
            for spooled in self._sealed:
                _release(spooled.lock)
            self._sealed.clear()


def _try_acquire(lock: FileLock) -> bool:
    from filelock import Timeout

    try:
        lock.acquire(timeout=0)
    except Timeout:
        return False
    return True


def _release(lock: FileLock) -> None:
    lock.release()
    Path(lock.lock_file).unlink(missing_ok=True)


@dataclass(slots=True)
class ReplayResult:
    files: int = 0
    records: int = 0
    new: int = 0
    entries: int = 0  # run records and validators a crawl could not write as it closed
    broken_lines: int = 0
    skipped_files: list[Path] = dataclasses.field(default_factory=list)  # another database's

    def add(self, other: ReplayResult) -> None:
        self.files += other.files
        self.records += other.records
        self.new += other.new
        self.entries += other.entries
        self.broken_lines += other.broken_lines


def _header(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        try:
            header = json.loads(handle.readline() or "{}")
        except ValueError:
            return {}
    return header if isinstance(header, dict) else {}


def _lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as handle:
        next(handle, None)  # the header
        yield from handle


def _batches(
    lines: Iterable[str], size: int, result: ReplayResult, entries: list[dict[str, Any]]
) -> Iterator[list[ArticleRecord]]:
    batch: list[ArticleRecord] = []
    for line in lines:
        try:
            data = json.loads(line)
            if "_kind" in data:
                entries.append(data)
                continue
            batch.append(_record(data))
        except (ValueError, TypeError, AttributeError):
            # The tail a killed process was writing; everything before it is whole.
            result.broken_lines += 1
            continue
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _replay_file(store: Store, path: Path, batch: int) -> ReplayResult:
    result = ReplayResult(files=1)
    entries: list[dict[str, Any]] = []
    for records in _batches(_lines(path), batch, result, entries):
        outcome = store.store_articles(records)
        result.records += len(records)
        result.new += sum(outcome)
    for entry in entries:  # after the articles: a run record is closed over what it stored
        try:
            apply_entry(store, entry)
        except (KeyError, ValueError, TypeError):
            result.broken_lines += 1
            continue
        result.entries += 1
    if result.broken_lines:
        log.warning("%s: %d unreadable line(s) skipped", path, result.broken_lines)
    return result


def pending(directory: Path) -> list[Path]:
    return sorted(directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []


def replay(store: Store, directory: Path, database_url: str, batch: int = 200) -> ReplayResult:
    """Store every spooled article meant for this database, deleting each file once stored.

    Files locked by a running crawl are left for later; files for another database are left
    alone and listed. A database error propagates, with the unfinished file still in place.
    """
    key = database_key(database_url)
    total = ReplayResult()
    for path in pending(directory):
        lock = _lock(path)
        if not _try_acquire(lock):
            continue
        try:
            if not path.exists():  # replayed by someone else between the glob and the lock
                continue
            header = _header(path)
            if not header and path.stat().st_size == 0:
                path.unlink()  # created by a process killed before its first write
                continue
            if header.get("database") != key:
                total.skipped_files.append(path)
                continue
            total.add(_replay_file(store, path, batch))
            path.unlink()
        finally:
            _release(lock)
    return total
