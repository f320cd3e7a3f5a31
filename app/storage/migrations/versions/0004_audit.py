"""The audit log: `audit_log`, one hash-chained record per stored response and control action
(unique `key`, indexed by time for exports), and `audit_head`, the one row appenders lock.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

MS = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        sa.Column("rid", sa.String(256), nullable=False),
        sa.Column("at_ms", MS, nullable=False),
        sa.Column("recorded_ms", MS, nullable=False),
        sa.Column("data", sa.JSON, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_index("ix_audit_log_at", "audit_log", ["at_ms"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "hash": "0" * 64}])  # app.audit.GENESIS


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_index("ix_audit_log_at", "audit_log")
    op.drop_table("audit_log")
