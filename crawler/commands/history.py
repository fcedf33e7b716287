"""`newsmill history URL`: every stored version of an article, with what changed between them."""

from __future__ import annotations

import argparse
import json
import sys

from crawler.commands.common import EXIT_FAILED, EXIT_OK, load


def run(args: argparse.Namespace) -> int:
    from pipelines.storage import schema
    from pipelines.storage.database import Store
    from pipelines.storage.history import history

    config = load(args)
    schema.prepare(config.database)  # refuses an outdated database with the command to run
    store = Store(config.database)
    try:
        found = history(store, args.url)
    finally:
        store.close()
    if found is None:
        print(f"newsmill: no stored article has the URL {args.url}", file=sys.stderr)
        return EXIT_FAILED
    diffs = found.diffs()
    if args.json:
        document = {
            "url": found.url,
            "title": found.title,
            "revisions": [
                {
                    "revision": v.revision,
                    "fetched_at": v.fetched_at.isoformat(),
                    "content_hash": v.content_hash,
                    "text": v.text,
                }
                for v in found.versions
            ],
            "diffs": [
                {"from": old.revision, "to": new.revision, "diff": "\n".join(lines)}
                for old, new, lines in diffs
            ],
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    count = len(found.versions)
    print(f"{found.url}\n{found.title or '(no title)'}: {count} revision{'s' if count != 1 else ''}")
    for version in found.versions:
        print(f"  revision {version.revision}  fetched {version.fetched_at:%Y-%m-%d %H:%M:%S}Z  "
              f"content_hash {version.content_hash[:16]}")
    for _old, _new, lines in diffs:
        print()
        print("\n".join(lines))
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "history",
        help="an article's stored revisions, with a diff between each",
        description=(
            "Show every stored version of the article at URL (its own URL or any other URL it "
            "is known by) and a unified diff between consecutive versions. Exit 1 if no stored "
            "article has that URL."
        ),
    )
    parser.add_argument("url", metavar="URL", help="the article's URL")
    parser.add_argument("--json", action="store_true", help="revisions and diffs as one JSON document")
    parser.set_defaults(func=run)
