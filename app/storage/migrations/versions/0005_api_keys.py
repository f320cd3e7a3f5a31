"""API keys: `api_keys`, one row per key (its sha256, never the key), a name unique among the
keys not revoked.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MS = sa.Float(precision=53)
ACTIVE = sa.text("revoked_ms IS NULL")


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("revoked_ms", MS),
    )
    op.create_index(
        "ix_api_keys_active_name", "api_keys", ["name"], unique=True,
        sqlite_where=ACTIVE, postgresql_where=ACTIVE,
    )  # fmt: skip


def downgrade() -> None:
    op.drop_index("ix_api_keys_active_name", "api_keys")
    op.drop_table("api_keys")
