"""failed_urls: article URLs that failed, with when to try them again

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Frozen like the baseline: the table is spelled out here, not imported from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "failed_urls",
        sa.Column("url_hash", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", _TIME, nullable=False),
        sa.Column("retry_after", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("url_hash", name="pk_failed_urls"),
    )
    op.create_index("ix_failed_urls_source", "failed_urls", ["source"])


def downgrade() -> None:
    op.drop_index("ix_failed_urls_source", table_name="failed_urls")
    op.drop_table("failed_urls")
