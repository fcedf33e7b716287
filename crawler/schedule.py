"""Schedules and durations as written in config.yaml, turned into APScheduler triggers."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str | int | float) -> timedelta:
    """'30s', '15m', '2h', '3d' or a bare number of seconds."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{text!r} is negative")
        return timedelta(seconds=text)
    match = _DURATION.match(str(text))
    if not match:
        raise ValueError(f"{text!r} is not a duration like '30s', '15m', '2h' or '3d'")
    return timedelta(**{_UNITS[match.group(2)]: float(match.group(1))})


def parse_schedule(text: str, jitter: timedelta | None = None) -> BaseTrigger:
    """A 5-field crontab line, or 'every 30s' / 'every 15m' / 'every 2h'."""
    # Imported here: the config is validated by every command, most of them with no schedule.
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    seconds = int(jitter.total_seconds()) if jitter else None
    text = text.strip()
    if text.lower().startswith("every "):
        interval = parse_duration(text[6:])
        if interval.total_seconds() <= 0:
            raise ValueError(f"{text!r}: the interval must be positive")
        return IntervalTrigger(seconds=interval.total_seconds(), jitter=seconds)
    if len(text.split()) != 5:
        raise ValueError(f"{text!r} is neither a 5-field cron line nor 'every <N><s|m|h>'")
    trigger = CronTrigger.from_crontab(text)
    trigger.jitter = seconds  # from_crontab takes no jitter argument
    return trigger
