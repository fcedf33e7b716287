"""crawl_runs.revised: how many stored articles a run found changed and kept as a new revision

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Frozen like the baseline: the column is spelled out here, not imported from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        # Runs recorded before it was counted: none is known, 0 as for a run that revised none.
        batch.add_column(sa.Column("revised", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("crawl_runs") as batch:
        batch.drop_column("revised")
