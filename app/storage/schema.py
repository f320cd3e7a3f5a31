"""The tables (SQLAlchemy core): one row per complete response, and its event logs, one row per
stream (the raw events, and each view), each the exact Kafka values in one blob.

Migrations (app/storage/migrations/versions/) create what this declares; a change here is a new
migration there.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    text,
)

metadata = MetaData()

# Epoch milliseconds as doubles, like the events' `ts` (sub-millisecond, and never a time zone).
MS = Float(precision=53)

responses = Table(
    "responses",
    metadata,
    Column("id", String(256), primary_key=True),
    Column("status", String(32), nullable=False),  # done, error, cancelled
    Column("partition", Integer, nullable=False),
    Column("created_ms", MS, nullable=False),
    Column("first_token_ms", MS),  # the first delta's ts
    Column("finished_ms", MS),  # the terminal event's ts
    Column("stored_ms", MS, nullable=False),
    Column("models", JSON, nullable=False),  # {source: model}
    # The generation request as <prefix>.requests carried it ({"rid", "calls", ...}); null for
    # a response an SDK user wrote. request_hash: sha256 of its calls, canonical JSON.
    Column("request", JSON),
    Column("request_hash", String(64)),
    Column("sources", JSON, nullable=False),  # {source: text}
    Column("usage", JSON),  # {source: usage}, from source.done events that carry it
    Column("error", JSON),  # the terminal error's {code, message, retriable, status}
    Column("views", JSON, nullable=False),  # [name, ...]
    Column("last_seq", Integer, nullable=False),
    # False when Kafka no longer held all of its events when it was stored (it replays what
    # was found; `missing` says what is missing).
    Column("complete", Boolean, nullable=False),
    Column("missing", String(200)),
    # The response cache (docs/cache.md): the response a cached one replayed. Only responses
    # that ran a model are served from the cache, so an answer never outlives its TTL by being
    # cached again.
    Column("cached_from", String(256)),
    # The cache's lookup: the newest done response of a request hash.
    Index("ix_responses_request_hash_finished", "request_hash", "finished_ms"),
    # Conversations (docs/conversations.md): the conversation a turn belongs to and its number.
    Column("conversation_id", String(128)),
    Column("turn", Integer),
    Index("ix_responses_conversation", "conversation_id", "turn"),
)

event_logs = Table(
    "event_logs",
    metadata,
    Column(
        "response_id",
        String(256),
        ForeignKey("responses.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("stream", String(128), primary_key=True),  # "" for the raw events, else the view
    Column("events", Integer, nullable=False),
    Column("bytes", BigInteger, nullable=False),
    Column("log", LargeBinary, nullable=False),  # app/storage/eventlog.py
)

# The audit log (app/audit.py, docs/audit.md): one hash-chained record per stored response and
# per control action, appended only; `key` makes an entry appended twice appear once.
audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(32), nullable=False),  # response, cancel
    Column("key", String(300), nullable=False, unique=True),
    Column("rid", String(256), nullable=False),
    Column("at_ms", MS, nullable=False),
    Column("recorded_ms", MS, nullable=False),
    Column("data", JSON, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    Index("ix_audit_log_at", "at_ms"),
)

# One row (id 1): the last record's seq and hash. Appenders lock it, so the chain has one order.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(64), nullable=False),
)

# API keys (app/auth/keys.py, docs/security.md): only each key's sha256 is stored. A name is
# unique among the keys not revoked, so `keys revoke NAME` means one key.
api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("name", String(128), nullable=False),
    Column("hash", String(64), nullable=False, unique=True),
    Column("created_ms", MS, nullable=False),
    Column("revoked_ms", MS),
    Index(
        "ix_api_keys_active_name",
        "name",
        unique=True,
        sqlite_where=text("revoked_ms IS NULL"),
        postgresql_where=text("revoked_ms IS NULL"),
    ),
)
