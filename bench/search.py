"""Search latency (p50 / p95) and index size over 100,000 articles, on SQLite and PostgreSQL.

    .venv/bin/python bench/search.py                      # 100,000 articles, both databases
    .venv/bin/python bench/search.py --articles 20000 --database sqlite

The articles are synthetic but read like news: their sentences are those of the 80 real
articles of the extraction dev set (fundus-eval, 16 publishers), recombined, so words come
with the frequencies of English news; each article also gets a few names and numbers of its
own, as real stories do. 20 sources, dates over two years, a title, a description, 8 to 30
sentences of text. They are stored through the same schema as a crawl's (migrations' head,
the index's triggers on), then queried through pipelines.storage.search, as `newsmill search`,
the web view and the API do:

- words by frequency: common (in 5-40% of the articles), middling, rare (in a handful);
  two words; a phrase; a prefix (four letters), a short prefix (two or three: the most words
  begin so); a OR b; a word minus another; a word within one source;
  a word within one month; the latest articles (no query), also for one source; the match
  count of a common word (what the search page prints).

Each query runs once to warm the caches, then --repeat times; every timing is one call
returning a page of 20 with its snippets. Figures are wall-clock on whatever machine runs it:
say how many cores it had and what else ran.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, insert, text
from sqlalchemy.exc import SQLAlchemyError

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipelines.storage import schema  # noqa: E402
from pipelines.storage.database import Store  # noqa: E402
from pipelines.storage.models import Article  # noqa: E402
from pipelines.storage.search import Filters, count, latest, search  # noqa: E402

DEFAULT_DATASET = ROOT.parent / "shared" / "datasets" / "fundus-eval"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SOURCES = [f"source-{n:02d}" for n in range(20)]
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_DAYS = 730
_WORD = re.compile(r"[^\W_]+")
_NAMES = ["Okafor", "Lindqvist", "Raman", "Ellery", "Moreau", "Tanaka", "Novak", "Haddad", "Silva",
          "Kowalski"]


def sentences(dataset: Path) -> list[str]:
    truth = json.loads((dataset / "ground_truth.json").read_text(encoding="utf-8"))
    found: list[str] = []
    for record in truth.values():
        for paragraph in record.get("body", []):
            found.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", paragraph) if len(s.split()) >= 5)
    if not found:
        raise SystemExit(f"no article text in {dataset / 'ground_truth.json'}")
    return found


def articles(pool: list[str], count_: int, seed: int = 7) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for n in range(count_):
        body = rng.sample(pool, rng.randint(8, 30))
        # Names and numbers of its own: no two stories are the same, as in a real store.
        body.insert(rng.randrange(len(body)), f"{rng.choice(_NAMES)} said {rng.randint(2, 99_999)} people "
                                               f"were affected in district {n}.")
        paragraphs = ["\n".join(body[i : i + 4]) for i in range(0, len(body), 4)]
        title_words = rng.choice(pool).split()[: rng.randint(6, 12)]
        published = START + timedelta(minutes=rng.randrange(SPAN_DAYS * 24 * 60))
        yield {
            "source": SOURCES[n % len(SOURCES)],
            "url": f"https://{SOURCES[n % len(SOURCES)]}.example/{published:%Y/%m/%d}/story-{n}.html",
            "title": " ".join(title_words).rstrip(",.;:"),
            "authors": [rng.choice(_NAMES)],
            "published_at": published,
            "language": "en" if rng.random() < 0.9 else rng.choice(["de", "fr", "es"]),
            "description": rng.choice(pool),
            "image": None,
            "tags": [],
            "text": "\n".join(paragraphs),
            "content_hash": f"{n:064x}",
            "first_seen_at": max(published, now - timedelta(days=1)),
            "fetched_at": now,
        }


def fill(url: str, pool: list[str], count_: int) -> float:
    """Store the articles as a crawl's batches do (triggers on); articles per second."""
    schema.prepare(url)
    store = Store(url)
    started = time.perf_counter()
    batch: list[dict[str, Any]] = []
    with store.engine.begin() as connection:
        for row in articles(pool, count_):
            batch.append(row)
            if len(batch) == 2000:
                connection.execute(insert(Article), batch)
                batch = []
        if batch:
            connection.execute(insert(Article), batch)
    elapsed = time.perf_counter() - started
    with store.engine.connect() as connection:
        if store.engine.dialect.name == "sqlite":
            connection.exec_driver_sql("ANALYZE")
        connection.commit()
    if store.engine.dialect.name == "postgresql":
        autocommit = store.engine.execution_options(isolation_level="AUTOCOMMIT")
        with autocommit.connect() as connection:
            connection.exec_driver_sql("VACUUM ANALYZE")
    store.close()
    return count_ / elapsed


