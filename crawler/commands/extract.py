"""`newsmill extract`: one page through the extraction step, printed as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from crawler.commands.common import EXIT_FAILED, EXIT_OK, UsageError


def run(args: argparse.Namespace) -> int:
    from trafilatura.downloads import fetch_response

    from pipelines.extraction import extract_article

    target = args.target
    if Path(target).exists():
        html, url = Path(target).read_bytes(), None
    elif target.startswith(("http://", "https://")):
        response = fetch_response(target, decode=False)
        if response is None or response.status >= 400 or not response.data:
            status = response.status if response is not None else "no answer"
            print(f"newsmill: could not fetch {target}: {status}", file=sys.stderr)
            return EXIT_FAILED
        html, url = response.data, response.url
    else:
        raise UsageError(f"{target!r} is neither a file nor an http(s) URL")
    record = extract_article(html, url)
    json.dump(record.to_json(), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    extract = commands.add_parser(
        "extract",
        help="run one page through extraction, print JSON",
        description="Fetch a URL (or read an HTML file) and print what extraction makes of it.",
    )
    extract.add_argument("target", metavar="URL|FILE")
    extract.set_defaults(func=run)
