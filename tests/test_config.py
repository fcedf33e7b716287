"""config.yaml validation: good configs load into typed objects, bad ones are refused by name."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crawler.config import ConfigError, load_config, parse_config

FEED = "https://news.example.org/feed.xml"


def source(**keys: object) -> dict[str, object]:
    return {"sources": {"example": {"feeds": [FEED], **keys}}}


def test_source_overrides_merge_over_crawl_defaults() -> None:
    config = parse_config({"crawl": {"per_domain": 3, "delay": 1}, **source(crawl={"per_domain": 2})})
    crawl = config.sources["example"].crawl
    assert (crawl.per_domain, crawl.delay, crawl.concurrency) == (2, 1, 16)


def test_durations_parse_into_timedeltas() -> None:
    config = parse_config(source(max_age="3d", recheck="6h", max_runtime="90s"))
    example = config.sources["example"]
    assert example.max_age == timedelta(days=3)
    assert example.recheck == timedelta(hours=6)
    assert example.max_runtime == timedelta(seconds=90)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (source(crawl={"per_domian": 2}), "source 'example', key 'crawl.per_domian': unknown key"),
        (source(bogus=1), "source 'example', key 'bogus': unknown key"),
        (source(follow=["[a-"]), "source 'example', key 'follow'"),
        (source(articles=["(unclosed"]), "source 'example', key 'articles'"),
        (source(schedule="61 * * * *"), "source 'example', key 'schedule'"),
        (source(schedule="every fortnight"), "source 'example', key 'schedule'"),
        (source(max_age="soon"), "source 'example', key 'max_age'"),
        ({"sources": {"empty": {"follow": ["x"]}}}, "source 'empty': needs at least one of"),
        ({"sources": {"s": {"feeds": ["feed.xml"]}}}, "source 's', key 'feeds'"),
        ({"sources": {}}, "sources: at least one source"),
        ({"store": {"spool_dir": 5}, **source()}, "store.spool_dir: 5 is not a path"),
        ({"store": {"retry_for": "soon"}, **source()}, "store.retry_for: 'soon' is not a duration"),
        ({"sourcez": {}}, "sourcez: unknown key"),
    ],
)
def test_bad_config_is_refused_naming_source_and_key(raw: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    assert expected in str(refused.value)


def test_every_bad_source_is_named_in_one_refusal() -> None:
    raw = {"sources": {"a": {"feeds": [FEED], "crawl": {"per_domain": 0}}, "b": {"feeds": ["feed.xml"]}}}
    with pytest.raises(ConfigError) as refused:
        parse_config(raw)
    lines = str(refused.value).splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "source 'a', key 'crawl.per_domain'",
        "source 'b', key 'feeds'",
    ]


def test_a_store_duration_reads_as_seconds_and_the_spool_dir_as_a_path() -> None:
    config = parse_config({"store": {"retry_for": "2m", "spool_dir": "/var/spool/newsmill"}, **source()})
    assert config.store.retry_for == 120
    assert config.store.spool_dir == Path("/var/spool/newsmill")


def test_database_env_overrides_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(f"database: sqlite:///a.db\nsources:\n  s:\n    feeds: ['{FEED}']\n")
    assert load_config(path, env={}).database == "sqlite:///a.db"
    overridden = load_config(path, env={"NEWSMILL_DATABASE_URL": "sqlite:///b.db"})
    assert overridden.database == "sqlite:///b.db"


def test_config_path_comes_from_env_when_not_given(tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.yaml"
    path.write_text(f"sources:\n  s:\n    feeds: ['{FEED}']\n")
    assert list(load_config(None, env={"NEWSMILL_CONFIG": str(path)}).sources) == ["s"]


def test_unreadable_or_invalid_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.yaml", env={})
    broken = tmp_path / "broken.yaml"
    broken.write_text("sources: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(broken, env={})
