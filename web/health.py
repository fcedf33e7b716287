"""Per-source health on the web view: `newsmill health`'s verdicts (common.health), for the
sources pages and /api/sources.

The thresholds are each configured source's own (`health:` merged with its source's), handed
over by `newsmill serve`; a source that is in the store but no longer in the config is judged
with the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping

from common.health import Health, Thresholds
from pipelines.storage.database import Store
from pipelines.storage.health import health_of

SourceHealth = Health


def source_health(
    store: Store, sources: list[str], thresholds: Mapping[str, Thresholds]
) -> dict[str, SourceHealth] | None:
    """Each source's health now, by name; None when there are no sources to judge."""
    if not sources:
        return None
    verdicts = health_of(store, [(name, thresholds.get(name) or Thresholds()) for name in sources])
    return {verdict.source: verdict for verdict in verdicts}
