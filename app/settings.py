"""Settings: one frozen dataclass, read once from `TOKENRELAY_*` environment variables.

Every field is one variable: `kafka` <- `TOKENRELAY_KAFKA`, `edge_port` <- `TOKENRELAY_EDGE_PORT`.
The README's settings table lists them all.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PREFIX = "TOKENRELAY_"
KAFKA_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
KAFKA_SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")


@dataclass(frozen=True, slots=True)
class Settings:
    kafka: str = "127.0.0.1:9092"
    # How every Kafka client (writers, Faust, the edge's consumers, the admin) connects and
    # authenticates: app/kafka_security.py, docs/security.md. An empty CA file trusts the
    # system's CAs; the certificate and key files are a client certificate (mTLS), optional.
    # The two passwords are secrets: kept out of repr, so out of logs and tracebacks.
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str = ""
    kafka_sasl_username: str = ""
    kafka_sasl_password: str = dataclasses.field(default="", repr=False)
    kafka_ssl_cafile: str = ""
    kafka_ssl_certfile: str = ""
    kafka_ssl_keyfile: str = ""
    kafka_ssl_key_password: str = dataclasses.field(default="", repr=False)
    kafka_ssl_check_hostname: bool = True
    topic_prefix: str = "tokenrelay"
    partitions: int = 6
    replication: int = 1
    retention_ms: int = 7 * 24 * 3600 * 1000
    edge_host: str = "127.0.0.1"
    edge_port: int = 8000
    heartbeat_s: float = 15.0
    # Recent events kept in memory per response, and the bytes of SSE frames held in all rings
    # (a delta may carry up to 16 KiB, so the budget is in bytes, not events).
    edge_buffer_events: int = 4096
    edge_buffer_bytes: int = 128 << 20
    # Events queued for one reader before it is moved to catch-up reads.
    edge_subscriber_queue: int = 1024
    # A reader whose socket accepts nothing for this long is disconnected.
    edge_send_timeout_s: float = 30.0
    # On SIGTERM each open stream ends with `retry: N` (this, plus up to as much at random).
    edge_drain_retry_ms: int = 250
    # A finished response stays in the edge's memory this long, then only in its directory
    # (where to find it in Kafka, for at most `edge_directory_size` responses).
    edge_finished_keep_s: float = 60.0
    edge_directory_size: int = 100_000
    # How long a reader of a not-yet-known response waits for it before a 404.
    edge_unknown_wait_ms: int = 3000
    edge_max_body: int = 1 << 20
    # The characters of one request's `input`/`messages` content, all calls together (about
    # 100k tokens; the body limit alone would let ~1M through). docs/limits.md
    edge_max_input_chars: int = 400_000
    # SSE connections open at once on this edge per client address (an IPv6 /64) and per
    # presented credential (bearer token, counted by its hash); 0: no limit. docs/limits.md
    edge_max_connections_per_client: int = 256
    edge_max_connections_per_token: int = 32
    # Browser origins allowed to call the edge (CORS), comma-separated, `*` any; empty: none.
    cors_origins: str = ""
    # Proxies whose X-Forwarded-For names the client in the audit log (app/edge/client.py):
    # comma-separated addresses, `*` any; empty: the socket's peer is the client.
    edge_trusted_proxies: str = ""
    edge_max_catchup_reads: int = 32
    # Under load (thousands of events a second) the edge's consumer lets the broker hold each
    # fetch this long to fill it: far less CPU per event, at most this much latency. 0: never.
    edge_fetch_wait_ms: float = 5.0
    worker_datadir: str = ".tokenrelay/worker"
    # The worker's Prometheus metrics (agents/metrics.py) at http://HOST:PORT/metrics; 0: none.
    worker_metrics_host: str = "127.0.0.1"
    worker_metrics_port: int = 8001
    # A worker that stops heart-beating loses its partitions after this long.
    worker_session_timeout_s: float = 10.0
    # On SIGTERM a worker lets its running responses finish for up to this long.
    worker_drain_s: float = 30.0
    # An in-progress response with no writer write for this long ends with a retriable error.
    response_idle_timeout_s: float = 30.0
    # The writer: how long librdkafka waits to fill a batch (records of many responses share a
    # Kafka request; 5 ms measured ~25 % less broker and worker CPU per token than 2 at 12,000
    # tokens/s), and how often it tells the watchdog it is alive.
    writer_linger_ms: float = 5.0
    writer_beat_s: float = 5.0
    generation_concurrency: int = 1024
    # Model calls one response may name in `calls`.
    generation_max_calls: int = 8
    # Per model call: until the first text, between two texts, and in all. Keep the first two
    # under response_idle_timeout_s, or the sequencer's reaper ends a silent call first.
    generation_first_token_timeout_s: float = 20.0
    generation_idle_timeout_s: float = 20.0
    generation_deadline_s: float = 600.0
    generation_connect_timeout_s: float = 10.0
    # OpenAI-compatible Chat Completions upstream: enabled when the base URL or key is set.
    # `*_models` is a comma list of allowed model names; empty allows any.
    openai_base_url: str = ""
    # Secrets (the API keys, the database URL's password) stay out of repr(settings).
    openai_api_key: str = dataclasses.field(default="", repr=False)
    openai_models: str = ""
    # Anthropic Messages upstream, likewise; max_tokens is required by that API.
    anthropic_base_url: str = ""
    anthropic_api_key: str = dataclasses.field(default="", repr=False)
    anthropic_models: str = ""
    anthropic_max_tokens: int = 4096
    # Responses one `GET /v1/events?streams=...` connection may carry.
    edge_max_streams: int = 16
    # Views (app/views.py): the moderated view holds back this many characters of text, so
    # what a reader sees has passed every rule; server-wide rules (regexes joined by `||`)
    # apply to every moderated view beside the request's own.
    moderation_holdback_chars: int = 64
    moderation_redact: str = ""
    moderation_block: str = ""
    # An OpenAI-compatible moderation endpoint (`POST {url}/moderations`) judging the moderated
    # view's text a sentence or a window at a time; empty: rules only. Without a verdict (down,
    # timed out) the view ends (`block`, fail closed) or releases the text (`allow`).
    moderation_url: str = ""
    moderation_api_key: str = dataclasses.field(default="", repr=False)
    moderation_model: str = "omni-moderation-latest"
    moderation_timeout_s: float = 5.0
    moderation_on_error: str = "block"
    # The plain view (for speech): fenced code is `skip`ped or `announce`d ("Code block.").
    plain_code: str = "announce"
    # Analytics (docs/analytics.md): the minutes of per-model stats the stats agent keeps and an
    # edge serves at GET /v1/stats.
    stats_window_minutes: int = 60
    # Complete responses are stored here (app/storage/): SQLite in the data directory by
    # default, `postgresql://user:pass@host/db` in production (docs/storage.md).
    database_url: str = dataclasses.field(
        default="sqlite+aiosqlite:///.tokenrelay/tokenrelay.db", repr=False
    )
    # The persist agent takes up to this many index records a batch (a few per response; the
    # batch's complete responses are one transaction), and waits at most this long for a
    # response's views to end before storing them as far as they got.
    persist_batch: int = 200
    persist_views_wait_s: float = 10.0
    # Conversations (docs/conversations.md): a turn waits at most this long for the earlier
    # turns to be stored (then 409); its context keeps the latest turns within both caps; the
    # edge remembers in-flight turns of this many conversations, each until idle this long.
    conversation_wait_s: float = 5.0
    conversation_max_turns: int = 50
    conversation_max_chars: int = 200_000
    edge_conversations: int = 10_000
    edge_conversation_idle_s: float = 600.0
    # The response cache (docs/cache.md): a `"cache": true` request is answered from a stored
    # response of the same request that ended `done` at most this long ago; 0 turns it off.
    cache_ttl_s: float = 3600.0
    # Security (docs/security.md). `off` serves everyone without a key or token, for local
    # experiments only (the edge says so loudly at start).
    auth: str = "on"
    # Where the development key (`tokenrelay up`) and a generated read-token secret are kept.
    data_dir: str = ".tokenrelay"
    # Read tokens' HMAC secrets, comma-separated: the first signs, all verify (rotation). Empty:
    # one generated into the data dir, shared by the edges of this machine. Kept out of repr.
    read_token_secrets: str = dataclasses.field(default="", repr=False)
    read_token_ttl_s: float = 3600.0
    # An edge trusts what it learned of an API key (valid, revoked, unknown) this long: a revoke
    # reaches every edge within it.
    auth_cache_s: float = 5.0
    # Responses one API key may have in progress on one edge; the next POST gets 429.
    key_max_responses: int = 64
    # Observability (docs/observability.md): log lines as `text` or `json` (one object a line,
    # with the response id), the root level; OTLP/HTTP traces to this endpoint (empty: the
    # standard OTEL_EXPORTER_OTLP_ENDPOINT if set, else no tracing at all).
    log_format: str = "text"
    log_level: str = "WARNING"
    otlp_endpoint: str = ""
    demo_tokens: int = 400
    demo_rate: float = 50.0
    demo_first_token_ms: float = 0.0

    def __post_init__(self) -> None:
        _check_kafka_security(self)
        if self.plain_code not in ("skip", "announce"):
            raise ValueError("TOKENRELAY_PLAIN_CODE must be skip or announce")
        if self.log_format not in ("text", "json"):
            raise ValueError("TOKENRELAY_LOG_FORMAT must be text or json")
        if self.auth not in ("on", "off"):
            raise ValueError("TOKENRELAY_AUTH must be on or off")
        if self.moderation_on_error not in ("block", "allow"):
            raise ValueError("TOKENRELAY_MODERATION_ON_ERROR must be block or allow")
        # The watchdog learns of a writer's writes from its beats: a writer must beat at least
        # twice within the idle timeout, or a live response could be ended.
        if self.writer_beat_s * 2 > self.response_idle_timeout_s:
            raise ValueError(
                "TOKENRELAY_WRITER_BEAT_S must be at most half of "
                "TOKENRELAY_RESPONSE_IDLE_TIMEOUT_S"
            )

    @property
    def events_topic(self) -> str:
        return f"{self.topic_prefix}.events"

    @property
    def responses_topic(self) -> str:
        return f"{self.topic_prefix}.responses"

    @property
    def requests_topic(self) -> str:
        return f"{self.topic_prefix}.requests"

    @property
    def control_topic(self) -> str:
        return f"{self.topic_prefix}.control"

    @property
    def deadletter_topic(self) -> str:
        return f"{self.topic_prefix}.deadletter"

    @property
    def stats_topic(self) -> str:
        return f"{self.topic_prefix}.stats"

    def view_topic(self, name: str) -> str:
        return f"{self.topic_prefix}.views.{name}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from the environment; non-None keyword overrides (flags) win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            raw = environ.get(PREFIX + field.name.upper())
            if raw is not None and raw != "":
                values[field.name] = _convert(field.name, raw, type(field.default))
        values.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls(**values)
        except ValueError as exc:
            raise SystemExit(f"tokenrelay: {exc}") from None


def _check_kafka_security(s: Settings) -> None:
    """Refuse what would connect otherwise than the operator meant: a SASL password beside
    PLAINTEXT, say, would be ignored and every record sent in the clear."""
    protocol = s.kafka_security_protocol
    if protocol not in KAFKA_SECURITY_PROTOCOLS:
        raise ValueError(
            f"TOKENRELAY_KAFKA_SECURITY_PROTOCOL must be one of "
            f"{', '.join(KAFKA_SECURITY_PROTOCOLS)}, not {protocol!r}"
        )
    sasl = protocol in ("SASL_PLAINTEXT", "SASL_SSL")
    tls = protocol in ("SSL", "SASL_SSL")
    _only_with(
        protocol,
        "SASL_PLAINTEXT or SASL_SSL",
        sasl,
        KAFKA_SASL_MECHANISM=s.kafka_sasl_mechanism,
        KAFKA_SASL_USERNAME=s.kafka_sasl_username,
        KAFKA_SASL_PASSWORD=s.kafka_sasl_password,
    )
    _only_with(
        protocol,
        "SSL or SASL_SSL",
        tls,
        KAFKA_SSL_CAFILE=s.kafka_ssl_cafile,
        KAFKA_SSL_CERTFILE=s.kafka_ssl_certfile,
        KAFKA_SSL_KEYFILE=s.kafka_ssl_keyfile,
        KAFKA_SSL_KEY_PASSWORD=s.kafka_ssl_key_password,
    )
    if not s.kafka_ssl_check_hostname and not tls:
        raise ValueError(
            f"TOKENRELAY_KAFKA_SSL_CHECK_HOSTNAME applies only to SSL or SASL_SSL, not {protocol}"
        )
    if sasl:
        if s.kafka_sasl_mechanism not in KAFKA_SASL_MECHANISMS:
            raise ValueError(
                f"TOKENRELAY_KAFKA_SASL_MECHANISM must be one of "
                f"{', '.join(KAFKA_SASL_MECHANISMS)} with {protocol}, "
                f"not {s.kafka_sasl_mechanism!r}"
            )
        if not s.kafka_sasl_username or not s.kafka_sasl_password:
            raise ValueError(
                f"{protocol} needs TOKENRELAY_KAFKA_SASL_USERNAME and "
                "TOKENRELAY_KAFKA_SASL_PASSWORD"
            )
    # librdkafka takes the key from its own file; Python could read it from the certificate
    # file, so asking for both keeps the two client kinds presenting the same identity.
    if bool(s.kafka_ssl_certfile) != bool(s.kafka_ssl_keyfile):
        raise ValueError(
            "TOKENRELAY_KAFKA_SSL_CERTFILE and TOKENRELAY_KAFKA_SSL_KEYFILE go together "
            "(a client certificate and its private key)"
        )
    if s.kafka_ssl_key_password and not s.kafka_ssl_keyfile:
        raise ValueError(
            "TOKENRELAY_KAFKA_SSL_KEY_PASSWORD is set without TOKENRELAY_KAFKA_SSL_KEYFILE"
        )


def _only_with(protocol: str, wanted: str, applies: bool, **values: object) -> None:
    stray = [PREFIX + name for name, value in values.items() if value]
    if stray and not applies:
        raise ValueError(
            f"{', '.join(stray)} set, but TOKENRELAY_KAFKA_SECURITY_PROTOCOL is {protocol}: "
            f"they apply only to {wanted}"
        )


def _convert(name: str, raw: str, kind: type) -> Any:
    # bool("false") is True: booleans are spelled out.
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off"):
            return False
        raise SystemExit(f"{PREFIX}{name.upper()}={raw!r} is not true or false")
    try:
        return kind(raw)
    except ValueError:
        raise SystemExit(f"{PREFIX}{name.upper()}={raw!r} is not a valid {kind.__name__}") from None
