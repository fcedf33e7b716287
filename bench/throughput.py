"""Crawl throughput against the machine's own extraction limit, measured in one run.

Serves N article pages on 127.0.0.1 (real news pages from the dev set or from any folder of
saved pages, the text of each through a letter cipher of its own so no two bodies are alike),
crawls them with `newsmill crawl` (default settings) into a fresh SQLite database, then runs
trafilatura alone over the same pages in one process per core, its processes started
beforehand: the limit. Prints pages per second for both, their ratio, CPU use and peak memory
(RSS summed over the crawl's process tree); beside it, the ratio to trafilatura run as a
script from scratch, whose time counts its start-up as newsmill's does; and how long the crawl
took to request its first article, and its pace from then on. Once, first: how long a Python
process takes only to import the libraries the crawl process imports, the floor of that first
request.

    .venv/bin/python bench/throughput.py --pages 500
    .venv/bin/python bench/throughput.py --pages 500 --pages 5000   # memory: 500 vs 5000
"""

from __future__ import annotations

import argparse
import gzip
import os
import random
import re
import resource
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import trafilatura
from w3lib.encoding import html_to_unicode

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "fundus-eval"


def load_templates(dataset: Path) -> list[bytes]:
    """The pages to serve: fundus-eval's (pages/NAME/source.html), or every saved page in any
    folder, at any depth."""
    pages = [p.read_bytes() for p in sorted((dataset / "pages").glob("*/source.html"))] or [
        page for p in sorted(dataset.rglob("*")) if p.is_file() and (page := saved_page(p)) is not None
    ]
    if not pages:
        sys.exit(f"no HTML pages under {dataset}: pass --dataset DIR, a folder of saved pages")
    return pages


# Saved pages are named in many ways: wget keeps a site's own paths, often without an
# extension, and some archives gzip each page. A file is a page by its name or by how it begins.
_PAGE_SUFFIXES = {".html", ".htm", ".xhtml", ".shtml"}
# A byte-order mark, an XML declaration, comments, then the doctype or the first tag.
_HTML_START = re.compile(
    rb"(?:\xef\xbb\xbf)?\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head)\b",
    re.IGNORECASE | re.DOTALL,
)
_GZIP_MAGIC = b"\x1f\x8b"


def saved_page(path: Path) -> bytes | None:
    """The page saved in this file (gunzipped), or None for a file that holds no HTML page."""
    named = Path(path.name.lower().removesuffix(".gz")).suffix in _PAGE_SUFFIXES
    with path.open("rb") as file:
        start = file.read(4096)
        gzipped = start.startswith(_GZIP_MAGIC)
        if not (named or gzipped or _HTML_START.match(start)):
            return None  # an image, a script, a style sheet: not read any further
        page = start + file.read()
    if gzipped:
        try:
            page = gzip.decompress(page)
        except (OSError, EOFError):
            return None
    return page if named or _HTML_START.match(page[:4096]) else None


# Text between tags, outside <script> and <style>; inside it, character references are kept.
_TEXT = re.compile(r"(<(?:script|style)\b.*?</(?:script|style)>)|>([^<]+)", re.IGNORECASE | re.DOTALL)
_REFERENCE = re.compile(r"(&#?\w+;)")


