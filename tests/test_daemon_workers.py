"""The daemon's long-lived crawl workers, for real: `python scheduler.py` as a process, its
workers as its children, HTTP servers on 127.0.0.1, a real SQLite file. One worker serves run
after run; the runs in flight stay within max_runs; two sources on one host share its
per_domain. (A worker killed under its run: tests/test_daemon_control.py.)"""

from __future__ import annotations

import hashlib
import itertools
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.conftest import write_config
from tests.daemontools import Silent, feed_source, finished, running_daemon, runs, wait_until, when
from tests.databases import *  # noqa: F403  (the database fixtures: SQLite and PostgreSQL)
from tests.site.server import NewsSite, synthetic_article


def test_one_worker_serves_run_after_run_without_starting_again(tmp_path: Path, sqlite_url: str) -> None:
    # The daemon of one machine. On PostgreSQL `newsmill run` is a cluster's scheduler whose
    # runs go to `newsmill worker` processes (tests/test_cluster_scheduler.py, tests/test_cluster.py).
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        sources = {"live": feed_source(site, schedule="every 1s")}
        config = write_config(tmp_path, sources, database=sqlite_url)
        with running_daemon(config) as daemon:
            wait_until("four runs", lambda: len(finished(config, "live", "ok")) >= 4, daemon=daemon)
            site.add_article(synthetic_article(2))  # found by a later run of the same worker
            wait_until("the new article", lambda: sum(r["new"] for r in runs(config, "live")) == 2,
                       daemon=daemon)
            assert daemon.stop() == 0
    ends = daemon.events("run_finished", "live")
    assert len(ends) >= 5
    assert {e["worker_pid"] for e in ends} == {ends[0]["worker_pid"]}, "every run on one worker"
    # Its count of runs served goes up by one a run: one process, set up once.
    assert [e["worker_runs"] for e in ends] == list(range(1, len(ends) + 1))
    assert len(daemon.events("worker_ready")) == 1, "the worker started (imported Scrapy...) once"
    starts = daemon.events("run_started", "live")
    assert {int(e["pid"]) for e in starts} == {ends[0]["worker_pid"]}
    # The records name the crawl process that ran them.
    assert {r["worker"] for r in runs(config, "live")} == {f"{socket.gethostname()}:{ends[0]['worker_pid']}"}


def test_runs_in_flight_never_exceed_max_runs(tmp_path: Path) -> None:
    # Five sources whose every run hangs until its max_runtime: they would all run at once.
    silent = Silent()
    try:
        crawl = {"timeout": 300, "retries": 0, "obey_robots": False}
        sources = {
            f"hung{n}": {
                "start_urls": [f"{silent.url}{n}"],
                "schedule": "every 1s",
                "max_runtime": "1s",
                "crawl": crawl,
            }
            for n in range(5)
        }
        config = write_config(tmp_path, sources, extra={"daemon": {"max_runs": 2, "grace_period": 1}})
        with running_daemon(config) as daemon:
            wait_until(
                "every source to have run",
                lambda: {r["source"] for r in runs(config) if r["status"] != "running"} == set(sources),
                daemon=daemon,
            )
            assert daemon.stop() == 0
    finally:
        silent.close()
    records = [r for r in runs(config) if r["finished_at"]]
    assert {r["status"] for r in records} <= {"timeout", "interrupted"}
    edges = sorted(
        itertools.chain.from_iterable(
            ((when(r["started_at"]), 1), (when(r["finished_at"]), -1)) for r in records
        ),
        key=lambda edge: (edge[0], edge[1]),
    )
    in_flight = list(itertools.accumulate(step for _, step in edges))
    assert max(in_flight) == 2, "two at a time, never more"


_WORDS = [
    "council", "budget", "river", "harbour", "election", "minister", "school", "storm", "bridge",
    "festival", "court", "museum", "railway", "farmers", "library", "hospital", "strike", "vote",
]


def _prose(path: str, n: int) -> str:
    """A sentence of its own for every page and paragraph: no two stories near-duplicates."""
    digest = hashlib.sha256(f"{path}:{n}".encode()).digest()
    words = [_WORDS[b % len(_WORDS)] for b in digest[:24]]
    return "The " + " ".join(words) + " were discussed again today."


