"""Source health with the daemon running and the sites changing under it: one site's article
pages lose their body text, another answers 403 to everything, then both mend. Real daemon
process, real HTTP sites on 127.0.0.1, real SQLite; health read as `newsmill health` reads it.

The targets of issue 19: the broken source is `degraded` with a reason naming extraction within
3 runs that fetch such pages; the blocked one is `failing` with "HTTP 403" within 3 runs.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pipelines.health import Health, Thresholds
from pipelines.storage.database import Store
from pipelines.storage.health import health_of
from tests.conftest import describe, run_newsmill, write_config
from tests.daemontools import (
    Daemon,
    database_url,
    feed_source,
    finished,
    running_daemon,
    runs,
    wait_until,
    when,
)
from tests.site.server import NewsSite, synthetic_article

SOURCES = ("broken", "blocked")


class Publisher:
    """Publishes three new articles on a source's site whenever a run of it finishes, as a
    news site keeps publishing, so that every run has new pages to fetch; the site lists only
    its newest 30, so that its feed stays small."""

    def __init__(self, config: Path, sites: dict[str, NewsSite]) -> None:
        self.config = config
        self.sites = sites
        self.numbers = itertools.count(1)
        self.seen: dict[str, int] = {}
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._publish, daemon=True)

    def publish(self, site: NewsSite, n: int = 3) -> None:
        for _ in range(n):
            site.add_article(synthetic_article(next(self.numbers)))
        for old in site.articles[30:]:
            site.remove(old.path)

    def _publish(self) -> None:
        while not self.stopped.wait(0.3):
            for name, site in self.sites.items():
                done = len(finished(self.config, name))
                if done > self.seen.get(name, 0):
                    self.seen[name] = done
                    self.publish(site)

    def __enter__(self) -> Publisher:
        for site in self.sites.values():
            self.publish(site)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join()


@dataclass
class Change:
    """A site changing at `at`: the runs that started after it, up to when health noticed."""

    at: datetime
    verdict: Health | None = None
    runs_until_noticed: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Scenario:
    config: Path
    daemon: Daemon
    broken: Change
    blocked: Change
    recovered: dict[str, Health]
    table: Any  # `newsmill health` while both were bad
    exit_code: int


def health_now(config: Path) -> dict[str, Health]:
    store = Store(database_url(config))
    try:
        return {h.source: h for h in health_of(store, [(name, Thresholds()) for name in SOURCES])}
    finally:
        store.close()


def started_after(config: Path, source: str, at: datetime) -> list[dict[str, Any]]:
    return [r for r in finished(config, source) if when(r["started_at"]) >= at]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    directory = tmp_path_factory.mktemp("health")
    with NewsSite(fixtures=False) as broken_site, NewsSite(fixtures=False) as blocked_site:
        config = write_config(
            directory,
            {
                "broken": feed_source(broken_site, schedule="every 1s"),
                "blocked": feed_source(blocked_site, schedule="every 1s", crawl={"retries": 0}),
            },
            extra={"daemon": {"grace_period": 2}},
        )
        with (
            Publisher(config, {"broken": broken_site, "blocked": blocked_site}),
            running_daemon(config) as daemon,
        ):
            # The default baseline: 3 samples of at least 2 runs and 5 article pages each.
            wait_until(
                "enough runs with article pages for a baseline",
                lambda: all(len([r for r in finished(config, s, "ok") if r["pages"]]) >= 8 for s in SOURCES),
                daemon=daemon,
            )
            assert {h.status for h in health_now(config).values()} == {"ok"}, health_now(config)

            from pipelines.storage.models import utcnow

            broken = Change(utcnow())
            broken_site.bodyless = True
            blocked = Change(utcnow())
            blocked_site.refuse_with = 403

            def noticed() -> bool:
                verdicts = health_now(config)
                for name, change, status in (("broken", broken, "degraded"), ("blocked", blocked, "failing")):
                    if change.verdict is None and verdicts[name].status == status:
                        change.verdict = verdicts[name]
                        change.runs_until_noticed = started_after(config, name, change.at)
                return broken.verdict is not None and blocked.verdict is not None

            wait_until("health to notice both changes", noticed, daemon=daemon)
            table = run_newsmill("health", config=config)

            broken_site.bodyless = False
            blocked_site.refuse_with = None
            recovered = wait_until(
                "both sources to recover",
                lambda: (v := health_now(config)) and all(h.status == "ok" for h in v.values()) and v,
                daemon=daemon,
            )
            code = daemon.stop()
        yield Scenario(config, daemon, broken, blocked, recovered, table, code)


def test_pages_losing_their_text_degrade_the_source_within_three_runs_naming_extraction(
    scenario: Scenario,
) -> None:
    verdict = scenario.broken.verdict
    assert verdict is not None and verdict.status == "degraded"
    assert any(r.startswith("extraction: ") and "layout changed?" in r for r in verdict.reasons), verdict
    with_pages = [r for r in scenario.broken.runs_until_noticed if r["pages"]]
    assert 1 <= len(with_pages) <= 3, with_pages


def test_a_site_answering_403_fails_the_source_within_three_runs_naming_http_403(scenario: Scenario) -> None:
    verdict = scenario.blocked.verdict
    assert verdict is not None and verdict.status == "failing"
    assert any("HTTP 403" in r and "blocking us" in r for r in verdict.reasons), verdict
    assert len(scenario.blocked.runs_until_noticed) <= 3, scenario.blocked.runs_until_noticed


def test_both_recover_when_the_sites_mend(scenario: Scenario) -> None:
    assert {h.status for h in scenario.recovered.values()} == {"ok"}
    assert scenario.exit_code == 0


def test_health_command_shows_both_and_exits_1(scenario: Scenario) -> None:
    table = scenario.table
    assert table.returncode == 1, describe(table)
    lines = {
        line.split()[0]: line for line in table.stdout.splitlines()[1:] if line.strip() and line[0] != " "
    }
    assert lines["blocked"].split()[1] == "failing" and "HTTP 403" in lines["blocked"]
    assert lines["broken"].split()[1] == "degraded" and "extraction" in table.stdout
    after = run_newsmill("health", "--json", config=scenario.config)
    assert after.returncode == 0, describe(after)
    assert {h["source"]: h["status"] for h in json.loads(after.stdout)} == {"blocked": "ok", "broken": "ok"}


def test_every_run_of_the_scenario_has_its_extraction_stats(scenario: Scenario) -> None:
    for source in SOURCES:
        for record in runs(scenario.config, source):
            if record["status"] == "ok" and record["pages"]:
                assert record["extraction"]["pages"] == record["pages"]
