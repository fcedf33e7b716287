"""What the full-text index costs the store: CPU per article stored through the store's own
write path (Store.store_articles: dedup queries, near-duplicate check, inserts, and the index's
triggers), with the index and with it dropped, on SQLite and PostgreSQL.

    .venv/bin/python bench/index_cost.py --articles 3000

CPU time, not wall time, because the machine is shared: on SQLite all the work is this
process's; on PostgreSQL the triggers run in the server, whose backends' CPU is read from
/proc (same machine). The articles are bench/search.py's (the dev set's sentences recombined,
about 3 KB of text each), fingerprinted beforehand as the extraction workers do, stored in
batches of 100 as a crawl's store thread does. Compare the difference with the crawl's CPU
per page (bench/THROUGHPUT.md: about 20 ms, 17 in the extraction workers and 3 in the crawl
process): the crawl is CPU-bound on both cores, so that share is what the index costs its
throughput.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.search import DEFAULT_DATASET, POSTGRES_ADMIN, articles, sentences, server_cpu  # noqa: E402
from common.fingerprint import fingerprint  # noqa: E402
from pipelines.storage import fulltext, schema  # noqa: E402
from pipelines.storage.database import Store  # noqa: E402
from pipelines.storage.records import ArticleRecord  # noqa: E402

BATCH = 100


def records(pool: list[str], count: int) -> list[ArticleRecord]:
    made = []
    for row in articles(pool, count, seed=23):
        made.append(
            ArticleRecord(
                source=row["source"],
                url=row["url"],
                text=row["text"],
                content_hash=row["content_hash"],
                fetched_at=datetime.now(UTC),
                title=row["title"],
                authors=row["authors"],
                published_at=row["published_at"],
                language=row["language"],
                description=row["description"],
                fingerprint=fingerprint(row["text"]),
            )
        )
    return made


def store_all(url: str, batch: list[ArticleRecord], with_index: bool) -> tuple[float, float]:
    """CPU ms per article: this process's, and the database server's (0 on SQLite)."""
    schema.prepare(url)
    store = Store(url)
    if not with_index:
        with store.engine.begin() as connection:
            fulltext.drop(connection)
    store.store_articles(batch[:BATCH])  # connections open, caches warm: not timed
    rest = batch[BATCH:]
    postgres = store.engine.dialect.name == "postgresql"
    asking = create_engine(url)  # its own backend is left out of the count
    server = server_cpu(asking, own=False) if postgres else 0.0
    used = time.process_time()
    for start in range(0, len(rest), BATCH):
        stored = store.store_articles(rest[start : start + BATCH])
        assert all(stored), "every article is new"
    used = time.process_time() - used
    server = (server_cpu(asking, own=False) - server) if postgres else 0.0
    asking.dispose()
    store.close()
    return used * 1000 / len(rest), server * 1000 / len(rest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--postgres", default=POSTGRES_ADMIN)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, metavar="DIR")
    args = parser.parse_args()
    batch = records(sentences(args.dataset), args.articles + BATCH)
    size = statistics.mean(len(r.text.encode()) for r in batch) / 1024
    print(f"{args.articles:,} articles of {size:.1f} KB of text on average, in batches of {BATCH}; "
          f"CPU ms per article, median of {args.repeat} (each: a fresh database)\n")
    print("| database | index | this process | database server | total |")
    print("|---|---|---|---|---|")
    for name in args.database or ["sqlite", "postgresql"]:
        for with_index in (False, True):
            runs = []
            for _ in range(args.repeat):
                if name == "sqlite":
                    with tempfile.TemporaryDirectory() as directory:
                        runs.append(store_all(f"sqlite:///{Path(directory) / 'b.db'}", batch, with_index))
                    continue
                admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
                database = f"newsmill_bench_{uuid.uuid4().hex[:8]}"
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
                try:
                    url = admin.url.set(database=database).render_as_string(hide_password=False)
                    runs.append(store_all(url, batch, with_index))
                finally:
                    with admin.connect() as connection:
                        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                    admin.dispose()
            own = statistics.median(r[0] for r in runs)
            server = statistics.median(r[1] for r in runs)
            state = "on" if with_index else "off"
            print(f"| {name} | {state} | {own:.2f} | {server:.2f} | {own + server:.2f} |")


if __name__ == "__main__":
    main()
