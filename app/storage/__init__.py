"""Durable storage of complete responses (SQLAlchemy 2 core, async; SQLite or PostgreSQL)."""
