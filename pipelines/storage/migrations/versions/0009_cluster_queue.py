"""the cluster's job queue: procrastinate's schema (PostgreSQL only) and cluster_workers

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02

procrastinate's schema is the one its pinned version ships (pipelines.storage.jobqueue); a later
procrastinate version that changes it comes with a newsmill migration applying its migrations.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from pipelines.storage import jobqueue

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_workers",
        sa.Column("worker_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("worker_id", name="pk_cluster_workers"),
    )
    jobqueue.install(op.get_bind())


def downgrade() -> None:
    op.drop_table("cluster_workers")
    # procrastinate's schema is left in place: dropping it would drop the jobs in it.
