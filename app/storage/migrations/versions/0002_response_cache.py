"""The response cache: which response a cached one replayed, and the lookup's index.

`ix_responses_request_hash_finished` (request_hash, finished_ms) answers "the newest done
response of this hash since T" from the index; it also serves every lookup by hash alone, so the
single-column index of 0001 goes.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("responses", sa.Column("cached_from", sa.String(256)))
    op.create_index(
        "ix_responses_request_hash_finished", "responses", ["request_hash", "finished_ms"]
    )
    op.drop_index("ix_responses_request_hash", "responses")


def downgrade() -> None:
    op.create_index("ix_responses_request_hash", "responses", ["request_hash"])
    op.drop_index("ix_responses_request_hash_finished", "responses")
    with op.batch_alter_table("responses") as batch:
        batch.drop_column("cached_from")
