"""`newsmill search`: full-text search over the stored articles, best matches first."""

from __future__ import annotations

import argparse
import json
import sys

from crawler.commands.common import EXIT_OK, UsageError, load

QUERY_HELP = """\
query language: words must all appear (title, description or text); "a phrase";
  prefix* matches words starting so (two letters at least); a OR b; -word excludes.
  Case and accents do not matter."""


def run(args: argparse.Namespace) -> int:
    from pipelines.storage import schema
    from pipelines.storage.database import Store
    from pipelines.storage.search import (
        MAX_LIMIT,
        Filters,
        QuerySyntaxError,
        count,
        parse_date,
        search,
        snippet_text,
    )

    config = load(args)
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    if args.source:
        config.source(args.source)  # an unknown source is a usage error that names the known ones
    try:
        since = parse_date(args.since) if args.since else None
        until = parse_date(args.until, end=True) if args.until else None
    except ValueError as exc:
        raise UsageError(f"--since/--until: {exc}") from None
    filters = Filters(source=args.source, language=args.language, since=since, until=until)
    schema.prepare(config.database)  # refuses an outdated database with the command to run
    store = Store(config.database)
    try:
        page = search(store.engine, args.query, filters, limit=args.limit)
        total = count(store.engine, args.query, filters)
    except QuerySyntaxError as exc:
        raise UsageError(f"cannot search for {args.query!r}: {exc}") from None
    finally:
        store.close()
    if args.json:
        document = {
            "query": args.query,
            "total": total.value,
            "more": not total.exact,  # true: at least `total` match; counting stopped there
            "note": total.note,
            "articles": [h.as_dict() for h in page.hits],
        }
        for record, hit in zip(document["articles"], page.hits, strict=True):
            record["snippet"] = " ".join(snippet_text(hit.snippet or "").split())  # text, not HTML
        print(json.dumps(document, ensure_ascii=False, indent=2))
        return EXIT_OK
    bold, plain = ("\033[1m", "\033[0m") if sys.stdout.isatty() else ("", "")
    for hit in page.hits:
        dated = hit.published_at or hit.first_seen_at
        print(f"{bold}{hit.title or '(no title)'}{plain}")
        print(f"  {hit.source} · {dated:%Y-%m-%d} · {hit.url}  (id {hit.id})")
        print(f"  {' '.join(snippet_text(hit.snippet or '', bold, plain).split())}")
        print()
    shown = len(page.hits)
    more = f"; showing the best {shown} (--limit)" if total.value > shown else ""
    plural = "" if total.exact and total.value == 1 else "s"
    print(f"{total} article{plural} match {args.query!r}{more}", file=sys.stderr)
    if total.note:
        print(f"({total.note})", file=sys.stderr)
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = commands.add_parser(
        "search",
        help="full-text search over the stored articles",
        description="Search the stored articles' titles, descriptions and texts; best matches first, "
        "each with the passage that matched.",
        epilog=QUERY_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "query", metavar="QUERY", help='what to look for, e.g. \'"central bank" rates -sport\''
    )
    parser.add_argument("--source", metavar="NAME", help="only this source's articles")
    parser.add_argument("--language", metavar="CODE", help="only articles in this language (e.g. en)")
    parser.add_argument(
        "--since", metavar="DATE", help="only articles published (else first seen) on or after DATE"
    )
    parser.add_argument("--until", metavar="DATE", help="only articles published on or before DATE")
    parser.add_argument("--limit", type=int, default=10, metavar="N", help="at most N articles (default 10)")
    parser.add_argument("--json", action="store_true", help="a JSON document: total and the articles")
    parser.set_defaults(func=run)
