"""recrawl: article revisions, near-duplicate fingerprint bands, HTTP validators per URL

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Frozen like the baseline: the tables are spelled out here, not imported from the models.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        # Existing rows are their article's first version.
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False, server_default="1"))
        batch.add_column(sa.Column("updated_at", _TIME, nullable=True))

    op.create_table(
        "article_revisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("fetched_at", _TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_article_revisions_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_article_revisions"),
        sa.UniqueConstraint("article_id", "revision", name="uq_article_revisions_article_id"),
    )
    op.create_index("ix_article_revisions_article_id", "article_revisions", ["article_id"])

    op.create_table(
        "fingerprint_bands",
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"], ["articles.id"], name="fk_fingerprint_bands_article_id_articles",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bucket", "article_id", name="pk_fingerprint_bands"),
    )
    op.create_index("ix_fingerprint_bands_article_id", "fingerprint_bands", ["article_id"])

    op.create_table(
        "http_validators",
        sa.Column("url_hash", sa.String(length=40), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("checked_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("url_hash", name="pk_http_validators"),
    )
    op.create_index("ix_http_validators_source", "http_validators", ["source"])


def downgrade() -> None:
    op.drop_table("http_validators")
    op.drop_table("fingerprint_bands")
    op.drop_table("article_revisions")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("updated_at")
        batch.drop_column("revision")
