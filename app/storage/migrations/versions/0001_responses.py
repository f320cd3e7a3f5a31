"""Complete responses and their event logs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

MS = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "responses",
        sa.Column("id", sa.String(256), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("partition", sa.Integer, nullable=False),
        sa.Column("created_ms", MS, nullable=False),
        sa.Column("first_token_ms", MS),
        sa.Column("finished_ms", MS),
        sa.Column("stored_ms", MS, nullable=False),
        sa.Column("models", sa.JSON, nullable=False),
        sa.Column("request", sa.JSON),
        sa.Column("request_hash", sa.String(64)),
        sa.Column("sources", sa.JSON, nullable=False),
        sa.Column("usage", sa.JSON),
        sa.Column("error", sa.JSON),
        sa.Column("views", sa.JSON, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("complete", sa.Boolean, nullable=False),
        sa.Column("missing", sa.String(200)),
    )
    op.create_index("ix_responses_request_hash", "responses", ["request_hash"])
    op.create_table(
        "event_logs",
        sa.Column(
            "response_id",
            sa.String(256),
            sa.ForeignKey("responses.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("stream", sa.String(128), primary_key=True),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("log", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_logs")
    op.drop_index("ix_responses_request_hash", "responses")
    op.drop_table("responses")
