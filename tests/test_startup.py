"""What a crawl process does before its first request, kept short."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import closed_port, crawl_reporting_at_engine_start, python_output, write_config


def test_the_download_handler_is_imported_without_walking_the_stack_and_as_scrapy_defines_it() -> None:
    script = (
        "import inspect\n"
        "walks = []\n"
        "def counted(context=1):\n"
        "    walks.append(context)\n"
        "    return []\n"
        "inspect.stack = counted\n"
        "from common.startup import import_download_handler\n"
        "import_download_handler()\n"
        "from scrapy.core.downloader import contextfactory, tls\n"
        "print(len(walks), inspect.stack is counted)\n"
        "print(contextfactory.ScrapyClientContextFactory.__module__)\n"
        "print(contextfactory.AcceptableProtocolsContextFactory.__module__)\n"
        "print(tls.ScrapyClientTLSOptions.__module__)\n"
    )
    output = python_output(script)
    assert output.split() == [
        "0",
        "True",
        # What Scrapy's own stack walk names them: the module that defines the alias.
        "scrapy.core.downloader.contextfactory",
        "scrapy.core.downloader.contextfactory",
        "scrapy.core.downloader.tls",
    ]


def test_the_collector_is_paused_for_start_up_only_and_start_up_objects_are_frozen() -> None:
    script = (
        "import gc\n"
        "from common import startup\n"
        "startup.begin()\n"
        "paused = not gc.isenabled()\n"
        "startup.end()\n"
        "frozen = gc.get_freeze_count()\n"
        "startup.end()\n"
        "print(paused, gc.isenabled(), frozen > 0, gc.get_freeze_count() == frozen)\n"
        "print(*gc.get_threshold())\n"
    )
    output = python_output(script)
    lines = output.splitlines()
    assert lines[0].split() == ["True", "True", "True", "True"]
    # The crawl's pace for the youngest generation; Python's own for the older ones.
    assert lines[1].split() == ["10000", "10", "10"]


def test_a_crawl_runs_with_the_collector_on_at_the_crawl_pace(tmp_path: Path) -> None:
    # A real crawl set up after startup.begin(), as `newsmill crawl` does; an extension reports
    # the collector's state when the engine starts. Nothing listens on the feed's port.
    config = write_config(tmp_path, {"ledger": {"feeds": [f"http://127.0.0.1:{closed_port()}/feed.xml"]}})
    report, _ = crawl_reporting_at_engine_start(
        config,
        "(gc.isenabled(), gc.get_freeze_count() > 0, gc.get_threshold()[0])",
        first="import gc\nfrom common import startup\nstartup.begin()",
    )
    assert report == "(True, True, 10000)"


def test_a_config_without_schedules_does_not_import_the_scheduler(tmp_path: Path) -> None:
    # `newsmill crawl` validates the config before anything else; APScheduler is for the daemon.
    feed = "http://127.0.0.1:9/feed.xml"
    plain = write_config(tmp_path, {"ledger": {"feeds": [feed]}}, name="plain.yaml")
    every_15 = {"ledger": {"feeds": [feed], "schedule": "*/15 * * * *"}}
    timed = write_config(tmp_path, every_15, name="timed.yaml")
    script = (
        "import sys\n"
        "from crawler.config import load_config\n"
        f"load_config({str(plain)!r})\n"
        "print('apscheduler' in sys.modules)\n"
        f"print(load_config({str(timed)!r}).sources['ledger'].schedule, 'apscheduler' in sys.modules)\n"
    )
    output = python_output(script)
    assert output.split() == ["False", "*/15", "*", "*", "*", "*", "True"]