def vary(template: bytes, n: int) -> bytes:
    """The template with every letter of its visible text through a substitution cipher of
    its own: the same markup, the same lengths and layout, but words no other page has, so
    no cache and no near-duplicate detection can shortcut the work.

    The page is decoded as a browser would and re-encoded in its own encoding, so a page in
    windows-1251 or Shift JIS is served as it was saved. Letters are swapped within their
    script and case, among those the page uses: a Russian or Chinese page varies as an
    English one does, and stays encodable and as long."""
    rng = random.Random(n)
    lower = list(string.ascii_lowercase)
    rng.shuffle(lower)
    table: dict[int, int | str] = str.maketrans(string.ascii_letters, "".join(lower) + "".join(lower).upper())
    encoding, text = html_to_unicode(None, template)
    if text.encode(encoding, errors="replace") != template:
        # It does not decode cleanly (invalid bytes, a byte-order mark): only the ASCII
        # letters vary, in the bytes as saved, read as Latin-1 (one character a byte).
        encoding, text = "latin-1", template.decode("latin-1")
        letters: set[str] = set()
    else:
        segments = [m.group(2) for m in _TEXT.finditer(text) if m.group(2)]
        letters = {c for segment in segments for c in segment if c.isalpha() and not c.isascii()}
    groups: dict[tuple[str, bool], list[str]] = {}
    for letter in sorted(letters):
        groups.setdefault((unicodedata.name(letter, "?").split()[0], letter.isupper()), []).append(letter)
    for members in groups.values():
        swapped = members[:]
        rng.shuffle(swapped)
        table.update(zip(map(ord, members), swapped, strict=True))

    def swap(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1)
        # split() with a group keeps the references at the odd indexes, untouched.
        parts = _REFERENCE.split(match.group(2))
        return ">" + "".join(p if i % 2 else p.translate(table) for i, p in enumerate(parts))

    return _TEXT.sub(swap, text).encode(encoding, errors="xmlcharrefreplace")


class Site:
    """The pages, a sitemap listing them and a robots.txt, served from memory."""

    def __init__(self, pages: list[bytes]) -> None:
        self.pages = pages
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.sitemap = (
            '<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
            + "".join(f"<url><loc>{self.url}/news/{i}.html</loc></url>" for i in range(len(pages)))
            + "</urlset>"
        ).encode()
        self.served = 0
        self.first_article_at: float | None = None  # time.perf_counter() of its request

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out in two writes. On a kept-alive connection,
            # Nagle's algorithm held a body smaller than a segment until the crawler
            # acknowledged the headers, which Linux delays by 40 ms: each small response
            # (the sitemap, in line before any article) took 50 ms where a web server
            # (nginx's tcp_nodelay is on by default) takes one.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                body, kind = site.route(self.path)
                self.send_response(200 if body is not None else 404)
                body = body if body is not None else b"not found"
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        return Handler

    def route(self, path: str) -> tuple[bytes | None, str]:
        if path == "/robots.txt":
            return f"User-agent: *\nSitemap: {self.url}/sitemap.xml\n".encode(), "text/plain"
        if path == "/sitemap.xml":
            return self.sitemap, "application/xml"
        match = re.fullmatch(r"/news/(\d+)\.html", path)
        if match and int(match.group(1)) < len(self.pages):
            if self.first_article_at is None:
                self.first_article_at = time.perf_counter()
            self.served += 1
            return self.pages[int(match.group(1))], "text/html"
        return None, "text/plain"

    def __enter__(self) -> Site:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()