def index_size(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                rows = connection.execute(
                    text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")
                ).all()
                sizes: dict[str, int] = {str(k): int(v) for k, v in rows}
                return {
                    "full-text index": sum(v for k, v in sizes.items() if k.startswith("articles_fts")),
                    "date index": sizes.get("ix_articles_dated", 0),
                    "articles table": sizes.get("articles", 0),
                }
            value = connection.execute(
                text(
                    "SELECT pg_total_relation_size('article_search'), "
                    "pg_relation_size('ix_articles_dated'), pg_table_size('articles')"
                )
            ).one()
            return {"full-text index": value[0], "date index": value[1], "articles table": value[2]}
    finally:
        engine.dispose()


@dataclass
class Case:
    kind: str
    call: Callable[[], object]
    label: str


def cases(store: Store, pool: list[str], rng: random.Random, per_kind: int) -> list[Case]:
    frequency: Counter[str] = Counter()
    sample = rng.sample(pool, min(len(pool), 3000))
    for sentence in sample:
        frequency.update({w.lower() for w in _WORD.findall(sentence) if w.isalpha() and len(w) > 2})
    ranked = [w for w, _ in frequency.most_common()]
    share = {w: c / len(sample) for w, c in frequency.items()}
    common = [w for w in ranked if 0.01 <= share[w] <= 0.08][: per_kind * 3]
    middling = [w for w in ranked if 0.001 <= share[w] < 0.005][: per_kind * 5]
    rare = [w for w in ranked if frequency[w] == 1][: per_kind * 20]
    phrases = []
    for sentence in sample:
        words = [w for w in _WORD.findall(sentence) if w.isalpha()]
        if len(words) >= 6:
            start = rng.randrange(len(words) - 2)
            phrases.append(" ".join(words[start : start + 2]))
    engine = store.engine
    month = Filters(since=START + timedelta(days=400), until=START + timedelta(days=430))

    def pick(words: list[str]) -> str:
        return rng.choice(words)

    def run(query: str, filters: Filters | None = None) -> Callable[[], object]:
        return lambda: search(engine, query, filters or Filters(), limit=20)

    made: list[Case] = []
    for _ in range(per_kind):
        a, b, m, r = pick(common), pick(common), pick(middling), pick(rare)
        phrase = pick(phrases)
        made += [
            Case("common word", run(a), a),
            Case("middling word", run(m), m),
            Case("rare word", run(r), r),
            Case("two words", run(f"{a} {m}"), f"{a} {m}"),
            Case("phrase", run(f'"{phrase}"'), f'"{phrase}"'),
            Case("prefix", run(f"{m[:4]}*"), f"{m[:4]}*"),
            Case("short prefix", run(f"{a[: 2 + len(made) % 2]}*"), f"{a[: 2 + len(made) % 2]}*"),
            Case("a OR b", run(f"{m} OR {pick(middling)}"), f"{m} OR ..."),
            Case("word -word", run(f"{a} -{b}"), f"{a} -{b}"),
            Case("word, one source", run(a, Filters(source=rng.choice(SOURCES))), a),
            Case("word, one month", run(a, month), a),
        ]
    made.append(Case("latest, no query", lambda: latest(engine, limit=20), "-"))
    for source in rng.sample(SOURCES, per_kind):
        newest = partial(latest, engine, Filters(source=source), limit=20)
        made.append(Case("latest, one source", newest, source))
    for word in common[:per_kind]:
        made.append(Case("count of a common word", partial(count, engine, word), word))
    return made


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def server_cpu(engine: Engine, *, own: bool = True) -> float:
    """CPU seconds the PostgreSQL backends connected to the engine's database have used (they
    run on this machine: /proc/PID/stat, user + system); on PostgreSQL the searching and the
    index's triggers run there. `own`: count the backend asking too (the engine's pool runs
    the measured work on it), else leave it out (an engine kept for asking only)."""
    with engine.connect() as connection:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
        if not own:
            query += " AND pid <> pg_backend_pid()"
        pids = connection.execute(text(query)).scalars().all()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def _stored(url: str) -> int | None:
    """How many articles a kept database holds; None when it has no articles table yet."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM articles")).scalar_one())
    except SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def measure(url: str, pool: list[str], args: argparse.Namespace) -> dict[str, Any]:
    stored = _stored(url) if args.keep else None
    if stored == args.articles:
        # A kept database, built by an earlier run: brought to the migrations' head the way
        # `newsmill db upgrade` brings a user's, so a new migration is measured as users get it.
        schema.upgrade(url)
        rate = None
    elif stored is not None:
        raise SystemExit(f"{schema.describe(url)} holds {stored:,} articles, not {args.articles:,}: drop it")
    else:
        rate = fill(url, pool, args.articles)
    store = Store(url)
    timings: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    postgres = store.engine.dialect.name == "postgresql"
    try:
        for case in cases(store, pool, random.Random(11), args.per_kind):
            case.call()  # warm
            for _ in range(args.repeat):
                server = server_cpu(store.engine) if postgres else 0.0
                started, used = time.perf_counter(), time.process_time()
                case.call()
                timings.setdefault(case.kind, []).append((time.perf_counter() - started) * 1000)
                used = time.process_time() - used
                if postgres:
                    used += server_cpu(store.engine) - server
                cpu.setdefault(case.kind, []).append(used * 1000)
    finally:
        store.close()
    return {"insert rate": rate, "timings": timings, "cpu": cpu, "sizes": index_size(url)}


def _searches(by_kind: dict[str, list[float]]) -> list[float]:
    return [t for kind, values in by_kind.items() if not kind.startswith(("latest", "count")) for t in values]


def report(name: str, result: dict[str, Any], articles_: int) -> None:
    """A markdown table. CPU is this process's, plus on PostgreSQL its server backends' (read
    from /proc): the work itself, which a shared machine's load does not inflate as it does
    the wall-clock time (/proc counts in clock ticks, 10 ms: single PostgreSQL figures are coarse)."""
    timings: dict[str, list[float]] = result["timings"]
    cpu: dict[str, list[float]] = result["cpu"]
    rate = result["insert rate"]
    stored = "kept from an earlier run" if rate is None else f"stored at {rate:,.0f} articles/s (index on)"
    print(f"\n## {name}: {articles_:,} articles, {stored}\n")
    print("| query | p50 ms | p95 ms | max ms | CPU p50 ms | CPU p95 ms | calls |")
    print("|---|---|---|---|---|---|---|")
    rows = [*timings.items(), ("**every search (a page of 20 with snippets)**", _searches(timings))]
    cpus = [*cpu.values(), _searches(cpu)]
    for (kind, values), used in zip(rows, cpus, strict=True):
        print(f"| {kind} | {statistics.median(values):.1f} | {percentile(values, 95):.1f} | "
              f"{max(values):.1f} | {statistics.median(used):.1f} | {percentile(used, 95):.1f} | "
              f"{len(values)} |")
    sizes = result["sizes"]
    print("\n" + ", ".join(f"{k}: {v / 2**20:,.1f} MiB" for k, v in sizes.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, default=100_000)
    parser.add_argument("--database", action="append", choices=["sqlite", "postgresql"],
                        help="which database (repeatable; default both)")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN, help="an admin URL of a PostgreSQL server")
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, metavar="DIR")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls of each query")
    parser.add_argument("--per-kind", type=int, default=8, help="different queries of each kind")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the databases (SQLite's in DIR, PostgreSQL's as newsmill_bench_search_N) "
                             "and reuse them on later runs, upgraded to the migrations' head")
    args = parser.parse_args()
    pool = sentences(args.dataset)
    print(f"{len(pool):,} sentences from {args.dataset}; {args.articles:,} articles; "
          f"{args.per_kind} queries of each kind, each timed {args.repeat} times after a warm-up")
    for name in args.database or ["sqlite", "postgresql"]:
        if name == "sqlite" and args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            url = f"sqlite:///{args.keep.resolve() / f'search-{args.articles}.db'}"
            report("SQLite", measure(url, pool, args), args.articles)
            continue
        if name == "sqlite":
            with tempfile.TemporaryDirectory() as directory:
                url = f"sqlite:///{Path(directory) / 'bench.db'}"
                report("SQLite", measure(url, pool, args), args.articles)
            continue
        admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        if args.keep:
            database = f"newsmill_bench_search_{args.articles}"
        else:
            database = f"newsmill_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": database}
            ).first()
            if not exists:
                connection.exec_driver_sql(f'CREATE DATABASE "{database}"')
        try:
            url = admin.url.set(database=database).render_as_string(hide_password=False)
            report("PostgreSQL", measure(url, pool, args), args.articles)
        finally:
            if not args.keep:
                with admin.connect() as connection:
                    connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            admin.dispose()


if __name__ == "__main__":
    main()
