"""`newsmill health`: each source ok, degraded or failing, and why; exit 1 unless all are ok,
so that cron and monitoring systems can act on it."""

from __future__ import annotations

import argparse
import json
import sys

from crawler.commands.common import EXIT_FAILED, EXIT_OK, load
from crawler.table import print_table, when


def run(args: argparse.Namespace) -> int:
    from pipelines.storage.database import Store
    from pipelines.storage.health import health_of

    config = load(args)
    names = args.sources or sorted(config.sources)
    sources = [(name, config.source(name).health) for name in names]  # an unknown name: exit 2
    store = Store(config.database)
    try:
        store.create_schema()
        verdicts = health_of(store, sources)
    finally:
        store.close()
    if args.json:
        json.dump([h.as_dict() for h in verdicts], sys.stdout, indent=2)
        print()
    else:
        rows = []
        for h in verdicts:
            record = h.as_dict()
            reasons = h.reasons or ["-"]
            rows.append(
                [h.source, h.status, when(record["since"]), reasons[0], when(record["last_good_run"])]
            )
            # Each further reason on a line of its own, under the first.
            rows.extend(["", "", "", reason, ""] for reason in reasons[1:])
        print_table(["source", "status", "since", "reasons", "last good run"], rows, sys.stdout)
    return EXIT_OK if all(h.status == "ok" for h in verdicts) else EXIT_FAILED


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    health = commands.add_parser(
        "health",
        help="per-source health: ok, degraded or failing, and why",
        description=(
            "Each source's health, judged from its own recent runs: failed runs in a row and their "
            "cause, extraction falling below the source's own baseline, silence much longer than "
            "its usual gap between new articles. Thresholds: `health:` in config.yaml."
        ),
        epilog="Exit status: 0 every source is ok, 1 any is degraded or failing, 2 usage or config error.",
    )
    health.add_argument("sources", nargs="*", metavar="SOURCE", help="only these sources (default: all)")
    health.add_argument(
        "--json", action="store_true", help="a JSON list: source, status, reasons, since, last_good_run"
    )
    health.set_defaults(func=run)
