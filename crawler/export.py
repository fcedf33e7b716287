"""Stored articles out, as the record design.md specifies: JSON lines, CSV or Parquet."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any

from sqlalchemy import select

from pipelines.storage.database import Store
from pipelines.storage.exported import FIELDS, article_record
from pipelines.storage.models import Article, ArticleUrl


def _records(store: Store, articles: Iterator[Article], with_duplicates: bool) -> Iterator[dict[str, Any]]:
    """Each story once with its other URLs; with duplicates, also one record per other URL."""
    while chunk := list(islice(articles, 500)):
        aliases: dict[int, list[tuple[str, str]]] = {a.id: [] for a in chunk}
        with store.sessions() as session:
            rows = session.execute(
                select(ArticleUrl.article_id, ArticleUrl.url, ArticleUrl.source)
                .where(ArticleUrl.article_id.in_(list(aliases)))
                .order_by(ArticleUrl.first_seen_at, ArticleUrl.url)
            )
            for article_id, url, source in rows:
                aliases[article_id].append((url, source))
        for article in chunk:
            others = [(u, s) for u, s in aliases[article.id] if u != article.url]
            yield article_record(article, [u for u, _ in others])
            if with_duplicates:
                for url, source in others:
                    record = article_record(article, [article.url] + [u for u, _ in others if u != url])
                    record.update(url=url, source=source)
                    yield record


def export_articles(
    database: str,
    fmt: str,
    out: Path | None,
    *,
    source: str | None = None,
    since: datetime | None = None,
    with_duplicates: bool = False,
) -> int:
    store = Store(database)
    if fmt == "parquet":
        if out is None:
            raise ValueError("Parquet is written to a file: give -o FILE")
        try:
            records = _records(store, store.iter_articles(source=source, since=since), with_duplicates)
            return write_parquet(records, out)
        finally:
            store.close()
    count = 0
    with ExitStack() as stack:
        stream = stack.enter_context(out.open("w", encoding="utf-8", newline="")) if out else sys.stdout
        writer = csv.DictWriter(stream, FIELDS) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for record in _records(store, store.iter_articles(source=source, since=since), with_duplicates):
            if writer:
                for name in ("authors", "tags", "urls"):
                    record[name] = "; ".join(record[name])
                writer.writerow(record)
            else:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    store.close()
    return count


PARQUET_ROW_GROUP = 10_000  # records held in memory at a time, and a row group of the file each


def parquet_schema() -> Any:
    import pyarrow as pa

    moment = pa.timestamp("us", tz="UTC")
    words = pa.list_(pa.string())
    types = {
        "id": pa.int64(),
        "authors": words,
        "tags": words,
        "urls": words,
        "published_at": moment,
        "first_seen_at": moment,
        "fetched_at": moment,
        "updated_at": moment,
        "revision": pa.int32(),
    }
    return pa.schema([(name, types.get(name, pa.string())) for name in FIELDS])


def write_parquet(records: Iterator[dict[str, Any]], out: Path) -> int:
    """The records as one Parquet file (pyarrow), written a row group at a time, so memory
    stays flat however many articles there are. The file appears complete or not at all: it is
    written beside `out` and renamed over it at the end."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = parquet_schema()
    moments = [name for name in FIELDS if name.endswith("_at")]
    partial = out.with_name(out.name + ".partial")
    count = 0
    try:
        with pq.ParquetWriter(partial, schema, compression="zstd") as writer:
            while chunk := list(islice(records, PARQUET_ROW_GROUP)):
                for record in chunk:
                    for name in moments:
                        if record[name] is not None:
                            record[name] = datetime.fromisoformat(record[name])
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                count += len(chunk)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return count
