"""CPU of one poll that finds nothing new, inside a long-lived crawl worker.

    .venv/bin/python bench/poll_cost.py [--sources 50] [--rounds 10] [--postgres] [--profile N]

The daemon's crawl worker (crawler.daemon.worker.Worker over a crawler.runner.CrawlHost, as
`newsmill run` starts it) in this process, fed jobs over a socket pair as the daemon feeds it;
each of --sources sources polls its own feed on a local site (bench/daemon_scale.py's Site:
RSS with an ETag, so an unchanged feed answers 304). The first round stores the feeds'
articles; then --rounds rounds poll every source once more, --concurrency at a time, with
nothing new. Printed: CPU-seconds of this process (the worker's threads; the local site runs
in a child process) per poll over those rounds. `--profile N` prints the N costliest functions
of those rounds (cProfile, cumulative), which is where to look for what a poll costs.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import multiprocessing
import os
import pstats
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
BENCH_DATABASE = "newsmill_poll_bench"
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]


def serve_site(sources: int, conn: Connection) -> None:
    from daemon_scale import Site

    site = Site(sources, 3)
    conn.send([site.base(i) for i in range(sources)])
    conn.recv()  # until the bench is done
    site.close()


def fresh_postgres() -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{BENCH_DATABASE}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{BENCH_DATABASE}"'))
    admin.dispose()
    return make_url(POSTGRES_ADMIN).set(database=BENCH_DATABASE).render_as_string(hide_password=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10, help="polls of every source after the first")
    parser.add_argument("--concurrency", type=int, default=8, help="polls in flight at once")
    parser.add_argument("--postgres", action="store_true",
                        help=f"a fresh database on {POSTGRES_ADMIN} (default: a fresh SQLite file)")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print the N costliest functions")
    parser.add_argument("--callees", metavar="NAME",
                        help="with --profile: what the functions matching NAME call")
    args = parser.parse_args()

    # The site in a process of its own: its CPU is not the worker's.
    site_end, bench_end = multiprocessing.Pipe()
    site = multiprocessing.get_context("spawn").Process(target=serve_site, args=(args.sources, site_end))
    site.start()
    bases: list[str] = bench_end.recv()

    logging.basicConfig(level=logging.ERROR)  # as the daemon's workers log by default
    from scrapy.utils.reactor import install_reactor

    install_reactor("twisted.internet.asyncioreactor.AsyncioSelectorReactor")
    from twisted.internet import reactor

    from crawler.config import parse_config
    from crawler.daemon.jobs import Job
    from crawler.daemon.worker import Worker
    from crawler.runner import CrawlHost
    from pipelines.storage import schema

    with tempfile.TemporaryDirectory(prefix="newsmill-poll-") as tmp:
        database = fresh_postgres() if args.postgres else f"sqlite:///{Path(tmp) / 'news.db'}"
        config = parse_config({
            "database": database,
            "crawl": {"timeout": 10, "per_domain": 8, "concurrency": 16},
            "sources": {
                f"s{i}": {"feeds": [f"{bases[i]}/s{i}/feed.xml"], "schedule": "every 30s"}
                for i in range(args.sources)
            },
        })
        schema.prepare(database)
        host = CrawlHost(database, runs=args.concurrency)
        worker_end, daemon_end = multiprocessing.Pipe()
        worker = Worker(worker_end, host, config)
        names = list(config.sources)
        results: dict[str, int] = {}
        # The reactor thread's CPU: the one a worker cannot spread over cores.
        profiler = cProfile.Profile(time.thread_time) if args.profile else None
        clock: dict[str, float] = {}

        def feed(rounds: int, on_done: Any) -> None:
            """Send every source `rounds` times, --concurrency in flight; on_done when over."""
            todo = [name for _ in range(rounds) for name in names]
            ids = iter(range(1, len(todo) + 1))

            def send_next() -> None:
                if todo:
                    worker.handle(("run", Job(next(ids), todo.pop(0), "bench", datetime.now(UTC))))

            def answers() -> None:
                pending = len(todo)
                for _ in range(min(args.concurrency, len(todo))):
                    reactor.callFromThread(send_next)
                while pending:
                    message = daemon_end.recv()
                    if message[0] in ("finished", "skipped"):
                        pending -= 1
                        status = message[2].status if message[0] == "finished" else "skipped"
                        if message[0] == "skipped":
                            print(f"skipped: {message[2]}", file=sys.stderr)
                        results[status] = results.get(status, 0) + 1
                        reactor.callFromThread(send_next)
                reactor.callFromThread(on_done)

            threading.Thread(target=answers, daemon=True).start()

        def measured_done() -> None:
            if profiler:
                profiler.disable()
            clock["cpu"] = time.process_time() - clock["cpu"]
            clock["wall"] = time.monotonic() - clock["wall"]
            reactor.stop()

        def warm_done() -> None:
            warm = dict(results)
            results.clear()
            print(f"first round: {warm}", file=sys.stderr)
            clock["cpu"], clock["wall"] = time.process_time(), time.monotonic()
            if profiler:
                profiler.enable()
            feed(args.rounds, measured_done)

        reactor.callWhenRunning(feed, 1, warm_done)
        reactor.run(installSignalHandlers=False)
        host.close()
    bench_end.send("done")
    site.join()

    polls = args.sources * args.rounds
    with open("/proc/self/status", encoding="ascii") as status:
        rss = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print(f"peak RSS of the worker (this process, its extraction pool aside): {int(rss) // 1024} MiB")
    print(f"{polls} polls that found nothing new ({results}): "
          f"{clock['cpu'] / polls * 1000:.1f} ms CPU a poll, {polls / clock['wall']:.0f} polls/s "
          f"(wall {clock['wall']:.1f} s, load {os.getloadavg()[0]:.1f})")
    if profiler:
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(args.profile)
        if args.callees:
            stats.print_callees(args.callees)
    return 0


if __name__ == "__main__":
    sys.exit(main())
