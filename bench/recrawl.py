"""Re-crawl cost: store 5,000 articles from a generated local site, add 10, crawl again.

    .venv/bin/python bench/recrawl.py [--articles 5000] [--added 10] [--out bench/RECRAWL.md]

Each crawl is `newsmill crawl` in its own process, as a user runs it, against the fixture
site on 127.0.0.1 (feed and Google News sitemap list every article). Requests are counted by
the site itself. A third run with nothing new shows the floor: discovery pages answering 304.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.site.server import NewsSite, synthetic_article  # noqa: E402


def crawl(config: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl", "-q", "bench"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"crawl failed:\n{result.stdout}\n{result.stderr}")
    print(result.stdout.strip(), file=sys.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=5000)
    parser.add_argument("--added", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "RECRAWL.md")
    args = parser.parse_args()
    now = datetime.now(UTC)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, NewsSite(fixtures=False) as site:
        for n in range(1, args.articles + 1):
            site.add_article(synthetic_article(n, published=now - timedelta(minutes=n)))
        config = Path(tmp) / "config.yaml"
        config.write_text(yaml.safe_dump({
            "database": f"sqlite:///{Path(tmp) / 'news.db'}",
            "crawl": {"concurrency": 16, "per_domain": 16, "delay": 0},
            "sources": {"bench": {
                "feeds": [site.url_for("/feed.xml")],
                "sitemaps": [site.url_for("/sitemap-news.xml")],
                "articles": [r"/\d{4}/\d{2}/\d{2}/[^/]+\.html$"],
            }},
        }))

        def run(label: str) -> None:
            site.clear_log()
            seconds = crawl(config)
            log = site.requests
            not_modified = sum(1 for r in log if r.status == 304)
            articles = sum(1 for r in log if r.path.endswith(".html") and r.status == 200)
            rows.append((label, len(log), articles, not_modified, seconds))
            print(f"{label}: {len(log)} requests ({articles} articles, {not_modified} answered 304), "
                  f"{seconds:.1f} s", flush=True)

        run(f"first run: {args.articles} articles")
        for n in range(args.articles + 1, args.articles + args.added + 1):
            site.add_article(synthetic_article(n, published=datetime.now(UTC)))
        run(f"second run: {args.added} added")
        run("third run: nothing new")
    table = ["| run | requests | article pages fetched | answered 304 | wall time |",
             "|---|---:|---:|---:|---:|"]
    table += [f"| {label} | {total} | {arts} | {nm} | {secs:.1f} s |"
              for label, total, arts, nm, secs in rows]
    text = (f"# Re-crawl cost\n\n`.venv/bin/python bench/recrawl.py --articles {args.articles} "
            f"--added {args.added}` (each run a `newsmill crawl` process, SQLite, the fixture site "
            "on 127.0.0.1; requests counted by the site, robots.txt included).\n\n"
            + "\n".join(table) + "\n")
    print(text)
    args.out.write_text(text + _commentary(args.out), encoding="utf-8")


def _commentary(path: Path) -> str:
    """What follows the table in the file being replaced: written by a person (which commit,
    earlier figures, what the runs show), and not this script's to drop."""
    if not path.exists():
        return ""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    rows = [i for i, line in enumerate(lines) if line.startswith("|")]
    return "".join(lines[rows[-1] + 1:]) if rows else ""


if __name__ == "__main__":
    main()
