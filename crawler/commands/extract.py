"""`newsmill extract`: one page through the extraction step, printed as JSON."""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

from crawler.commands.common import EXIT_FAILED, EXIT_OK, UsageError

if TYPE_CHECKING:
    from crawler.config import CrawlSettings


def _fetch(url: str, settings: CrawlSettings) -> tuple[bytes, str | None, str]:
    request = urllib.request.Request(url, headers={"User-Agent": settings.user_agent})
    with urllib.request.urlopen(request, timeout=settings.timeout) as response:
        body = response.read(settings.max_page_size + 1)
        if len(body) > settings.max_page_size:
            raise ValueError(f"larger than max_page_size ({settings.max_page_size} bytes)")
        return body, response.headers.get("Content-Type"), response.url


def run(args: argparse.Namespace) -> int:
    from common.decoding import BinaryBody, decode_html
    from crawler.config import CrawlSettings
    from pipelines.extraction.article import extract_article

    target = args.target
    content_type: str | None = None
    if Path(target).is_file():
        body, url = Path(target).read_bytes(), None
    elif target.startswith(("http://", "https://")):
        try:
            body, content_type, url = _fetch(target, CrawlSettings())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            print(f"newsmill: could not fetch {target}: {exc}", file=sys.stderr)
            return EXIT_FAILED
    else:
        raise UsageError(f"{target!r} is neither a file nor an http(s) URL")
    try:
        html = decode_html(body, content_type)
    except BinaryBody as exc:
        print(f"newsmill: {target}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    record = extract_article(html, url)
    json.dump(record.to_json(), sys.stdout, ensure_ascii=False, indent=2)
    print()
    return EXIT_OK


def register(commands: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    extract = commands.add_parser(
        "extract",
        help="run one page through extraction, print JSON",
        description="Fetch a URL (or read an HTML file) and print what the extraction step makes "
        "of it: the record a crawl would store.",
    )
    extract.add_argument("target", metavar="URL|FILE")
    extract.set_defaults(func=run)
