"""The daemon's log: one line per event, as text for people or JSON for log shippers.

Structured values travel in `extra={"fields": {...}}`: the text format appends them as
key=value, the JSON format makes them keys of the line's object, so a shipper can filter
on `source` or `status` without parsing the message.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

FORMATS = ("text", "json")


def fields(**values: Any) -> dict[str, Any]:
    """`extra=` for a log call carrying structured values."""
    return {"fields": values}


def _text_value(value: Any) -> str:
    if isinstance(value, dict):  # counts by reason: the total reads well in one line
        return str(sum(v for v in value.values() if isinstance(v, int | float)))
    if isinstance(value, float):
        return f"{value:.1f}"
    text = str(value)
    return json.dumps(text) if not text or any(c.isspace() or c in "\"'=" for c in text) else text


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        values: dict[str, Any] = getattr(record, "fields", {})
        extra = " ".join(f"{k}={_text_value(v)}" for k, v in values.items() if v is not None)
        return f"{line} {extra}" if extra else line


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def setup_logging(fmt: str = "text", level: int = logging.INFO, stream: TextIO | None = None) -> None:
    """Route every logger to one stream in one format; the daemon calls this once."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler narrates every job submission at INFO; its warnings (a run skipped because
    # the last one is still going, a missed run) are the part worth keeping.
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    logging.getLogger("alembic").setLevel(max(level, logging.WARNING))  # "Context impl SQLiteImpl."
    logging.getLogger("procrastinate").setLevel(max(level, logging.WARNING))  # "Deferred 1 job", per run
