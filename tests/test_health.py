"""Source health judged from run records (common.health.assess): the rules one by one on
made-up run histories, then the config keys and `newsmill health` on real crawls.
The daemon with a site that breaks under it: tests/test_health_daemon.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from common.health import DEGRADED, FAILING, OK, Run, Thresholds, assess, trouble
from tests.conftest import describe, run_newsmill, write_config
from tests.site.server import NewsSite

T0 = datetime(2026, 1, 1, tzinfo=UTC)
DEFAULTS = Thresholds()


def extraction(pages: int = 4, no_text: int = 0, length: int = 3000, authors: float = 1.0) -> dict[str, Any]:
    articles = pages - no_text
    filled = {f: articles for f in ("title", "published_at", "language", "image")}
    filled["authors"] = round(articles * authors)
    return {
        "pages": pages,
        "no_text": no_text,
        "articles": articles,
        "filled": filled,
        "median_length": length if articles else None,
    }


def history(*specs: dict[str, Any], every: timedelta = timedelta(minutes=15)) -> list[Run]:
    """Runs 15 minutes apart, each spec the fields that differ from an ok run with 4 new pages."""
    runs = []
    for i, spec in enumerate(specs):
        fields: dict[str, Any] = {"status": "ok", "pages": 4, "new": 4, "extraction": extraction()}
        fields.update(spec)
        start = T0 + i * every
        runs.append(Run(id=i + 1, started_at=start, finished_at=start + timedelta(seconds=20), **fields))
    return runs


def verdict(runs: list[Run], **thresholds: Any) -> Any:
    now = runs[-1].finished_at or T0
    productive = [r.started_at for r in runs if r.new]
    return assess("s", runs, now, Thresholds(**thresholds), productive=productive)


GOOD: dict[str, Any] = {}
NO_PAGES: dict[str, Any] = {"pages": 0, "new": 0, "extraction": extraction(pages=0)}
BODYLESS: dict[str, Any] = {"extraction": extraction(length=290)}
BLOCKED: dict[str, Any] = {
    "status": "failed",
    "pages": 0,
    "new": 0,
    "error": "HTTP 403 on every seed",
    "errors": {"HTTP 403": 3},
    "extraction": extraction(pages=0),
}


# -- failed runs ------------------------------------------------------------------------------


def test_failed_runs_in_a_row_fail_the_source_with_their_cause() -> None:
    assert verdict(history(GOOD, BLOCKED, BLOCKED)).status == OK, "two failed runs may be a hiccup"
    failing = verdict(history(GOOD, BLOCKED, BLOCKED, BLOCKED))
    assert failing.status == FAILING
    assert failing.reasons == ["3 failed runs in a row: HTTP 403 on every seed: the site is blocking us"]
    assert failing.since == T0 + timedelta(minutes=15), "since the first run of the streak"
    assert failing.last_good == T0 + timedelta(seconds=20)


def test_a_run_that_went_well_ends_the_streak_and_runs_stopped_by_the_daemon_do_not() -> None:
    assert verdict(history(BLOCKED, BLOCKED, GOOD)).status == OK
    stopped = {"status": "interrupted", "error": "the daemon stopped"}
    assert verdict(history(BLOCKED, stopped, BLOCKED, BLOCKED)).status == FAILING


@pytest.mark.parametrize(
    ("spec", "cause"),
    [
        ({"status": "failed", "error": "unreachable: http://x/feed: connection refused"}, "unreachable"),
        (
            {"status": "failed", "error": "HTTP 429 on every seed"},
            "HTTP 429 on every seed: the site is blocking us",
        ),
        (
            {"status": "failed", "error": "feed is not XML on every seed"},
            "feed is not XML on every seed: moved",
        ),
        (
            {"status": "failed", "error": "disallowed by robots.txt on every seed"},
            "robots.txt disallows every seed",
        ),
        (
            {"status": "ok", "pages": 0, "errors": {"HTTP 403": 7}},
            "HTTP 403 on every article page (7 refused)",
        ),
    ],
)
def test_each_cause_is_named(spec: dict[str, Any], cause: str) -> None:
    run = history(spec)[0]
    assert cause in (trouble(run) or "")


# -- extraction -------------------------------------------------------------------------------


def test_pages_losing_their_body_text_degrade_within_three_runs_naming_extraction() -> None:
    baseline = [GOOD] * 8
    for broken in (1, 2, 3):
        found = verdict(history(*baseline, *[BODYLESS] * broken))
        if found.status == DEGRADED:
            break
    assert found.status == DEGRADED, "not degraded after 3 runs with such pages"
    assert any(r.startswith("extraction: median body length 290") for r in found.reasons), found.reasons
    assert all("layout changed?" in r for r in found.reasons)
    assert found.last_good is not None and found.last_good < found.since, "the last run before the breakage"


def test_pages_with_no_text_and_a_field_gone_are_told_apart() -> None:
    no_text = verdict(history(*[GOOD] * 8, *[{"extraction": extraction(no_text=4)}] * 2))
    assert no_text.reasons == [
        "extraction: 100% of article pages had no article text (usually 0%); layout changed?"
    ]
    no_authors = verdict(history(*[GOOD] * 8, *[{"extraction": extraction(authors=0)}] * 2))
    assert no_authors.reasons == [
        "extraction: authors found on 0% of articles (usually 100%); layout changed?"
    ]


def test_a_source_too_young_for_a_baseline_is_not_judged_on_extraction() -> None:
    assert verdict(history(GOOD, GOOD, *[BODYLESS] * 6)).status == OK


def test_runs_without_article_pages_leave_the_extraction_status_as_it_was() -> None:
    broken = history(*[GOOD] * 8, BODYLESS, BODYLESS, *[NO_PAGES] * 5)
    assert verdict(broken).status == DEGRADED, "runs with nothing new are no evidence of a repair"
    healthy = history(*[GOOD] * 8, *[NO_PAGES] * 5)
    assert verdict(healthy).status == OK, "nor of a breakage"


def test_extraction_recovers_when_pages_are_normal_again() -> None:
    found = verdict(history(*[GOOD] * 8, BODYLESS, BODYLESS, GOOD, GOOD))
    assert found.status == OK


def test_one_odd_run_is_not_a_breakage() -> None:
    assert verdict(history(*[GOOD] * 8, {"extraction": extraction(pages=1, length=200)}, GOOD)).status == OK


# -- silence ----------------------------------------------------------------------------------


def test_silence_much_longer_than_the_usual_gap_degrades() -> None:
    hourly = timedelta(hours=1)
    busy = [GOOD] * 10
    quiet_day = [NO_PAGES] * 30
    found = verdict(history(*busy, *quiet_day, every=hourly))
    assert found.status == DEGRADED
    assert found.reasons[0].startswith("silence: no new article for 30h (usually one every 60m)"), (
        found.reasons
    )
    assert verdict(history(*busy, *[NO_PAGES] * 4, every=hourly)).status == OK, "a short lull is usual"


def test_silence_is_not_judged_without_a_history_of_gaps() -> None:
    assert verdict(history(GOOD, GOOD, *[NO_PAGES] * 40, every=timedelta(hours=1))).status == OK


def test_silence_needs_runs_that_saw_nothing_not_a_daemon_that_was_down() -> None:
    runs = history(*[GOOD] * 10, every=timedelta(hours=1))
    later = runs[-1].started_at + timedelta(days=5)
    productive = [r.started_at for r in runs]
    assert assess("s", runs, later, DEFAULTS, productive=productive).status == OK


# -- config and the command -------------------------------------------------------------------


def test_thresholds_come_from_health_and_a_sources_own(tmp_path: Path, site: NewsSite) -> None:
    from crawler.config import load_config

    config = write_config(
        tmp_path,
        {
            "a": {"feeds": [site.url_for("/feed.xml")], "health": {"min_silence": "2h", "failing_after": 5}},
            "b": {"feeds": [site.url_for("/feed.xml")]},
        },
        extra={"health": {"failing_after": 4, "baseline": 2}},
    )
    loaded = load_config(config)
    assert loaded.sources["a"].health.failing_after == 5
    assert loaded.sources["a"].health.min_silence == timedelta(hours=2)
    assert loaded.sources["a"].health.baseline == 2, "the global health: applies under a source's own"
    assert loaded.sources["b"].health.failing_after == 4


@pytest.mark.parametrize(
    ("source_health", "global_health", "message"),
    [
        ({"bogus": 1}, {}, "source 'a', key 'health.bogus': unknown key"),
        ({"failing_after": 0}, {}, "source 'a', key 'health.failing_after'"),
        ({"min_silence": "soon"}, {}, "source 'a', key 'health.min_silence'"),
        ({}, {"silence": 3}, "health.silence"),
    ],
)
def test_bad_health_keys_are_refused_naming_source_and_key(
    tmp_path: Path, site: NewsSite, source_health: dict[str, Any], global_health: dict[str, Any], message: str
) -> None:
    config = write_config(
        tmp_path,
        {"a": {"feeds": [site.url_for("/feed.xml")], "health": source_health}},
        extra={"health": global_health},
    )
    result = run_newsmill("health", config=config)
    assert result.returncode == 2, describe(result)
    assert message in result.stderr


def test_health_command_table_json_and_exit_status(tmp_path: Path, site: NewsSite) -> None:
    blocked = NewsSite(fixtures=False).start()
    blocked.refuse_with = 403
    try:
        config = write_config(
            tmp_path,
            {
                "fine": {"feeds": [site.url_for("/feed.xml")]},
                "blocked": {"feeds": [blocked.url_for("/feed.xml")]},
            },
            extra={"health": {"failing_after": 2}},
        )
        for _ in range(2):
            crawl = run_newsmill("crawl", "--all", config=config)
            assert crawl.returncode == 1, describe(crawl)  # the blocked source's runs fail
    finally:
        blocked.stop()
    table = run_newsmill("health", config=config)
    assert table.returncode == 1, describe(table)
    header, *rows = table.stdout.splitlines()
    assert header.split()[:4] == ["source", "status", "since", "reasons"]
    assert rows[0].split()[:2] == ["blocked", "failing"]
    assert "HTTP 403" in rows[0] and "the site is blocking us" in rows[0]
    assert rows[1].split()[:2] == ["fine", "ok"]

    only_fine = run_newsmill("health", "fine", "--json", config=config)
    assert only_fine.returncode == 0, describe(only_fine)
    [fine] = json.loads(only_fine.stdout)
    assert fine["source"] == "fine" and fine["status"] == "ok" and fine["reasons"] == []
    assert fine["last_good_run"]

    both = json.loads(run_newsmill("health", "--json", config=config).stdout)
    assert [h["source"] for h in both] == ["blocked", "fine"]
    assert both[0]["status"] == "failing"
    assert both[0]["reasons"] == ["2 failed runs in a row: HTTP 403 on every seed: the site is blocking us"]

    unknown = run_newsmill("health", "nope", config=config)
    assert unknown.returncode == 2 and "nope" in unknown.stderr


def test_a_run_records_its_extraction_stats(tmp_path: Path, site: NewsSite) -> None:
    config = write_config(tmp_path, {"ledger": {"feeds": [site.url_for("/feed.xml")]}})
    assert run_newsmill("crawl", "ledger", config=config).returncode == 0
    runs = json.loads(run_newsmill("runs", "--json", config=config).stdout)
    stats = runs[0]["extraction"]
    assert stats["pages"] == runs[0]["pages"] > 0
    assert stats["articles"] == runs[0]["new"]
    assert set(stats["filled"]) == {"title", "authors", "published_at", "language", "image"}
    assert stats["filled"]["title"] == stats["articles"]
    assert 500 < stats["median_length"] < 20000


def test_the_daemons_running_history_judges_as_a_fresh_read_does(tmp_path: Path) -> None:
    from pipelines.storage.database import Store
    from pipelines.storage.health import History, source_health
    from pipelines.storage.models import CrawlRun

    store = Store(f"sqlite:///{tmp_path / 'runs.db'}")
    store.create_schema()
    daemons = History()
    specs = [GOOD] * 12 + [BODYLESS] * 3 + [BLOCKED] * 4 + [GOOD] * 3 + [NO_PAGES] * 30
    try:
        for i, run in enumerate(history(*specs)):
            with store.sessions.begin() as session:
                session.add(CrawlRun(id=run.id, source="s", trigger="schedule", started_at=run.started_at,
                                     finished_at=run.finished_at, status=run.status, pages=run.pages,
                                     new=run.new, errors=run.errors, error=run.error,
                                     extraction=run.extraction, skipped={}))
            if i % 3:  # the daemon looks after some runs, not all
                continue
            now = run.finished_at
            kept, fresh = daemons.health(store, "s", DEFAULTS, now), source_health(store, "s", DEFAULTS, now)
            assert (kept.status, kept.reasons) == (fresh.status, fresh.reasons), (i, kept, fresh)
    finally:
        store.close()
