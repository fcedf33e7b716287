"""Shared fixtures: the fixture news site, config files, and the `newsmill` CLI as a subprocess.

End-to-end tests go through the public contract only (config.yaml, the CLI, the exported
records), so they hold whatever the crawler's internals become.
"""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    # `tests.site` must import however pytest is started (`pytest`, `python -m pytest`, .ci/run).
    sys.path.insert(0, str(ROOT))

from tests.site.server import BROKEN_PATHS, TEST_MAX_PAGE_SIZE, NewsSite  # noqa: E402

CLI_TIMEOUT = 120  # seconds; a hung crawl fails the test instead of hanging the suite

# Fast, but otherwise the defaults a user gets: robots.txt obeyed, retries on.
FAST_CRAWL: dict[str, Any] = {
    "delay": 0,
    "concurrency": 8,
    "per_domain": 8,
    "timeout": 10,
    "max_page_size": TEST_MAX_PAGE_SIZE,
}

ARTICLE_PATTERNS = [r"/\d{4}/\d{2}/\d{2}/[^/]+\.html$", r"/wire/story/\d+\.html$"]


def ledger_source(site: NewsSite, **overrides: Any) -> dict[str, Any]:
    """The main source of the tests, shaped like design.md's example: every discovery path."""
    source: dict[str, Any] = {
        "feeds": [site.url_for("/feed.xml"), site.url_for("/atom.xml"),
                  site.url_for(BROKEN_PATHS["broken_feed"])],
        "sitemaps": [site.url_for("/robots.txt")],
        "start_urls": [site.url_for("/")],
        "follow": ["/section/[a-z]+$"],
        "articles": list(ARTICLE_PATTERNS),
        "schedule": "every 15m",
    }
    source.update(overrides)
    return source


def blog_source(site: NewsSite) -> dict[str, Any]:
    """A second source on the same host whose articles the main source never links to."""
    return {"feeds": [site.url_for("/blog/feed.xml")], "schedule": "every 2h"}


def write_config(directory: Path, sources: Mapping[str, Any], *,
                 crawl: Mapping[str, Any] | None = None, database: str | None = None,
                 extra: Mapping[str, Any] | None = None, name: str = "config.yaml") -> Path:
    """A config.yaml per design.md, with its own SQLite file inside `directory`."""
    document: dict[str, Any] = {
        "database": database or f"sqlite:///{directory / 'news.db'}",
        "crawl": {**FAST_CRAWL, **(crawl or {})},
        "sources": dict(sources),
        **(extra or {}),
    }
    path = directory / name
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def cli_env() -> dict[str, str]:
    """The caller's environment minus newsmill's own variables, so only --config counts."""
    return {k: v for k, v in os.environ.items()
            if k not in ("NEWSMILL_DATABASE_URL", "NEWSMILL_CONFIG")}


def run_newsmill(*args: str, config: Path, timeout: float = CLI_TIMEOUT,
                 env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`newsmill --config CONFIG ARGS...` as a real process, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), *args],
        cwd=ROOT,
        env=dict(env) if env is not None else cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_python(script: str) -> subprocess.CompletedProcess[str]:
    """`python -c SCRIPT` from the repository root: a fresh process, where nothing the test
    process has imported or set up is loaded yet."""
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True,
                          timeout=CLI_TIMEOUT, check=False)


def python_output(script: str) -> str:
    """run_python(script), which must exit 0: what it printed."""
    run = run_python(script)
    assert run.returncode == 0, run.stderr
    return run.stdout


def crawl_reporting_at_engine_start(config: Path, report: str, *, first: str = "",
                                    last: str = "") -> tuple[str, list[str]]:
    """A real crawl of the config's sources in a fresh process (run_python), extraction inline.

    The script runs `first`, then the crawl, with an extension that evaluates the expression
    `report` (`crawler` in scope) when the engine starts, then `last`. Returns the report's
    repr() and the lines `last` printed."""
    script = (
        f"{first}\n"
        "from scrapy import signals\n"
        "from crawler.config import load_config\n"
        "from crawler.runner import run_crawls\n"
        "from pipelines.storage import schema\n"
        "class Probe:\n"
        "    @classmethod\n"
        "    def from_crawler(cls, crawler):\n"
        "        probe = cls()\n"
        "        probe.crawler = crawler\n"
        "        crawler.signals.connect(probe.started, signal=signals.engine_started)\n"
        "        return probe\n"
        "    def started(self):\n"
        "        crawler = self.crawler\n"
        f"        print('at engine start:', repr({report}), flush=True)\n"
        f"config = load_config({str(config)!r})\n"
        "schema.prepare(config.database)\n"
        "run_crawls(config, list(config.sources.values()), EXTENSIONS={'__main__.Probe': 0},\n"
        "           NEWSMILL_EXTRACT_WORKERS=0)\n"
        "print('after the crawl')\n"
        f"{last}\n"
    )
    output = python_output(script)
    lines = output.splitlines()
    tag = "at engine start: "
    reports = [line.removeprefix(tag) for line in lines if line.startswith(tag)]
    assert len(reports) == 1, output
    return reports[0], lines[lines.index("after the crawl") + 1 :]


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """What a failed CLI call said, for assertion messages."""
    return (f"exit {result.returncode}\n--- stdout ---\n{result.stdout[-4000:]}"
            f"\n--- stderr ---\n{result.stderr[-4000:]}")


def export_records(config: Path, *args: str) -> list[dict[str, Any]]:
    """`newsmill export --format jsonl -o FILE ARGS...`, parsed; fails loudly if export does."""
    out = config.parent / "export.jsonl"
    result = run_newsmill("export", "--format", "jsonl", "-o", str(out), *args, config=config)
    assert result.returncode == 0, describe(result)
    lines = out.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def export_csv(config: Path, *args: str) -> list[dict[str, str]]:
    out = config.parent / "export.csv"
    result = run_newsmill("export", "--format", "csv", "-o", str(out), *args, config=config)
    assert result.returncode == 0, describe(result)
    return list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"), newline="")))


def crawl_row(config: Path, source: str = "ledger") -> dict[str, str]:
    """`newsmill crawl --all`, which must succeed; its summary's row for `source`."""
    result = run_newsmill("crawl", "--all", config=config)
    assert result.returncode == 0, describe(result)
    return parse_summary(result.stdout)[source]


def parse_summary(output: str) -> dict[str, dict[str, str]]:
    """The summary table `newsmill crawl` prints, keyed by source then column.

    The table's header starts with `source`; each following row is one source. Anything
    after the rows (the per-reason lines) is left to the caller.
    """
    lines = output.splitlines()
    for i, line in enumerate(lines):
        columns = line.split()
        if columns[:1] == ["source"] and "new" in columns:
            rows: dict[str, dict[str, str]] = {}
            for row in lines[i + 1:]:
                values = row.split()
                if len(values) != len(columns):
                    break
                rows[values[0]] = dict(zip(columns, values, strict=True))
            return rows
    raise AssertionError(f"no summary table with a `new` column in:\n{output}")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def site() -> Iterator[NewsSite]:
    """A fresh Daily Ledger for one test; change it freely."""
    with NewsSite() as running:
        yield running


@pytest.fixture(scope="module")
def module_site() -> Iterator[NewsSite]:
    """One Daily Ledger shared by a module's tests (for one expensive crawl read many times)."""
    with NewsSite() as running:
        yield running


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Path]:
    """write_config bound to this test's tmp_path: make_config({"name": source_dict}, ...)."""
    def make(sources: Mapping[str, Any], **kwargs: Any) -> Path:
        return write_config(tmp_path, sources, **kwargs)
    return make
