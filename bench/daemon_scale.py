"""The daemon at scale: N sources, each polling a small feed of its own every 30 s.

    .venv/bin/python bench/daemon_scale.py --sources 200 [--interval 30] [--minutes 3]
        [--new-per-minute 20] [--hosts 4] [--workers 1] [--database URL]

A local site, on --hosts addresses (127.0.0.1, 127.0.0.2...), serves each source's RSS feed
(with an ETag, so that an unchanged feed answers 304) and its articles (prose of their own, no
two near-duplicates); the sources are spread over the hosts. The daemon is
`python scheduler.py` as a user runs it, on a fresh SQLite file (or --database). Once every
source has stored its first articles (the warm-up), the measured window begins: for
--minutes, new articles appear on random sources' feeds at --new-per-minute. Printed:

- runs done in the window (ok records started in it) against runs due (N x window / interval);
- CPU of the daemon's whole process tree (daemon, crawl workers, extraction pools) over the
  window, as a share of the machine (every core) and per run;
- peak memory of the tree: the sum of Pss over its processes (/proc/PID/smaps_rollup), sampled
  every second, during the window and overall;
- how long each new article took from its appearance on the feed to being stored;
- whether any article URL was downloaded twice (from the site's request log);
- the daemon's exit status on SIGTERM.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from proctree import machine_busy, tree_cpu, tree_pss
from sqlalchemy import create_engine, text

ROOT = Path(__file__).resolve().parent.parent
READY = "SELECT COUNT(DISTINCT source) FROM crawl_runs WHERE status = 'ok'"
RUNS_BY_STATUS = (
    "SELECT status, COUNT(*) FROM crawl_runs WHERE started_at >= :b AND started_at < :e GROUP BY status"
)
WORDS = [hashlib.sha1(str(n).encode()).hexdigest()[:7] for n in range(4000)]  # a big vocabulary


def prose(key: str, paragraphs: int = 6) -> str:
    """Text of its own for every article: no two stories look alike to the near-duplicate check."""
    rng = random.Random(key)
    return "".join(
        "<p>" + " ".join(rng.choice(WORDS) for _ in range(40)) + ".</p>" for _ in range(paragraphs)
    )


class Site:
    """Source i's feed at /s{i}/feed.xml, its articles at /s{i}/2024/05/01/story-{k}.html."""

    def __init__(self, sources: int, articles_each: int, hosts: int = 1) -> None:
        self.lock = threading.Lock()
        self.articles: dict[int, list[tuple[str, datetime]]] = {}
        self.appeared: dict[str, float] = {}  # article path -> time.time() it joined its feed
        self.hits: Counter[str] = Counter()
        start = datetime(2024, 5, 1, tzinfo=UTC)
        for i in range(sources):
            self.articles[i] = [
                (f"/s{i}/2024/05/01/story-{k}.html", start + timedelta(minutes=k))
                for k in range(articles_each)
            ]
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                status, body, kind = site.answer(self.path)
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

            def log_message(self, format: str, *args: object) -> None:
                pass

        # Hosts 127.0.0.1, 127.0.0.2...: every address of 127.0.0.0/8 is the loopback.
        self.servers = []
        for n in range(hosts):
            server = ThreadingHTTPServer((f"127.0.0.{n + 1}", 0), Handler)
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"site-{n}", daemon=True).start()
            self.servers.append(server)

    def base(self, i: int) -> str:
        """Where source i's site is."""
        host, port = self.servers[i % len(self.servers)].server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}"

    def add(self, i: int) -> str:
        with self.lock:
            k = len(self.articles[i])
            path = f"/s{i}/2024/05/02/story-{k}.html"
            self.articles[i].append((path, datetime.now(UTC)))
            self.appeared[path] = time.time()
        return path

    def answer(self, path: str) -> tuple[int, bytes, str]:
        with self.lock:
            self.hits[path] += 1
            parts = path.split("/")
            if len(parts) < 3 or not parts[1].startswith("s") or not parts[1][1:].isdigit():
                return (200, b"User-agent: *\nAllow: /\n", "text/plain") if path == "/robots.txt" else (
                    404, b"", "text/plain")
            i = int(parts[1][1:])
            stories = list(self.articles.get(i, []))
        if parts[2] == "feed.xml":
            items = "".join(
                f"<item><title>Story {p}</title><link>{self.base(i)}{p}</link>"
                f"<pubDate>{format_datetime(when)}</pubDate></item>"
                for p, when in reversed(stories[-20:])
            )
            feed = (f'<?xml version="1.0"?><rss version="2.0"><channel><title>s{i}</title>'
                    f"{items}</channel></rss>")
            return 200, feed.encode(), "application/rss+xml"
        if any(p == path for p, _ in stories):
            page = (f"<html><head><title>{path}</title></head><body><article><h1>Story {path}</h1>"
                    f"{prose(path)}</article></body></html>")
            return 200, page.encode(), "text/html; charset=utf-8"
        return 404, b"", "text/plain"

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()


