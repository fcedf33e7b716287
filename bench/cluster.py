"""A cluster on one machine: 1 scheduler and 1, 2, 3 `newsmill worker`s against sites whose every
response takes 200-500 ms, as remote sites' do.

    .venv/bin/python bench/cluster.py [--workers 1 2 3] [--sources 60] [--interval 3] [--minutes 1]
        [--concurrency 2] [--backfills 6] [--urls 80] [--latency 0.2 0.5] [--database URL]

For each worker count, on a fresh PostgreSQL database (created and dropped beside --database's):

- runs: --sources sources, each polling the RSS feed of a site of its own (127.0.0.10, .11, ...;
  the cluster crawls one site at a time, so sources on one host would take turns), a few
  articles each, new ones appearing at --new-per-minute. After a warm-up (every source's first
  run done), the bench is the scheduler for --minutes: it defers a run of every source every
  --interval seconds (crawler.cluster.app.defer_crawl; a source with a run waiting gets no
  second one), more than the workers can do, so the runs done per minute are their capacity.
- backfill: --backfills sources on sites of their own (127.0.1.1, ...), each a sitemap index of
  two child sitemaps, --urls articles in all; `newsmill backfill NAME --detach` queues the parts
  and the workers crawl them. Pages per second: article pages stored over the time from the
  first part's start to the last part's end.

Printed per worker count: runs done per minute, with the runs due; backfill pages per second;
the machine's CPU use and its load average (1 min) at the end of each phase. Every worker, its
crawl process and the bench's sites share this machine's cores: what it measures is the
workers' concurrency against network latency, not machines added.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from daemon_scale import prose
from proctree import machine_busy, tree_cpu
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARTICLES = r"/\d{4}/\d{2}/\d{2}/[^/]+\.html$"


class Sites:
    """Feeds on 127.0.0.10+i (source s{i}), sitemap archives on 127.0.1.1+j (backfill b{j});
    every answer after a random pause in --latency."""

    def __init__(self, sources: int, backfills: int, urls: int, latency: tuple[float, float]) -> None:
        self.lock = threading.Lock()
        self.latency = latency
        start = datetime(2024, 5, 1, tzinfo=UTC)
        self.feeds = {
            i: [(f"/s{i}/2024/05/01/story-{k}.html", start + timedelta(minutes=k)) for k in range(3)]
            for i in range(sources)
        }
        self.per_archive = max(urls // max(backfills, 1), 2)
        self.servers: dict[str, ThreadingHTTPServer] = {}
        sites = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                time.sleep(random.uniform(*sites.latency))
                host = str(self.server.server_address[0])  # type: ignore[index]
                status, body, kind = sites.answer(host, self.path)
                etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
                if status == 200 and self.headers.get("If-None-Match") == etag:
                    status, body = 304, b""
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                if status in (200, 304):
                    self.send_header("ETag", etag)
                self.end_headers()
                if body:
                    self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        hosts = [f"127.0.0.{10 + i}" for i in range(sources)] + [f"127.0.1.{1 + j}" for j in range(backfills)]
        for host in hosts:
            server = ThreadingHTTPServer((host, 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, daemon=True).start()
            self.servers[host] = server

    def base(self, host: str) -> str:
        return f"http://{host}:{self.servers[host].server_address[1]}"

    def add(self, i: int) -> None:
        with self.lock:
            k = len(self.feeds[i])
            self.feeds[i].append((f"/s{i}/2024/05/02/story-{k}.html", datetime.now(UTC)))

    def answer(self, host: str, path: str) -> tuple[int, bytes, str]:
        base = self.base(host)
        if path == "/robots.txt":
            return 200, b"User-agent: *\nAllow: /\n", "text/plain"
        if path.endswith(".html"):
            page = (
                f"<html><head><title>{path}</title></head><body><article><h1>Story {path}</h1>"
                f"{prose(host + path, 5)}</article></body></html>"
            )
            return 200, page.encode(), "text/html; charset=utf-8"
        if path.endswith("/feed.xml"):
            with self.lock:
                stories = list(self.feeds[int(path.split("/")[1][1:])][-10:])
            items = "".join(
                f"<item><title>Story {p}</title><link>{base}{p}</link>"
                f"<pubDate>{format_datetime(when)}</pubDate></item>"
                for p, when in reversed(stories)
            )
            return (
                200,
                (
                    f'<?xml version="1.0"?><rss version="2.0"><channel><title>{host}</title>{items}'
                    "</channel></rss>"
                ).encode(),
                "application/rss+xml",
            )
        half = self.per_archive // 2
        if path == "/index.xml":
            maps = "".join(f"<sitemap><loc>{base}/sitemap-{m}.xml</loc></sitemap>" for m in range(2))
            return (
                200,
                (
                    '<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"{maps}</sitemapindex>"
                ).encode(),
                "application/xml",
            )
        if path.startswith("/sitemap-"):
            m = int(path[9:-4])
            urls = "".join(
                f"<url><loc>{base}/2023/0{m + 1}/01/report-{n}.html</loc></url>"
                for n in range(m * half, (m + 1) * half)
            )
            return (
                200,
                (
                    '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                    f"{urls}</urlset>"
                ).encode(),
                "application/xml",
            )
        return 404, b"", "text/plain"

    def close(self) -> None:
        for server in self.servers.values():
            server.shutdown()
            server.server_close()


def workers_cpu(roots: list[int]) -> float:
    """CPU-seconds of the workers' trees (worker, crawl process, extraction pool, parts' children
    they have reaped); PostgreSQL's backends are not in it."""
    return sum(tree_cpu(root) for root in roots)


