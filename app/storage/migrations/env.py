"""Alembic's environment: migrations run on a connection handed in by app/storage/migrate.py
(in its transaction, under its lock), never from an alembic.ini."""

from __future__ import annotations

from alembic import context

from app.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `tokenrelay db upgrade` (app/storage/migrate.py)")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
