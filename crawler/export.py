"""Stored articles out, as the record design.md specifies: JSON lines or CSV."""

from __future__ import annotations

import csv
import json
import sys
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

from pipelines.database import Store
from pipelines.models import Article

FIELDS = (
    "id",
    "source",
    "url",
    "title",
    "authors",
    "published_at",
    "language",
    "description",
    "image",
    "tags",
    "text",
    "first_seen_at",
    "fetched_at",
    "content_hash",
)


def article_record(article: Article) -> dict[str, Any]:
    record: dict[str, Any] = {name: getattr(article, name) for name in FIELDS}
    for name in ("published_at", "first_seen_at", "fetched_at"):
        value = record[name]
        record[name] = value.isoformat() if value else None
    record["authors"] = list(record["authors"] or [])
    record["tags"] = list(record["tags"] or [])
    return record


def export_articles(
    database: str,
    fmt: str,
    out: Path | None,
    *,
    source: str | None = None,
    since: datetime | None = None,
) -> int:
    store = Store(database)
    count = 0
    with ExitStack() as stack:
        stream = stack.enter_context(out.open("w", encoding="utf-8", newline="")) if out else sys.stdout
        writer = csv.DictWriter(stream, FIELDS) if fmt == "csv" else None
        if writer:
            writer.writeheader()
        for article in store.iter_articles(source=source, since=since):
            record = article_record(article)
            if writer:
                record["authors"] = "; ".join(record["authors"])
                record["tags"] = "; ".join(record["tags"])
                writer.writerow(record)
            else:
                stream.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    store.close()
    return count
