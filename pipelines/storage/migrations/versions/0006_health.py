"""crawl_runs.extraction (per-run extraction stats) and alert_marks (what alerts have told)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

Frozen like the baseline: the column and table are spelled out here, not imported from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        # Runs recorded before: no stats, which health reads as no evidence.
        batch.add_column(sa.Column("extraction", sa.JSON(), nullable=True))
    op.create_table(
        "alert_marks",
        sa.Column("alert", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=True),
        sa.Column("article_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("alert", "source", name="pk_alert_marks"),
    )


def downgrade() -> None:
    op.drop_table("alert_marks")
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("extraction")
