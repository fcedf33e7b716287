"""Backfill memory: is each process's peak flat whatever the size of the sitemap archive?

    .venv/bin/python bench/backfill.py [--urls 20000 200000] [--per-sitemap 10000] [--pages gone|small]

For each size, a local server (127.0.0.1) serves a sitemap index of dated child sitemaps of
`--per-sitemap` URLs each, and `newsmill backfill bench --local` crawls all of it into a fresh
SQLite file, as a user runs it. Article URLs answer 404 by default (`--pages gone`): the bench
measures what a backfill holds (sitemaps, the URLs they list, parts, failures), not extraction,
and 200,000 articles extracted would take an hour of this machine. `--pages small` serves a
small article at each URL instead.

The process tree's memory is sampled from /proc every 0.2 s: the peak RSS of the driver (the
`newsmill backfill` process, which plans) and of the largest part process, and the peak sum.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml
from proctree import tree

ROOT = Path(__file__).resolve().parent.parent
START = datetime(2015, 1, 1, tzinfo=UTC)

ARTICLE = (
    "<html><head><title>Report {n}</title></head><body><article><h1>Report {n}</h1>"
    + "<p>The harbour authority said on Monday that report {n} covered the quarter's freight, "
    "with volumes up on the year and the new berth open to larger vessels from the spring.</p>" * 4
    + "</article></body></html>"
)


class Archive:
    def __init__(self, urls: int, per_sitemap: int, pages: str) -> None:
        self.urls = urls
        self.per_sitemap = per_sitemap
        self.pages = pages
        self.sitemaps = (urls + per_sitemap - 1) // per_sitemap
        self.base = ""

    def day(self, n: int) -> datetime:
        return START + timedelta(hours=n)  # one article an hour, oldest first

    def index(self) -> bytes:
        entries = []
        for i in range(self.sitemaps):
            last = min((i + 1) * self.per_sitemap, self.urls) - 1
            entries.append(f"<sitemap><loc>{self.base}/sitemap-{i}.xml</loc>"
                           f"<lastmod>{self.day(last).isoformat()}</lastmod></sitemap>")
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                + "\n".join(entries) + "\n</sitemapindex>\n").encode()

    def sitemap(self, i: int) -> bytes:
        first, last = i * self.per_sitemap, min((i + 1) * self.per_sitemap, self.urls)
        urls = "\n".join(f"<url><loc>{self.base}/{self.day(n):%Y/%m/%d}/report-{n}.html</loc>"
                         f"<lastmod>{self.day(n).isoformat()}</lastmod></url>" for n in range(first, last))
        return ('<?xml version="1.0" encoding="UTF-8"?>\n'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
                f"{urls}\n</urlset>\n").encode()


def serve(archive: Archive) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            status, body, kind = 404, b"gone", "text/plain"
            if path == "/robots.txt":
                status, body = 200, f"User-agent: *\nSitemap: {archive.base}/index.xml\n".encode()
            elif path == "/index.xml":
                status, body, kind = 200, archive.index(), "application/xml"
            elif path.startswith("/sitemap-"):
                status, body, kind = 200, archive.sitemap(int(path[9:-4])), "application/xml"
            elif path.endswith(".html") and archive.pages == "small":
                n = path.rsplit("-", 1)[1][:-5]
                status, body, kind = 200, ARTICLE.format(n=n).encode(), "text/html; charset=utf-8"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    archive.base = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def run(urls: int, per_sitemap: int, pages: str) -> dict[str, float]:
    archive = Archive(urls, per_sitemap, pages)
    server = serve(archive)
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "config.yaml"
        config.write_text(yaml.safe_dump({
            "database": f"sqlite:///{directory}/bench.db",
            "crawl": {"concurrency": 32, "per_domain": 32, "delay": 0, "retries": 0},
            "sources": {
                "bench": {"sitemaps": [archive.base + "/robots.txt"], "articles": [r"/report-\d+\.html$"]}
            },
        }))
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "crawler.cli", "--config", str(config), "backfill",
                                    "bench", "--local", "-q"], cwd=ROOT, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True)
        driver_peak = part_peak = total_peak = 0
        while process.poll() is None:
            pids = tree(process.pid)
            sizes = {pid: rss_kib(pid) for pid in pids}
            driver_peak = max(driver_peak, sizes.get(process.pid, 0))
            # The part processes are the driver's children; their extraction workers beneath them.
            parts = [pid for pid in pids if pid != process.pid]
            part_peak = max([part_peak, *(sizes[p] for p in parts)])
            total_peak = max(total_peak, sum(sizes.values()))
            time.sleep(0.2)
        out, err = process.communicate()
        seconds = time.perf_counter() - started
    server.shutdown()
    if process.returncode not in (0, 1):
        raise SystemExit(f"backfill failed ({process.returncode}):\n{out}\n{err}")
    print(out.strip().splitlines()[-3:], file=sys.stderr)
    return {"urls": urls, "sitemaps": archive.sitemaps, "seconds": seconds, "driver_mib": driver_peak / 1024,
            "part_mib": part_peak / 1024, "tree_mib": total_peak / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--urls", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--per-sitemap", type=int, default=10_000)
    parser.add_argument("--pages", choices=["gone", "small"], default="gone")
    args = parser.parse_args()
    rows = [run(n, args.per_sitemap, args.pages) for n in args.urls]
    print("| URLs listed | child sitemaps | seconds | driver peak RSS | largest part process | tree peak |")
    print("|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['urls']:,} | {r['sitemaps']} | {r['seconds']:.0f} | {r['driver_mib']:.0f} MiB | "
              f"{r['part_mib']:.0f} MiB | {r['tree_mib']:.0f} MiB |")


if __name__ == "__main__":
    main()
