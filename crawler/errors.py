"""The errors that reach the command line's edge, importable without what raises them."""

from __future__ import annotations


class ConfigError(Exception):
    """config.yaml (or its location) is not usable; the message says where and why."""