class _SlowSite:
    """Two feeds on one host, each listing articles that take a while to serve; counts how
    many requests it is answering at once."""

    def __init__(self, articles: int = 6, pause: float = 0.3) -> None:
        self.lock = threading.Lock()
        self.current = 0
        self.most = 0
        self.paths: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with site.lock:
                    site.current += 1
                    site.most = max(site.most, site.current)
                    site.paths.append(self.path)
                try:
                    body, kind = site.page(self.path, articles)
                    if kind == "text/html":
                        time.sleep(pause)  # a slow article page: requests to the host overlap
                    self.send_response(200 if body else 404)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                finally:
                    with site.lock:
                        site.current -= 1

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(self, path: str, articles: int) -> tuple[bytes, str]:
        if path in ("/world.xml", "/politics.xml"):
            section = path[1:-4]
            items = "".join(
                f"<item><title>{section} {n}</title>"
                f"<link>{self.url}/2024/05/0{n % 9 + 1}/{section}-{n}.html</link></item>"
                for n in range(articles)
            )
            feed = (
                f'<?xml version="1.0"?><rss version="2.0"><channel><title>{section}</title>'
                f"{items}</channel></rss>"
            )
            return feed.encode(), "application/rss+xml"
        if path.endswith(".html"):
            paragraphs = "".join(f"<p>{_prose(path, n)}</p>" for n in range(8))
            return (f"<html><head><title>{path}</title></head><body><article><h1>{path}</h1>{paragraphs}"
                    "</article></body></html>").encode(), "text/html"
        return b"", "text/plain"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextmanager
def _slow_site() -> Iterator[_SlowSite]:
    site = _SlowSite()
    try:
        yield site
    finally:
        site.close()


def test_two_sources_on_one_host_keep_to_its_per_domain_together(tmp_path: Path) -> None:
    with _slow_site() as site:
        crawl = {"per_domain": 2, "concurrency": 16, "obey_robots": False}
        sources = {
            name: {"feeds": [f"{site.url}/{name}.xml"], "schedule": "every 1h", "crawl": crawl}
            for name in ("world", "politics")
        }
        config = write_config(tmp_path, sources)
        with running_daemon(config) as daemon:
            wait_until(
                "both sources' runs",
                lambda: finished(config, "world", "ok") and finished(config, "politics", "ok"),
                daemon=daemon,
            )
            assert daemon.stop() == 0
    world, politics = finished(config, "world", "ok")[0], finished(config, "politics", "ok")[0]
    assert world["new"] == politics["new"] == 6
    # The two runs overlapped (each alone takes three rounds of the pause)...
    assert when(world["started_at"]) < when(politics["finished_at"])
    assert when(politics["started_at"]) < when(world["finished_at"])
    # ...and the host never had more than its per_domain requests at once from both together.
    assert site.most == 2, site.most


def test_a_worker_is_recycled_after_recycle_runs_and_no_run_is_lost(tmp_path: Path) -> None:
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        config = write_config(
            tmp_path,
            {"live": feed_source(site, schedule="every 1s")},
            extra={"daemon": {"recycle_runs": 2}},
        )
        with running_daemon(config) as daemon:
            wait_until(
                "runs on a third worker",
                lambda: len({e["worker_pid"] for e in daemon.events("run_finished", "live")}) >= 3,
                daemon=daemon,
            )
            assert daemon.stop() == 0
    ends = daemon.events("run_finished", "live")
    by_worker: dict[int, list[int]] = {}
    for end in ends:
        by_worker.setdefault(end["worker_pid"], []).append(end["worker_runs"])
    first, second = list(by_worker)[:2]
    assert by_worker[first] == [1, 2] and by_worker[second] == [1, 2], by_worker
    assert len(daemon.events("worker_recycled")) >= 2
    recycled = [e for e in ends if e["worker_pid"] in (first, second)]
    assert {e["status"] for e in recycled} == {"ok"}, "a recycled worker's runs end as they would"
    # Only the SIGTERM at the end may have interrupted a run: the last one.
    records = runs(config)
    assert [r["status"] for r in records[:-1]] == ["ok"] * (len(records) - 1)
    assert records[-1]["status"] in {"ok", "interrupted"}


