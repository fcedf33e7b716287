"""What every command shares: exit statuses, usage errors, loading the config."""

from __future__ import annotations

import argparse

from crawler.config import Config, load_config

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad arguments that argparse cannot see by itself (exit status 2)."""


def load(args: argparse.Namespace) -> Config:
    """The validated config named by --config, $NEWSMILL_CONFIG or ./config.yaml."""
    return load_config(args.config)
