"""`newsmill db`: the database's schema revision, and articles spooled during an outage."""

from __future__ import annotations

import argparse

from crawler.commands.common import EXIT_FAILED, EXIT_OK, load


def _upgrade(args: argparse.Namespace) -> int:
    from pipelines.storage import schema

    config = load(args)
    before, after = schema.upgrade(config.database, args.revision)
    where = schema.describe(config.database)
    if before == after:
        print(f"{where}: already at revision {after}")
    else:
        print(f"{where}: upgraded from {before or 'an empty schema'} to {after}")
    return EXIT_OK


def _current(args: argparse.Namespace) -> int:
    from pipelines.storage import schema

    config = load(args)
    revision, head = schema.current(config.database), schema.head()
    if revision == head:
        state = "up to date"
    elif revision is None:
        state = "no schema yet: the first crawl creates it, or run `newsmill db upgrade`"
    else:
        state = f"outdated, this newsmill needs {head}: run `newsmill db upgrade`"
    print(f"{schema.describe(config.database)}: revision {revision or 'none'} ({state})")
    return EXIT_OK if revision in (head, None) else EXIT_FAILED


def _replay(args: argparse.Namespace) -> int:
    from pipelines.storage import schema, spool
    from pipelines.storage.database import Store

    config = load(args)
    schema.prepare(config.database)
    directory = config.store.spool_dir
    store = Store(config.database)
    try:
        result = spool.replay(store, directory, config.database)
    except Exception as exc:
        raise schema.unavailable(config.database, exc) from None
    finally:
        store.close()
    print(
        f"replayed {result.records} spooled article(s) from {result.files} file(s) in {directory}: "
        f"{result.new} new, {result.records - result.new} already stored"
    )
    if result.entries:
        print(f"and {result.entries} run record(s) or validator set(s) a crawl could not write as it closed")
    if result.broken_lines:
        print(f"{result.broken_lines} unreadable line(s) skipped (cut short by a killed crawl)")
    for path in result.skipped_files:
        print(f"left alone, spooled for another database: {path}")
    waiting = [p for p in spool.pending(directory) if p not in result.skipped_files]
    if waiting:
        print(f"{len(waiting)} file(s) still in use by a running crawl; it stores them itself")
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = commands.add_parser(
        "db",
        help="the database: schema upgrades, spooled articles",
        description="The database's schema revision, and articles spooled while it was unavailable.",
    )
    actions = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    upgrade = actions.add_parser(
        "upgrade",
        help="migrate the schema to this newsmill's revision (keeps every row)",
        description="Migrate the database's schema to this newsmill's revision; rows are kept.",
    )
    upgrade.add_argument("revision", nargs="?", default="head", help="target revision (default: head)")
    upgrade.set_defaults(func=_upgrade)
    current = actions.add_parser(
        "current",
        help="the database's schema revision (exit 1 if it needs an upgrade)",
        description="Print the database's schema revision; exit 1 if `newsmill db upgrade` is needed.",
    )
    current.set_defaults(func=_current)
    replay = actions.add_parser(
        "replay",
        help="store the articles spooled while the database was unavailable",
        description=(
            "Store the articles spooled to store.spool_dir while the database was unavailable. "
            "Crawls do this by themselves when they start; articles already stored are not stored twice."
        ),
    )
    replay.set_defaults(func=_replay)
