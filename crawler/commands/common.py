"""What every command shares: exit statuses, usage errors, loading the config."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from crawler.config import Config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT: the shells' "stopped by the user", not a failure


class UsageError(Exception):
    """Bad arguments that argparse cannot see by itself (exit status 2)."""


def load(args: argparse.Namespace) -> Config:
    """The validated config named by --config, $NEWSMILL_CONFIG or ./config.yaml."""
    # Imported here: msgspec, PyYAML and the config classes are time that `newsmill crawl`
    # spends after it has set its extraction workers starting.
    from crawler.config import load_config

    return load_config(args.config)