def _descendants(pid: int) -> list[int]:
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                stack.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def sample_tree(pid: int, cpu: dict[int, tuple[str, float]]) -> int:
    """Resident KiB of a process tree; records each process's CPU seconds so far in `cpu`."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for current in _descendants(pid):
        try:
            status = Path(f"/proc/{current}/status").read_text()
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            cmdline = Path(f"/proc/{current}/cmdline").read_bytes().replace(b"\0", b" ").decode()[:60]
        except OSError:
            continue
        rss = re.search(r"VmRSS:\s+(\d+)", status)
        total += int(rss.group(1)) if rss else 0
        cpu[current] = (cmdline, (int(fields[11]) + int(fields[12])) / tick)
    return total


@dataclass
class CrawlFigures:
    pages: int
    stored: int
    wall: float
    cpu: float
    peak_rss_mib: float
    # Seconds from launch to the first article request: start-up, robots.txt, the sitemap.
    first_article: float


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def crawl(site: Site, workdir: Path, per_domain: int | None, verbose: bool) -> CrawlFigures:
    config = workdir / "config.yaml"
    database = workdir / "bench.db"
    # The crawl settings are newsmill's defaults unless --per-domain is given.
    crawl_settings = f"crawl: {{per_domain: {per_domain}}}\n" if per_domain else ""
    config.write_text(
        f"database: sqlite:///{database}\n"
        + crawl_settings
        + f"sources:\n  bench:\n    sitemaps: ['{site.url}/robots.txt']\n"
        "    articles: ['/news/\\d+\\.html$']\n"
    )
    started, own = time.perf_counter(), _own_cpu()
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.cli", "--config", str(config), "crawl", "bench", "-q"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    peak = 0
    cpu: dict[int, tuple[str, float]] = {}
    while process.poll() is None:
        peak = max(peak, sample_tree(process.pid, cpu))
        time.sleep(0.05)  # the probe's sampling interval, not synchronisation
    wall = time.perf_counter() - started
    if verbose:
        for pid, (cmdline, seconds) in sorted(cpu.items()):
            print(f"  pid {pid}: {seconds:.1f} s CPU (at last sample)  {cmdline}")
        # The site is served from this process: its CPU is taken from the same cores.
        print(f"  this process (the site, the probe): {_own_cpu() - own:.1f} s CPU")
    output = process.stdout.read() if process.stdout else ""
    if process.returncode != 0:
        sys.exit(f"crawl failed ({process.returncode}):\n{output}")
    stored = int(re.search(r"^bench\s+\S+\s+\S+\s+\d+\s+\d+\s+(\d+)", output, re.M).group(1))  # type: ignore[union-attr]
    first = (site.first_article_at or started + wall) - started
    return CrawlFigures(site.served, stored, wall, sum(c for _, c in cpu.values()), peak / 1024, first)


def _extract(html: bytes) -> int:
    return len(trafilatura.extract(html, include_comments=False) or "")


def extraction_limit(pages: list[bytes], workers: int) -> float:
    """Seconds trafilatura alone takes over the pages, one process per core, the processes
    started and warmed up beforehand: the machine's extraction limit."""
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_extract, pages[: workers * 2]))  # workers warmed up: imports done
        started = time.perf_counter()
        list(pool.map(_extract, pages, chunksize=4))
        return time.perf_counter() - started


# The same work as a script run from scratch: its wall time counts Python's start-up, the
# imports and the pool's, as newsmill's end-to-end time does.
_COLD_SCRIPT = """
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
import trafilatura
def extract(path):
    return len(trafilatura.extract(Path(path).read_bytes(), include_comments=False) or "")
if __name__ == "__main__":
    paths = sorted(str(p) for p in Path(sys.argv[1]).iterdir())
    with ProcessPoolExecutor(int(sys.argv[2])) as pool:
        list(pool.map(extract, paths, chunksize=4))
"""


def cold_extraction(pages: list[bytes], workers: int, workdir: Path) -> float:
    """Wall seconds of a fresh `python` running trafilatura over the pages on `workers`."""
    folder = workdir / "pages"
    folder.mkdir()
    for i, page in enumerate(pages):
        (folder / f"{i:06d}.html").write_bytes(page)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", _COLD_SCRIPT, str(folder), str(workers)], check=True)
    return time.perf_counter() - started


# What the crawl process imports before its first request, without newsmill: the floor of its
# start-up. The collector is off, as newsmill keeps it during start-up; the HTTP handler is
# imported as newsmill imports it (common.startup), without Scrapy's stack walk. The process
# leaves at once, as `newsmill` does, so its wall time is launch plus imports.
_LIBRARIES_SCRIPT = """
import gc, os
gc.disable()
import scrapy.crawler, sqlalchemy.orm, sqlalchemy.dialects.sqlite, msgspec, yaml, courlan
from common.startup import import_download_handler
import_download_handler()
os._exit(0)
"""


def library_import_time(runs: int = 5) -> float:
    """Median wall seconds of a `python` that only imports the crawl process's libraries."""
    seconds = []
    for _ in range(runs):
        launched = time.perf_counter()
        subprocess.run([sys.executable, "-c", _LIBRARIES_SCRIPT], cwd=ROOT, check=True)
        seconds.append(time.perf_counter() - launched)
    return statistics.median(seconds)


