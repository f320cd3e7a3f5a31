"""Conversations: the conversation a response is a turn of, and its turn number (both from its
request's `conversation`), indexed for GET /v1/conversations/{id} and the context of a turn.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("responses", sa.Column("conversation_id", sa.String(128)))
    op.add_column("responses", sa.Column("turn", sa.Integer))
    op.create_index("ix_responses_conversation", "responses", ["conversation_id", "turn"])


def downgrade() -> None:
    op.drop_index("ix_responses_conversation", "responses")
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("turn")
        batch.drop_column("conversation_id")
