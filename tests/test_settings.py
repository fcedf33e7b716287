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
