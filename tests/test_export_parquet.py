"""`newsmill export --format parquet`: the same records as JSON lines, typed (timestamps in UTC,
lists as lists), readable by pyarrow; it needs a file to write to."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow.parquet as pq

from tests.conftest import describe, export_records, run_newsmill
from tests.crawled import Crawled, crawled

__all__ = ["crawled"]


def _as_exported(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


def test_parquet_holds_the_exported_records_typed(crawled: Crawled) -> None:
    out = crawled.config.parent / "articles.parquet"
    result = run_newsmill("export", "--format", "parquet", "-o", str(out), config=crawled.config)
    assert result.returncode == 0, describe(result)
    table = pq.read_table(out)
    assert str(table.schema.field("published_at").type) == "timestamp[us, tz=UTC]"
    assert str(table.schema.field("authors").type) == "list<element: string>"
    rows = [_as_exported(row) for row in table.to_pylist()]
    assert rows == export_records(crawled.config)
    assert not list(crawled.config.parent.glob("*.partial"))


def test_parquet_with_duplicates_and_a_source_filter(crawled: Crawled) -> None:
    out = crawled.config.parent / "blog.parquet"
    args = ("--source", "ledger", "--with-duplicates")
    result = run_newsmill("export", "--format", "parquet", "-o", str(out), *args, config=crawled.config)
    assert result.returncode == 0, describe(result)
    rows = [_as_exported(row) for row in pq.read_table(out).to_pylist()]
    assert rows == export_records(crawled.config, *args)


def test_parquet_needs_a_file(crawled: Crawled) -> None:
    result = run_newsmill("export", "--format", "parquet", config=crawled.config)
    assert result.returncode == 2
    assert "-o FILE" in result.stderr
