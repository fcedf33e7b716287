"""The cluster's procrastinate app: its connection, its two kinds of jobs, and deferring them.

Two kinds of jobs, both locked by their source's site (procrastinate's `lock`: the host of
its first seed, without www., as the daemon's crawl workers share a host's download slot):
one crawl of a site at a time across the cluster, whatever asked for it, so a host's
`per_domain` and `delay` hold across the cluster as they do in one crawl, however its sources
are spread over workers. A run of a source (the daemon's due runs) also has a `queueing_lock`:
while one waits, another is not queued behind it (no pile-up), and it has a higher priority
than backfill parts, so a backfill of years never delays the polls of its site by more than
the part running now.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import make_url

from crawler.errors import ConfigError

if TYPE_CHECKING:
    from procrastinate import App, Blueprint

    from crawler.config import SourceConfig

NAMESPACE = "newsmill"
CRAWL_TASK = f"{NAMESPACE}:crawl"
PART_TASK = f"{NAMESPACE}:backfill_part"
RUN_PRIORITY = 10  # a due run goes before backfill parts (priority 0) of its source
QUEUE = "crawls"


def require_postgres(database_url: str) -> None:
    if make_url(database_url).get_backend_name() != "postgresql":
        raise ConfigError(
            "a cluster needs PostgreSQL: its workers share jobs through it, and the configured "
            f"database is {make_url(database_url).get_backend_name()} (set `database:` to a "
            "postgresql:// URL, or use `newsmill crawl` / `newsmill run` on one machine)"
        )


def conninfo(database_url: str) -> str:
    """The libpq URL of a SQLAlchemy one (postgresql+psycopg://... -> postgresql://...)."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def site_lock(source: SourceConfig) -> str:
    """Held by the job crawling a source of this site, wherever it runs."""
    from crawler.daemon.dispatch import site_of

    return f"site:{site_of(source)}"


def make_app(database_url: str, blueprint: Blueprint | None = None) -> App:
    """The app of the cluster in this database; with the job bodies (crawler.cluster.jobs) for
    a worker, without them for a process that only defers jobs or reads the queue."""
    import procrastinate

    require_postgres(database_url)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(database_url)))
    if blueprint is not None:
        app.add_tasks_from(blueprint, namespace=NAMESPACE)
    return app


def _crawl_job(app: App, source: SourceConfig) -> Any:
    return app.configure_task(
        CRAWL_TASK, queue=QUEUE, lock=site_lock(source), queueing_lock=f"run:{source.name}",
        priority=RUN_PRIORITY,
    )


def defer_crawl(app: App, source: SourceConfig) -> int | None:
    """Queue a run of `source`; None when one is queued already (it will do)."""
    from procrastinate import exceptions

    try:
        return int(_crawl_job(app, source).defer(source=source.name))
    except exceptions.AlreadyEnqueued:
        return None


async def defer_crawl_async(app: App, source: SourceConfig) -> int | None:
    """defer_crawl, from a coroutine (a worker's job)."""
    from procrastinate import exceptions

    try:
        return int(await _crawl_job(app, source).defer_async(source=source.name))
    except exceptions.AlreadyEnqueued:
        return None


def defer_parts(app: App, source: SourceConfig, part_ids: Iterable[int]) -> int:
    """Queue a job per backfill part not queued yet; how many were queued."""
    from procrastinate import exceptions

    queued = 0
    for part_id in part_ids:
        try:
            app.configure_task(
                PART_TASK, queue=QUEUE, lock=site_lock(source), queueing_lock=f"part:{part_id}"
            ).defer(source=source.name, part_id=part_id)
            queued += 1
        except exceptions.AlreadyEnqueued:
            pass
    return queued
