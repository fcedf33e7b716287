"""crawl_runs.worker: the host and pid of the process that ran the crawl

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-03

Frozen like the baseline: the column is spelled out here, not imported from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        # Runs recorded before it was kept: nobody knows who ran them, NULL.
        batch.add_column(sa.Column("worker", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("worker")
