"""A Prometheus scrape as Prometheus does it: an HTTP GET of /metrics, the text format parsed
by prometheus_client's own parser."""

from __future__ import annotations

import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

# (sample name, sorted label pairs) -> value
Scrape = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def scrape(address: str, token: str | None = None) -> Scrape:
    status, text = get(f"http://{address}/metrics", {"Authorization": f"Bearer {token}"} if token else None)
    assert status == 200, (status, text)
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(found: Scrape, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)
