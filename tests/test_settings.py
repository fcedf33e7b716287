"""The Scrapy settings every crawl runs with."""

from __future__ import annotations

from tests.conftest import run_python


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
    run = run_python(script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["False", "True", "False", "False"]


def test_spider_middlewares_that_do_nothing_for_newsmill_are_left_out_and_the_rest_kept() -> None:
    script = (
        "from crawler.runner import base_settings\n"
        "from scrapy.utils.conf import build_component_list\n"
        "names = build_component_list(base_settings().getwithbase('SPIDER_MIDDLEWARES'))\n"
        "print(*sorted(n.rsplit('.', 1)[1] for n in names))\n"
    )
    run = run_python(script)
    assert run.returncode == 0, run.stderr
    # Out: a lint for spider authors (MetaCopyDetection) and link-depth counting (Depth).
    assert run.stdout.split() == [
        "HttpErrorMiddleware", "RefererMiddleware", "StartSpiderMiddleware", "UrlLengthMiddleware",
    ]
