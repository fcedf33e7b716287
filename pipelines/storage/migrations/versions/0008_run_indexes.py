"""crawl_runs indexed for a daemon's rate of runs: by source and id, by source and status,
by start time (pruning); the plain index on source, which the first covers, dropped

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

Frozen like the baseline: the indexes are spelled out here, not imported from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_crawl_runs_source_id", "crawl_runs", ["source", "id"])
    op.create_index("ix_crawl_runs_source_status", "crawl_runs", ["source", "status"])
    op.create_index("ix_crawl_runs_started_at", "crawl_runs", ["started_at"])
    op.drop_index("ix_crawl_runs_source", table_name="crawl_runs")


def downgrade() -> None:
    op.create_index("ix_crawl_runs_source", "crawl_runs", ["source"])
    op.drop_index("ix_crawl_runs_started_at", table_name="crawl_runs")
    op.drop_index("ix_crawl_runs_source_status", table_name="crawl_runs")
    op.drop_index("ix_crawl_runs_source_id", table_name="crawl_runs")
