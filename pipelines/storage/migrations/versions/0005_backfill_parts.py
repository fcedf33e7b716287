"""backfill_parts: the parts of a source's backfill (one per listing sitemap) and how far each got

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

Frozen like the baseline: the table is spelled out here, not imported from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "backfill_parts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("window", sa.String(length=60), nullable=False),
        sa.Column("url_hash", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("lastmod", _TIME, nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("pages", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("duplicates", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=200), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("started_at", _TIME, nullable=True),
        sa.Column("finished_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_backfill_parts"),
        sa.UniqueConstraint("source", "window", "url_hash", name="uq_backfill_parts_part"),
    )
    op.create_index("ix_backfill_parts_source_status", "backfill_parts", ["source", "status"])


def downgrade() -> None:
    op.drop_index("ix_backfill_parts_source_status", table_name="backfill_parts")
    op.drop_table("backfill_parts")