def newsmill(config: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), *args],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def wait(condition: Any, what: str, timeout: float) -> None:
    deadline = time.time() + timeout
    while not condition():
        if time.time() > deadline:
            raise SystemExit(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.5)


def one(workers: int, args: argparse.Namespace, sites: Sites, admin: str) -> dict[str, float]:
    from crawler.cluster.app import defer_crawl, make_app
    from crawler.config import load_config

    name = "newsmill_cluster_bench"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        connection.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    database = make_url(admin).set(database=name).render_as_string(hide_password=False)
    db = create_engine(database)

    def scalar(sql: str, **params: Any) -> Any:
        with db.connect() as connection:
            return connection.execute(text(sql), params).scalar()

    with tempfile.TemporaryDirectory(prefix="newsmill-cluster-") as tmp:
        config = Path(tmp) / "config.yaml"
        sources: dict[str, Any] = {
            f"s{i}": {"feeds": [f"{sites.base(f'127.0.0.{10 + i}')}/s{i}/feed.xml"]}
            for i in range(args.sources)
        }
        sources |= {
            f"b{j}": {"sitemaps": [f"{sites.base(f'127.0.1.{1 + j}')}/index.xml"], "articles": [ARTICLES]}
            for j in range(args.backfills)
        }
        config.write_text(
            yaml.safe_dump(
                {
                    "database": database,
                    "crawl": {"timeout": 10, "per_domain": 2, "concurrency": 16, "delay": 0, "retries": 0},
                    "daemon": {"workers": 1, "grace_period": 5},
                    "sources": sources,
                }
            ),
            encoding="utf-8",
        )
        newsmill(config, "db", "upgrade")
        logs = [open(Path(tmp) / f"worker-{n}.log", "wb") for n in range(workers)]  # noqa: SIM115
        procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "crawler.cli",
                    "--config",
                    str(config),
                    "worker",
                    "--concurrency",
                    str(args.concurrency),
                ],
                cwd=ROOT,
                stdout=log,
                stderr=log,
            )
            for log in logs
        ]
        loaded = load_config(config)
        app = make_app(database)
        try:
            wait(lambda: scalar("SELECT count(*) FROM procrastinate_workers") == workers, "workers up", 120)
            runs = [s for s in loaded.sources.values() if s.name.startswith("s")]
            with app.open():
                for source in runs:
                    defer_crawl(app, source)
                wait(
                    lambda: (
                        scalar("SELECT count(DISTINCT source) FROM crawl_runs WHERE status = 'ok'")
                        >= len(runs)
                    ),
                    "every source's first run",
                    600,
                )
                wait(
                    lambda: (
                        scalar("SELECT count(*) FROM procrastinate_jobs WHERE status IN ('todo', 'doing')")
                        == 0
                    ),
                    "the warm-up's runs done",
                    300,
                )
                # The window: the bench schedules every source every --interval seconds.
                busy0, total0 = machine_busy()
                cpu0 = workers_cpu([p.pid for p in procs])
                t0 = time.time()
                begin = datetime.now(UTC)
                due = 0
                rng = random.Random(1)
                next_new, gap = t0, 60.0 / args.new_per_minute
                next_due = {s.name: t0 + rng.uniform(0, args.interval) for s in runs}
                while time.time() < t0 + args.minutes * 60:
                    now = time.time()
                    for source in runs:
                        if now >= next_due[source.name]:
                            due += 1
                            next_due[source.name] += args.interval
                            defer_crawl(app, source)
                    if now >= next_new:
                        sites.add(rng.randrange(args.sources))
                        next_new += gap
                    time.sleep(0.05)
                end = datetime.now(UTC)
                busy1, total1 = machine_busy()
                cpu1 = workers_cpu([p.pid for p in procs])
                done = scalar(
                    "SELECT count(*) FROM crawl_runs WHERE status = 'ok' AND finished_at >= :b "
                    "AND finished_at < :e AND source LIKE 's%%'",
                    b=begin,
                    e=end,
                )
                failed = scalar(
                    "SELECT count(*) FROM crawl_runs WHERE status NOT IN ('ok', 'running') "
                    "AND finished_at >= :b AND source LIKE 's%%'",
                    b=begin,
                )
                runs_load = os.getloadavg()[0]
                with db.begin() as connection:  # the window's leftovers are not the backfill's to wait for
                    connection.execute(text("DELETE FROM procrastinate_jobs WHERE status = 'todo'"))
                wait(
                    lambda: scalar("SELECT count(*) FROM procrastinate_jobs WHERE status = 'doing'") == 0,
                    "the window's last runs done",
                    120,
                )
            # The backfills, all at once.
            busy2, total2 = machine_busy()
            queued = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "crawler.cli",
                        "--config",
                        str(config),
                        "backfill",
                        f"b{j}",
                        "--detach",
                        "-q",
                    ],
                    cwd=ROOT,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                for j in range(args.backfills)
            ]
            for process in queued:
                process.wait(timeout=300)
            wait(
                lambda: (
                    scalar("SELECT count(*) FROM backfill_parts WHERE status <> 'done'") == 0
                    and scalar("SELECT count(*) FROM backfill_parts") == 2 * args.backfills
                ),
                "backfills done",
                1200,
            )
            busy3, total3 = machine_busy()
            with db.connect() as connection:
                pages, first, last = connection.execute(
                    text("SELECT sum(pages), min(started_at), max(finished_at) FROM backfill_parts")
                ).one()
            backfill_load = os.getloadavg()[0]
        finally:
            for process in procs:
                process.send_signal(signal.SIGTERM)
            for process in procs:
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
            for log in logs:
                log.close()
            db.dispose()
    minutes = (end - begin).total_seconds() / 60
    return {
        "workers": workers,
        "runs_per_minute": done / minutes,
        "due_per_minute": due / minutes,
        "runs_failed": failed,
        "runs_cpu": 100 * (busy1 - busy0) / (total1 - total0),
        "ms_per_run": 1000 * (cpu1 - cpu0) / max(done, 1),
        "runs_load": runs_load,
        "pages": pages,
        "pages_per_second": pages / (last - first).total_seconds(),
        "backfill_cpu": 100 * (busy3 - busy2) / (total3 - total2),
        "backfill_load": backfill_load,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--sources", type=int, default=60)
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between two runs of a source")
    parser.add_argument("--minutes", type=float, default=1.0)
    parser.add_argument("--new-per-minute", type=float, default=30.0)
    parser.add_argument("--concurrency", type=int, default=2, help="each worker's --concurrency")
    parser.add_argument("--backfills", type=int, default=6)
    parser.add_argument("--urls", type=int, default=240, help="backfilled article URLs, over all backfills")
    parser.add_argument("--latency", type=float, nargs=2, default=[0.2, 0.5])
    parser.add_argument(
        "--database",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
        help="a PostgreSQL database to create the bench's own beside",
    )
    args = parser.parse_args()
    sites = Sites(args.sources, args.backfills, args.urls, (args.latency[0], args.latency[1]))
    print(
        f"{args.sources} sources every {args.interval:g}s, {args.minutes:g} min; {args.backfills} backfills "
        f"of {args.urls} URLs; --concurrency {args.concurrency}; latency {args.latency[0]:g}-"
        f"{args.latency[1]:g} s; {os.cpu_count()} cores",
        flush=True,
    )
    header = "workers  runs/min  (due/min)  failed  cpu%  ms/run  load | backfill pages/s  cpu%  load"
    print(header, flush=True)
    try:
        for workers in args.workers:
            r = one(workers, args, sites, args.database)
            print(
                f"{workers:7d}  {r['runs_per_minute']:8.0f}  ({r['due_per_minute']:7.0f})  "
                f"{r['runs_failed']:6d}  "
                f"{r['runs_cpu']:4.0f}  {r['ms_per_run']:6.1f}  {r['runs_load']:4.1f} | "
                f"{r['pages_per_second']:16.1f}  "
                f"{r['backfill_cpu']:4.0f}  {r['backfill_load']:4.1f}   ({r['pages']} pages)",
                flush=True,
            )
    finally:
        sites.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