def test_a_worker_killed_mid_crawl_loses_no_article_and_stores_none_twice(tmp_path: Path) -> None:
    with _slow_site() as site:
        crawl = {"per_domain": 1, "obey_robots": False}
        sources = {"world": {"feeds": [f"{site.url}/world.xml"], "schedule": "every 1s", "crawl": crawl}}
        config = write_config(tmp_path, sources)
        with running_daemon(config) as daemon:
            started = wait_until(
                "the first run", lambda: daemon.events("run_started", "world"), daemon=daemon
            )
            wait_until("articles being fetched", lambda: sum(p.endswith(".html") for p in site.paths) >= 2,
                       daemon=daemon)
            os.kill(int(started[0]["pid"]), signal.SIGKILL)
            wait_until("every article stored", lambda: _stored(config) == 6, daemon=daemon)
            assert daemon.stop() == 0
    statuses = [r["status"] for r in runs(config, "world")]
    assert statuses[0] == "interrupted" and "ok" in statuses, statuses
    assert _stored(config, distinct=False) == 6, "each article stored once"


def _stored(config: Path, *, distinct: bool = True) -> int:
    from sqlalchemy import create_engine, text

    from tests.daemontools import database_url

    engine = create_engine(database_url(config))
    try:
        with engine.connect() as connection:
            column = "COUNT(DISTINCT url)" if distinct else "COUNT(*)"
            return int(connection.execute(text(f"SELECT {column} FROM articles")).scalar() or 0)
    except Exception:  # the schema is not there yet
        return 0
    finally:
        engine.dispose()


def test_a_worker_above_recycle_memory_is_replaced_and_no_run_is_lost(tmp_path: Path) -> None:
    # 64 MiB, the least the config allows, is below what any crawl worker holds (Scrapy alone
    # is more): each look at the workers' memory recycles the one serving.
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        config = write_config(
            tmp_path,
            {"live": feed_source(site, schedule="every 1s")},
            extra={"daemon": {"recycle_memory": 64}},
        )
        with running_daemon(config) as daemon:
            recycled = wait_until(
                "a worker recycled for its memory",
                lambda: [e for e in daemon.events("worker_recycled") if "recycle_memory" in e["reason"]],
                daemon=daemon,
            )
            first = recycled[0]["pid"]
            wait_until(
                "a run on the worker that replaced it",
                lambda: [e for e in daemon.events("run_finished", "live") if e["worker_pid"] != first],
                daemon=daemon,
            )
            assert daemon.stop() == 0
    ends = daemon.events("run_finished", "live")
    assert any(e["worker_pid"] == first for e in ends), "the first worker served runs before"
    records = runs(config)
    assert [r["status"] for r in records[:-1]] == ["ok"] * (len(records) - 1), records
    assert records[-1]["status"] in {"ok", "interrupted"}


# Injected into the crawl workers (through sitecustomize, which Python imports at start-up):
# the crawl of the source named "broken" raises where no crawl of a valid config can, inside
# Scrapy's start of the crawl, as a bug in a spider or a pipeline would.
FAULT = '''
import importlib.abc, importlib.machinery, sys


class _Fault(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "crawler.spiders.news":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            original = module.NewsSpider.from_crawler.__func__

            def from_crawler(cls, crawler, *args, **kwargs):
                if kwargs["source"].name == "broken":
                    raise RuntimeError("injected fault")
                return original(cls, crawler, *args, **kwargs)

            module.NewsSpider.from_crawler = classmethod(from_crawler)

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, _Fault())
'''


def test_a_run_that_raises_is_recorded_failed_and_its_worker_serves_on(tmp_path: Path) -> None:
    inject = tmp_path / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(FAULT, encoding="utf-8")
    with NewsSite(fixtures=False) as site:
        site.add_article(synthetic_article(1))
        sources = {
            "broken": feed_source(site, schedule="every 1s"),
            "live": feed_source(site, schedule="every 1s"),
        }
        config = write_config(tmp_path, sources)
        pythonpath = os.pathsep.join(filter(None, [str(inject), os.environ.get("PYTHONPATH")]))
        with running_daemon(config, env={"PYTHONPATH": pythonpath}) as daemon:
            wait_until("three failed runs of the broken source",
                       lambda: len(finished(config, "broken", "failed")) >= 3, daemon=daemon)
            wait_until("three runs of the live source",
                       lambda: len(finished(config, "live", "ok")) >= 3, daemon=daemon)
            assert daemon.stop() == 0
    failed = finished(config, "broken", "failed")
    assert all("RuntimeError: injected fault" in (r["error"] or "") for r in failed), failed
    assert not finished(config, "broken", "ok")
    live = [r["status"] for r in runs(config, "live")]
    assert set(live[:-1]) == {"ok"}, live
    # The runs that raised took nothing down: one worker served every run of both sources.
    assert len(daemon.events("worker_ready")) == 1, daemon.log_text()
    assert len({e["worker_pid"] for e in daemon.events("run_finished")}) == 1
