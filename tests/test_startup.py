"""What a crawl process does before its first request, kept short."""

from __future__ import annotations

from tests.conftest import run_python


def test_the_download_handler_is_imported_without_walking_the_stack_and_as_scrapy_defines_it() -> None:
    script = (
        "import inspect\n"
        "walks = []\n"
        "def counted(context=1):\n"
        "    walks.append(context)\n"
        "    return []\n"
        "inspect.stack = counted\n"
        "from crawler.startup import import_download_handler\n"
        "import_download_handler()\n"
        "from scrapy.core.downloader import contextfactory, tls\n"
        "print(len(walks), inspect.stack is counted)\n"
        "print(contextfactory.ScrapyClientContextFactory.__module__)\n"
        "print(contextfactory.AcceptableProtocolsContextFactory.__module__)\n"
        "print(tls.ScrapyClientTLSOptions.__module__)\n"
    )
    run = run_python(script)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == [
        "0",
        "True",
        # What Scrapy's own stack walk names them: the module that defines the alias.
        "scrapy.core.downloader.contextfactory",
        "scrapy.core.downloader.contextfactory",
        "scrapy.core.downloader.tls",
    ]