def query(engine: Any, sql: str, **params: Any) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql), params))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=200)
    parser.add_argument("--interval", type=float, default=30.0, help="seconds between polls of a source")
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the measured window")
    parser.add_argument("--new-per-minute", type=float, default=20.0, help="new articles, over all sources")
    parser.add_argument("--articles", type=int, default=3, help="articles on each feed at the start")
    parser.add_argument("--hosts", type=int, default=4, help="sites (127.0.0.1, .2, ...) the sources share")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--max-runs", type=int, default=32)
    parser.add_argument("--database", help="SQLAlchemy URL (default: a fresh SQLite file)")
    parser.add_argument("--warm-up-timeout", type=float, default=600.0)
    args = parser.parse_args()

    site = Site(args.sources, args.articles, args.hosts)
    with tempfile.TemporaryDirectory(prefix="newsmill-scale-") as tmp:
        database = args.database or f"sqlite:///{Path(tmp) / 'news.db'}"
        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump({
            "database": database,
            "crawl": {"timeout": 10, "per_domain": 8, "concurrency": 16},
            "daemon": {"workers": args.workers, "max_runs": args.max_runs},
            "sources": {
                f"s{i}": {"feeds": [f"{site.base(i)}/s{i}/feed.xml"], "schedule": f"every {args.interval:g}s"}
                for i in range(args.sources)
            },
        }), encoding="utf-8")
        log = open(Path(tmp) / "daemon.log", "wb")  # noqa: SIM115 - open while the daemon runs
        daemon = subprocess.Popen(
            [sys.executable, "scheduler.py", "--config", str(config), "--log-format", "json"],
            cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
        )
        peak = {"all": 0, "window": 0}
        in_window = threading.Event()
        done = threading.Event()

        def sample() -> None:
            while not done.wait(1.0):
                pss = tree_pss(daemon.pid)
                peak["all"] = max(peak["all"], pss)
                if in_window.is_set():
                    peak["window"] = max(peak["window"], pss)

        threading.Thread(target=sample, daemon=True).start()
        engine = None
        try:
            started = time.time()
            print(f"{args.sources} sources every {args.interval:g}s; warming up...", file=sys.stderr)
            while True:
                time.sleep(2)
                if daemon.poll() is not None:
                    raise SystemExit(f"the daemon exited ({daemon.returncode}); see {log.name}")
                try:
                    engine = engine or create_engine(database)
                    ready = query(engine, READY)[0][0]
                except Exception:
                    ready = 0
                if ready >= args.sources:
                    break
                if time.time() - started > args.warm_up_timeout:
                    raise SystemExit(f"warm-up: only {ready} of {args.sources} sources ran in time")
            warm_up = time.time() - started
            assert engine is not None
            window = args.minutes * 60
            cpu0, (busy0, total0) = tree_cpu(daemon.pid), machine_busy()
            t0 = time.time()
            begin = datetime.fromtimestamp(t0, UTC)
            in_window.set()
            rng = random.Random(1)
            gap = 60.0 / args.new_per_minute if args.new_per_minute > 0 else window + 1
            next_new = t0 + gap
            added: list[str] = []
            while time.time() < t0 + window:
                now = time.time()
                if now >= next_new:
                    added.append(site.add(rng.randrange(args.sources)))
                    next_new += gap
                time.sleep(min(0.2, max(next_new - time.time(), 0.01)))
            t1 = time.time()
            cpu1, (busy1, total1) = tree_cpu(daemon.pid), machine_busy()
            in_window.clear()
            # Articles added near the end get one more interval (and 10 s) to be stored.
            time.sleep(min(args.interval + 10, 60))
            end = datetime.fromtimestamp(t1, UTC)
            runs = query(
                engine,
                RUNS_BY_STATUS,
                b=begin.replace(tzinfo=None) if database.startswith("sqlite") else begin,
                e=end.replace(tzinfo=None) if database.startswith("sqlite") else end,
            )
            stored = {
                row[0]: row[1]
                for row in query(engine, "SELECT url, first_seen_at FROM article_urls")
            }
        finally:
            done.set()
            daemon.send_signal(signal.SIGTERM)
            try:
                code = daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                code = daemon.wait()
            log.close()
            site.close()
            if engine is not None:
                engine.dispose()

    by_status = dict((s, n) for s, n in runs)
    ok = by_status.get("ok", 0)
    due = args.sources * window / args.interval
    cpu = cpu1 - cpu0
    cores = len(os.sched_getaffinity(0))
    latencies = []
    missing = []
    for path in added:
        when = stored.get(site.base(int(path.split("/")[1][1:])) + path)
        if when is None:
            missing.append(path)
            continue
        when = when if isinstance(when, datetime) else datetime.fromisoformat(str(when))
        when = when if when.tzinfo else when.replace(tzinfo=UTC)
        latencies.append(when.timestamp() - site.appeared[path])
    article_hits = {p: n for p, n in site.hits.items() if p.endswith(".html")}
    twice = sorted(p for p, n in article_hits.items() if n > 1)
    machine = 100 * (busy1 - busy0) / (total1 - total0)
    print(f"sources {args.sources} on {args.hosts} hosts, every {args.interval:g}s, workers {args.workers}, "
          f"max_runs {args.max_runs}")
    print(f"warm-up (first run of every source, {args.articles} articles each): {warm_up:.0f}s")
    print(f"window {window:.0f}s: runs done {ok} of {due:.0f} due ({100 * ok / due:.1f}%); "
          f"by status {by_status}")
    print(f"daemon tree CPU {cpu:.1f}s = {100 * cpu / (window * cores):.1f}% of the machine "
          f"({cores} cores), {1000 * cpu / max(ok, 1):.1f} ms per run; machine busy {machine:.0f}%")
    print(f"peak PSS of the tree: {peak['window'] / 1024:.0f} MiB in the window, "
          f"{peak['all'] / 1024:.0f} MiB overall")
    if latencies:
        print(f"new articles: {len(added)} added, {len(latencies)} stored; appearance to storage "
              f"median {statistics.median(latencies):.1f}s, max {max(latencies):.1f}s; "
              f"not stored: {len(missing)}")
    else:
        print(f"new articles: {len(added)} added, none stored")
    print(f"article URLs downloaded twice: {len(twice)}{(' ' + ', '.join(twice[:5])) if twice else ''}")
    print(f"daemon exit status on SIGTERM: {code}")
    return 0 if code == 0 and not twice and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
