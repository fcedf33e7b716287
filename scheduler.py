"""The daemon: `python scheduler.py [--config PATH] [--log-format json]` is `newsmill run`.

APScheduler fires each source's crawl on its schedule; see crawler/daemon/service.py.
"""

from __future__ import annotations

import sys

from crawler.cli import main

if __name__ == "__main__":
    sys.exit(main(["run", *sys.argv[1:]]))
