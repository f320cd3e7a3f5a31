"""How every Kafka client connects: Settings -> each client library's options.

The one place that knows TLS and SASL. Every client is built from these (aiokafka consumers,
producers and the admin; librdkafka's producer; the Faust app), with the bootstrap servers
included, so no client can reach Kafka another way; tests/unit/test_kafka_clients.py fails for a
construction site that does not go through here.
"""

from __future__ import annotations

import ssl
from typing import TYPE_CHECKING, Any

from app.settings import Settings

if TYPE_CHECKING:
    from faust.types.auth import CredentialsT

__all__ = ["aiokafka_options", "faust_options", "librdkafka_config", "ssl_context"]


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaConsumer, AIOKafkaProducer and AIOKafkaAdminClient."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka,
        "security_protocol": settings.kafka_security_protocol,
    }
    if _sasl(settings):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism
        # aiokafka's names say "plain", but SCRAM reads the same two.
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    return options


def librdkafka_config(settings: Settings) -> dict[str, Any]:
    """confluent_kafka configuration properties (the caller adds its own beside these)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka,
        "security.protocol": settings.kafka_security_protocol.lower(),
    }
    if _sasl(settings):
        config["sasl.mechanisms"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username
        config["sasl.password"] = settings.kafka_sasl_password
    if _tls(settings):
        # Unset, librdkafka probes the system's CA locations, like Python's default context.
        if settings.kafka_ssl_cafile:
            config["ssl.ca.location"] = settings.kafka_ssl_cafile
        if settings.kafka_ssl_certfile:
            config["ssl.certificate.location"] = settings.kafka_ssl_certfile
            config["ssl.key.location"] = settings.kafka_ssl_keyfile
        if settings.kafka_ssl_key_password:
            config["ssl.key.password"] = settings.kafka_ssl_key_password
        config["ssl.endpoint.identification.algorithm"] = (
            "https" if settings.kafka_ssl_check_hostname else "none"
        )
    return config


def faust_options(settings: Settings) -> dict[str, Any]:
    """`broker` and `broker_credentials` for faust.App. Faust hands the credentials to every
    aiokafka client it makes (its consumer, producer and the one that creates its topics)."""
    return {
        "broker": [f"kafka://{s.strip()}" for s in settings.kafka.split(",") if s.strip()],
        "broker_credentials": _faust_credentials(settings),
    }


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The client-side TLS context for SSL and SASL_SSL; None for the plaintext protocols.

    Built with the standard library rather than aiokafka's `create_ssl_context`, which cannot
    turn hostname checks off and logs every file it loads (the edge builds one per consumer).
    """
    if not _tls(settings):
        return None
    cafile = settings.kafka_ssl_cafile or None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ValueError(f"TOKENRELAY_KAFKA_SSL_CAFILE={cafile!r}: {exc}") from None
    if settings.kafka_ssl_certfile:
        try:
            context.load_cert_chain(
                settings.kafka_ssl_certfile,
                settings.kafka_ssl_keyfile,
                password=settings.kafka_ssl_key_password or None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise ValueError(
                f"TOKENRELAY_KAFKA_SSL_CERTFILE={settings.kafka_ssl_certfile!r} / "
                f"TOKENRELAY_KAFKA_SSL_KEYFILE={settings.kafka_ssl_keyfile!r}: {exc}"
            ) from None
    # Certificates are still verified against the CA; only the name in them is not matched.
    context.check_hostname = settings.kafka_ssl_check_hostname
    return context


def _faust_credentials(settings: Settings) -> CredentialsT | None:
    # Imported here: the edge builds its clients from this module and never loads Faust.
    from faust.auth import SASLCredentials, SSLCredentials

    context = ssl_context(settings)
    if _sasl(settings):
        # With a context Faust's SASLCredentials say SASL_SSL, without one SASL_PLAINTEXT.
        return SASLCredentials(
            username=settings.kafka_sasl_username,
            password=settings.kafka_sasl_password,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def _sasl(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SASL_PLAINTEXT", "SASL_SSL")


def _tls(settings: Settings) -> bool:
    return settings.kafka_security_protocol in ("SSL", "SASL_SSL")
