"""Where each source's re-crawls resume from: for `newsmill sources` and anyone curious.

`resume_state()` answers for all sources in a handful of grouped queries: the last run,
the newest article date seen, the validators kept for the source's seeds (feeds, sitemaps,
start pages) and what is stored: articles, their other URLs, articles with corrections.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select

from pipelines.storage import validators
from pipelines.storage.database import Store
from pipelines.storage.models import Article, ArticleUrl, HttpValidator


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def resume_state(store: Store, seeds: Mapping[str, Sequence[str]]) -> dict[str, dict[str, Any]]:
    """For each source (its name and its seed URLs): last_run (a crawl-run record or None),
    newest_article_at, articles, other_urls, revised, validators ({url: {etag, last_modified,
    checked_at}})."""
    names = list(seeds)
    last_runs = store.last_runs()
    with store.sessions() as session:
        per_source = {
            name: (count, newest, seen, revised)
            for name, count, newest, seen, revised in session.execute(
                select(
                    Article.source,
                    func.count(Article.id),
                    func.max(Article.published_at),
                    func.max(Article.first_seen_at),
                    func.count(Article.id).filter(Article.revision > 1),
                )
                .where(Article.source.in_(names))
                .group_by(Article.source)
            )
        }
        other_urls = dict(
            session.execute(
                select(ArticleUrl.source, func.count())
                .join(Article, Article.id == ArticleUrl.article_id)
                .where(ArticleUrl.source.in_(names), ArticleUrl.url != Article.url)
                .group_by(ArticleUrl.source)
            ).all()
        )
        kept = dict(
            session.execute(
                select(HttpValidator.source, func.count())
                .where(HttpValidator.source.in_(names))
                .group_by(HttpValidator.source)
            ).all()
        )
    state: dict[str, dict[str, Any]] = {}
    for name, urls in seeds.items():
        count, newest, seen, revised = per_source.get(name, (0, None, None, 0))
        kept_for_seeds = validators.for_urls(store, urls)
        run = last_runs.get(name)
        state[name] = {
            "last_run": run.as_dict() if run else None,
            # A feed's or page's own date when any article stated one; else when newsmill
            # first saw the newest article.
            "newest_article_at": _iso(newest or seen),
            "articles": int(count or 0),
            "other_urls": int(other_urls.get(name, 0)),
            "revised": int(revised or 0),
            "validators_kept": int(kept.get(name, 0)),
            "validators": {
                url: {"etag": v.etag, "last_modified": v.last_modified, "checked_at": _iso(v.checked_at)}
                for url, v in kept_for_seeds.items()
            },
        }
    return state