def measure(count: int, pages: list[bytes], cores: int, args: argparse.Namespace) -> tuple[float, float]:
    """One crawl of the pages, then trafilatura alone over them; prints both, returns the ratios
    (against trafilatura's warm processes, and against trafilatura as a script from scratch)."""
    # The limit is measured right before and right after the crawl, and averaged: on a shared
    # machine the speed drifts, and a crawl compared with a limit taken in a faster or slower
    # minute gives a ratio that says more about the minute than about newsmill.
    before = extraction_limit(pages, cores)
    with tempfile.TemporaryDirectory() as tmp, Site(pages) as site:
        figures = crawl(site, Path(tmp), args.per_domain, args.verbose)
    limit = (before + extraction_limit(pages, cores)) / 2
    with tempfile.TemporaryDirectory() as tmp:
        cold_limit = cold_extraction(pages, cores, Path(tmp))
    crawl_rate = count / figures.wall
    limit_rate = count / limit
    ratio, cold_ratio = crawl_rate / limit_rate, crawl_rate * cold_limit / count
    print(
        f"{count} pages: newsmill {crawl_rate:.1f} pages/s end to end "
        f"({figures.wall:.1f} s wall, {figures.cpu:.1f} s CPU = {figures.cpu / figures.wall:.2f} cores, "
        f"peak RSS {figures.peak_rss_mib:.0f} MiB, {figures.stored} stored, "
        f"{figures.pages} served); trafilatura alone on {cores} processes {limit_rate:.1f} pages/s; "
        f"ratio {ratio:.2f} "
        f"(trafilatura as a script run from scratch: {count / cold_limit:.1f} pages/s, "
        f"ratio {cold_ratio:.2f})",
        flush=True,
    )
    # Where the time went: the start-up every crawl pays once, then the pages.
    flowing = count / max(figures.wall - figures.first_article, 1e-9)
    print(
        f"  first article requested {figures.first_article:.2f} s after launch; from then on "
        f"{flowing:.1f} pages/s, {flowing / limit_rate:.2f} of trafilatura alone",
        flush=True,
    )
    return ratio, cold_ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, action="append", help="pages to crawl (repeatable)")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, metavar="DIR",
                        help="the pages to vary and serve: fundus-eval's layout, or any folder of saved "
                             "pages at any depth (.html, .htm, .xhtml, .shtml, gzipped or not, and any "
                             "other file that begins as HTML: a wget mirror will do) (default: the dev "
                             "set, %(default)s)")
    parser.add_argument("--per-domain", type=int, help="requests at a time to the site (default: newsmill's)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each size this many times and print the median ratios: on a "
                             "shared machine one run's ratio can be off by 0.1")
    parser.add_argument("-v", "--verbose", action="store_true", help="CPU time per process")
    args = parser.parse_args()
    templates = load_templates(args.dataset)
    cores = len(os.sched_getaffinity(0))
    print(f"machine: {cores} cores, {os.uname().machine}, Python {sys.version.split()[0]}")
    print(f"the crawl process's libraries alone (Scrapy and its HTTP handler, SQLAlchemy's ORM, msgspec, "
          f"PyYAML, courlan) load in {library_import_time():.2f} s from launch (median of 5): the floor "
          "of the time to the first request", flush=True)
    for count in args.pages or [500]:
        pages = [vary(templates[i % len(templates)], i) for i in range(count)]
        ratios = [measure(count, pages, cores, args) for _ in range(max(args.repeat, 1))]
        if len(ratios) > 1:
            warm, cold = (statistics.median(r[i] for r in ratios) for i in (0, 1))
            print(f"{count} pages: median ratio {warm:.2f} over {len(ratios)} runs "
                  f"(from scratch: {cold:.2f})", flush=True)


if __name__ == "__main__":
    main()
