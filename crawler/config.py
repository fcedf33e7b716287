"""config.yaml, validated once into typed objects; nothing else in newsmill reads it.

Anything wrong is refused with a `ConfigError` naming the source and the key, before any
work starts (the CLI turns it into exit status 2).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from crawler.errors import ConfigError
from crawler.schedule import parse_duration, parse_schedule

DEFAULT_DATABASE = "sqlite:///data/newsmill.db"
DATABASE_ENV = "NEWSMILL_DATABASE_URL"
CONFIG_ENV = "NEWSMILL_CONFIG"


def _duration(value: Any) -> timedelta | None:
    return None if value is None else parse_duration(value)


Duration = Annotated[timedelta | None, BeforeValidator(_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CrawlSettings(_Strict):
    """How one source is fetched; `crawl:` gives the defaults, a source may override any."""

    user_agent: str = "newsmill/0.1 (+https://github.com/newsmill/newsmill)"
    obey_robots: bool = True
    concurrency: int = Field(16, ge=1)
    per_domain: int = Field(4, ge=1)
    delay: float = Field(0, ge=0)
    timeout: float = Field(30, gt=0)
    retries: int = Field(2, ge=0)
    max_page_size: int = Field(10 * 1024 * 1024, ge=1024)  # bytes; larger pages are skipped
    max_pages: int = Field(0, ge=0)  # stop after this many responses; 0 means no limit


class SourceConfig(_Strict):
    name: str
    feeds: list[str] = []
    sitemaps: list[str] = []
    start_urls: list[str] = []
    follow: list[str] = []
    articles: list[str] = []
    domains: list[str] = []  # extra domains counted as the source's own, beside the seeds'
    schedule: str | None = None
    jitter: Duration = None
    max_runtime: Duration = None
    max_age: Duration = None
    recheck: Duration = None
    crawl: CrawlSettings

    @field_validator("feeds", "sitemaps", "start_urls")
    @classmethod
    def _absolute_urls(cls, urls: list[str]) -> list[str]:
        for url in urls:
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{url!r} is not an absolute http(s) URL")
        return urls

    @field_validator("follow", "articles")
    @classmethod
    def _regexes(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a valid regex: {exc}") from None
        return patterns

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, schedule: str | None) -> str | None:
        if schedule is not None:
            parse_schedule(schedule)
        return schedule

    @model_validator(mode="after")
    def _has_seeds(self) -> SourceConfig:
        if not (self.feeds or self.sitemaps or self.start_urls):
            raise ValueError("needs at least one of feeds, sitemaps, start_urls")
        return self

    def seeds(self) -> list[str]:
        return [*self.feeds, *self.sitemaps, *self.start_urls]


class DaemonSettings(_Strict):
    # Seconds a crawl gets to stop after SIGTERM (and past max_runtime) before SIGKILL; short,
    # as a stop is expected to be prompt and killed crawls lose only pages in flight.
    grace_period: float = Field(5, ge=0)
    run_at_startup: bool = True
    misfire_grace_time: float = Field(300, ge=1)


def _seconds(value: Any) -> float:
    return parse_duration(value).total_seconds()


class StoreSettings(_Strict):
    """What the store does when the database goes away in the middle of a crawl."""

    retry_for: Annotated[float, BeforeValidator(_seconds)] = 60  # then articles are spooled to disk
    buffer: int = Field(2000, ge=1)  # articles held in memory meanwhile; beyond that they are spooled
    spool_dir: Path = Path("data/spool")  # replayed at the next run and by `newsmill db replay`


class Config(_Strict):
    database: str = DEFAULT_DATABASE
    crawl: CrawlSettings = CrawlSettings()
    daemon: DaemonSettings = DaemonSettings()
    store: StoreSettings = StoreSettings()
    sources: dict[str, SourceConfig]
    path: Path | None = None

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            known = ", ".join(sorted(self.sources)) or "none"
            raise ConfigError(f"no source named {name!r} in the config (known: {known})") from None


def _format_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        where = ".".join(loc)
        if len(loc) >= 2 and loc[0] == "sources":
            where = f"source {loc[1]!r}" + (f", key {'.'.join(loc[2:])!r}" if loc[2:] else "")
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        lines.append(f"{where}: {message}")
    return "\n".join(lines)


def parse_config(raw: Any, *, path: Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Validate a loaded YAML document; `env` supplies the database override."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a mapping with a `sources:` key")
    raw = dict(raw)
    unknown = sorted(set(raw) - {"database", "crawl", "daemon", "store", "sources"})
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown key (known: database, crawl, daemon, store, sources)")
    defaults = raw.get("crawl") or {}
    sources = raw.get("sources")
    if not isinstance(sources, dict) or not sources:
        raise ConfigError("sources: at least one source is needed")
    if not isinstance(defaults, dict):
        raise ConfigError("crawl: must be a mapping")
    merged: dict[str, Any] = {}
    for name, source in sources.items():
        if not isinstance(source, dict):
            raise ConfigError(f"source {name!r}: must be a mapping of keys")
        overrides = source.get("crawl") or {}
        if not isinstance(overrides, dict):
            raise ConfigError(f"source {name!r}, key 'crawl': must be a mapping")
        merged[str(name)] = {**source, "name": str(name), "crawl": {**defaults, **overrides}}
    raw["sources"] = merged
    database = (env or {}).get(DATABASE_ENV)
    if database:
        raw["database"] = database
    try:
        return Config.model_validate({**raw, "path": path})
    except ValidationError as exc:
        raise ConfigError(_format_error(exc)) from None


def load_config(path: str | Path | None = None, env: dict[str, str] | None = None) -> Config:
    """Read and validate config.yaml: `path`, else $NEWSMILL_CONFIG, else ./config.yaml."""
    env = dict(os.environ) if env is None else env
    location = Path(path or env.get(CONFIG_ENV) or "config.yaml")
    try:
        text = location.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {location}: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{location} is not valid YAML: {exc}") from None
    return parse_config(raw, path=location.resolve(), env=env)
