"""What the daemon's monitoring costs per run: the CPU the monitor thread spends after a run
(the source's health from its newest runs, a health alert's check, an articles alert's
new-article query and match), against a database with a long history.

    .venv/bin/python bench/monitor_cost.py [--sources 50] [--runs 3000] [--rounds 200]

It fills a fresh SQLite file with `--runs` run records per source (each with extraction stats,
a third of them storing one article), then records `--rounds` more runs, timing the monitor's
work after each (the first pass over each source reads its window: counted too). Compare with
a run's own CPU: bench/daemon_scale.py measures it for the whole daemon tree.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common.health import Thresholds  # noqa: E402
from crawler.config import AlertConfig  # noqa: E402
from crawler.monitor.alerts import Alerts  # noqa: E402
from crawler.monitor.metrics import Metrics  # noqa: E402
from crawler.monitor.webhooks import Webhooks  # noqa: E402
from pipelines.storage.database import Store  # noqa: E402
from pipelines.storage.health import History  # noqa: E402
from pipelines.storage.models import Article, CrawlRun  # noqa: E402


def fill(store: Store, sources: int, runs: int) -> None:
    rng = random.Random(19)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with store.sessions.begin() as session:
        for s in range(sources):
            for r in range(runs):
                at = start + timedelta(minutes=15 * r)
                new = 1 if r % 3 == 0 else 0
                pages = new + rng.randint(0, 1)
                session.add(
                    CrawlRun(
                        source=f"s{s}",
                        trigger="schedule",
                        started_at=at,
                        finished_at=at + timedelta(seconds=20),
                        status="ok",
                        pages=pages,
                        new=new,
                        duplicates=0,
                        skipped={"already stored": 40},
                        errors={},
                        extraction={
                            "pages": pages,
                            "no_text": 0,
                            "articles": pages,
                            "median_length": 3000,
                            "filled": {
                                f: pages for f in ("title", "authors", "published_at", "language", "image")
                            },
                        },
                    )
                )
                if new:
                    session.add(
                        Article(
                            source=f"s{s}",
                            url=f"https://s{s}.example/{r}",
                            title=f"Story {r}",
                            text="Body " * 200,
                            content_hash=f"{s}-{r}",
                            first_seen_at=at,
                        )
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sources", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'bench.db'}")
        store.create_schema()
        fill(store, args.sources, args.runs)
        metrics = Metrics()
        hooks = Webhooks(metrics.alert)
        alerts = Alerts(
            [
                AlertConfig(webhook="http://127.0.0.1:9/h", on=["health"]),
                AlertConfig(webhook="http://127.0.0.1:9/n", on=["articles"], match=["nothing-matches"]),
            ],
            store,
            hooks,
        )
        thresholds = Thresholds()
        history = History()
        last = store.runs(source="s0", limit=1)[0]
        cpu = wall = 0.0
        for i in range(args.rounds):
            # What the monitor does after a run (crawler.monitor.monitor.Monitor._after_run),
            # one new run record a round.
            name = f"s{i % args.sources}"
            if i >= args.sources:
                with store.sessions.begin() as session:
                    session.add(
                        CrawlRun(
                            source=name,
                            trigger="schedule",
                            status="ok",
                            pages=0,
                            new=0,
                            duplicates=0,
                            skipped={"already stored": 40},
                            errors={},
                            extraction=None,
                            finished_at=last.finished_at,
                        )
                    )
            cpu_start, wall_start = time.process_time(), time.perf_counter()  # the monitor's part only
            health = history.health(store, name, thresholds)
            for run in history.added:
                metrics.run(run)
                alerts.run_finished(name, run.started_at, run.new)
            metrics.health_state(name, health.status)
            alerts.health_changed(health)
            cpu += time.process_time() - cpu_start
            wall += time.perf_counter() - wall_start
        store.close()
    print(
        f"{args.sources} sources x {args.runs} runs: monitor work per run "
        f"{1000 * cpu / args.rounds:.1f} ms CPU, {1000 * wall / args.rounds:.1f} ms wall "
        f"(mean of {args.rounds}; 2 shared cores, noisy)"
    )


if __name__ == "__main__":
    main()
