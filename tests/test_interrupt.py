"""Ctrl-C during `newsmill crawl` (issue 22): the terminal sends SIGINT to the command's
whole process group, extraction workers included. The crawl stops, prints its summary with
status `interrupted` and how to resume, exits 130; the next run stores the rest, once."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

from tests.conftest import parse_summary, run_newsmill
from tests.daemontools import runs
from tests.databases import sqlite_url  # noqa: F401  (fixture)
from tests.dbtools import (
    Crawl,
    articles_site,  # noqa: F401  (fixture)
    assert_each_stored_once,
    config_for,
    count_articles,
    crawls,  # noqa: F401  (fixture)
    wait_for,
)
from tests.site.server import NewsSite


def test_ctrl_c_exits_130_with_an_interrupted_summary_and_the_rerun_resumes(
    sqlite_url: str, articles_site: NewsSite, tmp_path: Path,  # noqa: F811
    crawls: Callable[..., Crawl],  # noqa: F811
) -> None:
    config = config_for(tmp_path, articles_site, sqlite_url)
    crawl = crawls(config, "--all", name="interrupted")
    wait_for(lambda: count_articles(sqlite_url) >= 3 or not crawl.running(), "the first articles stored")
    os.killpg(crawl.process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    assert crawl.wait(timeout=60) == 130, crawl.output
    output = crawl.output
    assert parse_summary(output)["ledger"]["status"] == "interrupted", output
    assert "running the same command again resumes" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    stored = count_articles(sqlite_url)
    assert 0 < stored < len(articles_site.articles), f"not interrupted mid-crawl: {stored} stored"
    assert [r["status"] for r in runs(config)] == ["interrupted"]
    # A page in extraction when Ctrl-C came is not failed for it: nothing waits to be retried.
    assert "extraction failed" not in output
    articles_site.clear_log()
    rerun = run_newsmill("crawl", "--all", "-q", config=config)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_each_stored_once(sqlite_url, articles_site)
    fetched_again = [p for p in articles_site.requested_paths() if p.endswith(".html")]
    assert len(fetched_again) == len(articles_site.articles) - stored
