"""The Scrapy settings every crawl runs with."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import closed_port, crawl_reporting_at_engine_start, python_output, write_config


def test_the_crawl_consoles_are_neither_enabled_nor_imported() -> None:
    # The telnet console and the remote-control HTTP server run code in the crawl; they must
    # be off, and not even imported (the latter brings aiohttp: start-up for nothing).
    script = (
        "import sys\n"
        "from crawler.runner import base_settings\n"
        "enabled = list(base_settings().get_component_priority_dict_with_base('EXTENSIONS'))\n"
        "print(any('Telnet' in e or 'RemoteControl' in e for e in enabled), 'CoreStats' in str(enabled),\n"
        "      'aiohttp' in sys.modules, 'twisted.conch' in sys.modules)\n"
    )
    output = python_output(script)
    assert output.split() == ["False", "True", "False", "False"]


def test_spider_middlewares_that_do_nothing_for_newsmill_are_left_out_and_the_rest_kept() -> None:
    script = (
        "from crawler.runner import base_settings\n"
        "from scrapy.utils.conf import build_component_list\n"
        "names = build_component_list(base_settings().getwithbase('SPIDER_MIDDLEWARES'))\n"
        "print(*sorted(n.rsplit('.', 1)[1] for n in names))\n"
    )
    output = python_output(script)
    # Out: a lint for spider authors (MetaCopyDetection) and link-depth counting (Depth).
    assert output.split() == [
        "HttpErrorMiddleware", "RefererMiddleware", "StartSpiderMiddleware", "UrlLengthMiddleware",
    ]


def test_a_crawl_neither_enables_nor_imports_the_cookies_middleware(tmp_path: Path) -> None:
    # Cookies are off for every crawl; the middleware would do nothing, and importing it
    # brings tldextract and requests. A real crawl reports its downloader middlewares.
    config = write_config(tmp_path, {"ledger": {"feeds": [f"http://127.0.0.1:{closed_port()}/feed.xml"]}})
    report, after = crawl_reporting_at_engine_start(
        config,
        "[type(m).__name__ for m in crawler.engine.downloader.middleware.middlewares]",
        first="import sys",
        last="print('scrapy.downloadermiddlewares.cookies' in sys.modules, 'tldextract' in sys.modules)",
    )
    middlewares = ast.literal_eval(report)
    assert "RobotsTxtMiddleware" in middlewares and "RetryMiddleware" in middlewares
    assert "CookiesMiddleware" not in middlewares
    assert after == ["False False"]
