"""Settings -> each Kafka client's security options (app/kafka_security.py), the settings'
checks, and the secrets kept out of reprs. The real handshakes are
tests/integration/test_kafka_security.py's."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from faust.auth import SASLCredentials, SSLCredentials
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from app import kafka_security
from app.settings import Settings
from tests.certs import Certs, make_certs

SECRET = "s3cret-Password"


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    return make_certs(tmp_path_factory.mktemp("certs"))


def scram(certs: Certs, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "kafka": "broker-1:9094,broker-2:9094",
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_mechanism": "SCRAM-SHA-512",
        "kafka_sasl_username": "relay",
        "kafka_sasl_password": SECRET,
        "kafka_ssl_cafile": str(certs.ca),
    }
    return Settings(**{**values, **overrides})


def test_plaintext_by_default() -> None:
    s = Settings(kafka="a:9092, b:9092")
    assert kafka_security.aiokafka_options(s) == {
        "bootstrap_servers": "a:9092, b:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert kafka_security.librdkafka_config(s) == {
        "bootstrap.servers": "a:9092, b:9092",
        "security.protocol": "plaintext",
    }
    assert kafka_security.faust_options(s) == {
        "broker": ["kafka://a:9092", "kafka://b:9092"],
        "broker_credentials": None,
    }
    assert kafka_security.ssl_context(s) is None


def test_sasl_ssl_scram(certs: Certs) -> None:
    s = scram(certs)
    options = kafka_security.aiokafka_options(s)
    context = options.pop("ssl_context")
    assert options == {
        "bootstrap_servers": "broker-1:9094,broker-2:9094",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "relay",
        "sasl_plain_password": SECRET,
    }
    assert_verifying(context, certs, check_hostname=True)
    assert kafka_security.librdkafka_config(s) == {
        "bootstrap.servers": "broker-1:9094,broker-2:9094",
        "security.protocol": "sasl_ssl",
        "sasl.mechanisms": "SCRAM-SHA-512",
        "sasl.username": "relay",
        "sasl.password": SECRET,
        "ssl.ca.location": str(certs.ca),
        "ssl.endpoint.identification.algorithm": "https",
    }


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_faust_hands_aiokafka_the_same_options(certs: Certs, protocol: str, mechanism: str) -> None:
    tls = {"kafka_ssl_cafile": str(certs.ca) if protocol == "SASL_SSL" else ""}
    s = scram(certs, kafka_security_protocol=protocol, kafka_sasl_mechanism=mechanism, **tls)
    credentials = kafka_security.faust_options(s)["broker_credentials"]
    assert isinstance(credentials, SASLCredentials)
    # What faust-streaming's aiokafka driver passes to each client it makes.
    faust_auth = credentials_to_aiokafka_auth(credentials)
    ours = kafka_security.aiokafka_options(s)
    del ours["bootstrap_servers"]
    assert isinstance(faust_auth.pop("ssl_context"), ssl.SSLContext) == (protocol == "SASL_SSL")
    ours.pop("ssl_context", None)
    assert faust_auth == ours


def test_ssl_with_a_client_certificate(certs: Certs) -> None:
    s = Settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=str(certs.ca),
        kafka_ssl_certfile=str(certs.client_cert),
        kafka_ssl_keyfile=str(certs.client_key),
    )
    options = kafka_security.aiokafka_options(s)
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    assert_verifying(options["ssl_context"], certs, check_hostname=True)
    config = kafka_security.librdkafka_config(s)
    assert config["ssl.certificate.location"] == str(certs.client_cert)
    assert config["ssl.key.location"] == str(certs.client_key)
    credentials = kafka_security.faust_options(s)["broker_credentials"]
    assert isinstance(credentials, SSLCredentials)
    assert credentials_to_aiokafka_auth(credentials)["security_protocol"] == "SSL"


def test_hostname_check_off_still_verifies_the_certificate(certs: Certs) -> None:
    s = scram(certs, kafka_ssl_check_hostname=False)
    assert_verifying(kafka_security.ssl_context(s), certs, check_hostname=False)
    assert kafka_security.librdkafka_config(s)["ssl.endpoint.identification.algorithm"] == "none"


def test_librdkafka_accepts_the_config(certs: Certs) -> None:
    """Property names, the SASL mechanism and the CA file are checked when librdkafka builds
    the client, before any connection (port 9 refuses it)."""
    s = scram(certs, kafka="127.0.0.1:9")
    Producer({**kafka_security.librdkafka_config(s), "log_level": 0})
    with pytest.raises(Exception, match="ssl.ca.location"):
        missing = scram(certs, kafka="127.0.0.1:9", kafka_ssl_cafile="/nonexistent/ca.pem")
        Producer({**kafka_security.librdkafka_config(missing), "log_level": 0})


def test_unreadable_ca_names_the_setting(tmp_path: Path) -> None:
    s = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=str(tmp_path / "none.pem"))
    with pytest.raises(ValueError, match="TOKENRELAY_KAFKA_SSL_CAFILE"):
        kafka_security.aiokafka_options(s)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_security_protocol": "TLS"}, "must be one of PLAINTEXT, SSL, SASL_PLAINTEXT"),
        ({"kafka_security_protocol": "SASL_SSL"}, "KAFKA_SASL_MECHANISM must be one of"),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "GSSAPI"},
            "KAFKA_SASL_MECHANISM must be one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512",
        ),
        (
            {"kafka_security_protocol": "SASL_PLAINTEXT", "kafka_sasl_mechanism": "PLAIN"},
            "SASL_PLAINTEXT needs TOKENRELAY_KAFKA_SASL_USERNAME and",
        ),
        ({"kafka_sasl_password": SECRET}, "KAFKA_SASL_PASSWORD set, but .* is PLAINTEXT"),
        (
            {"kafka_security_protocol": "SSL", "kafka_sasl_username": "relay"},
            "they apply only to SASL_PLAINTEXT or SASL_SSL",
        ),
        ({"kafka_ssl_cafile": "ca.pem"}, "they apply only to SSL or SASL_SSL"),
        ({"kafka_ssl_check_hostname": False}, "CHECK_HOSTNAME applies only to SSL or SASL_SSL"),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_certfile": "client.pem"},
            "CERTFILE and TOKENRELAY_KAFKA_SSL_KEYFILE go together",
        ),
        (
            {"kafka_security_protocol": "SSL", "kafka_ssl_key_password": SECRET},
            "KEY_PASSWORD is set without TOKENRELAY_KAFKA_SSL_KEYFILE",
        ),
    ],
)
def test_settings_refuse_what_would_connect_otherwise(values: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message) as refused:
        Settings(**values)
    assert SECRET not in str(refused.value)


def test_secrets_stay_out_of_reprs(certs: Certs) -> None:
    s = scram(
        certs,
        kafka_ssl_certfile=str(certs.client_cert),
        kafka_ssl_keyfile=str(certs.client_key),
        kafka_ssl_key_password="key-" + SECRET,  # unused by an unencrypted key
    )
    assert "relay" in repr(s) and SECRET not in repr(s)
    assert SECRET not in repr(kafka_security.faust_options(s)["broker_credentials"])


def test_from_env_spells_booleans_out() -> None:
    env = {"TOKENRELAY_KAFKA_SECURITY_PROTOCOL": "SSL"}
    for raw, expected in [("false", False), ("0", False), ("True", True), ("yes", True)]:
        got = Settings.from_env({**env, "TOKENRELAY_KAFKA_SSL_CHECK_HOSTNAME": raw})
        assert got.kafka_ssl_check_hostname is expected
    with pytest.raises(SystemExit, match="is not true or false"):
        Settings.from_env({**env, "TOKENRELAY_KAFKA_SSL_CHECK_HOSTNAME": "maybe"})


def assert_verifying(context: Any, certs: Certs, *, check_hostname: bool) -> None:
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname is check_hostname
    subjects = [dict(x[0] for x in ca["subject"]) for ca in context.get_ca_certs()]
    assert {"commonName": "tokenrelay test CA"} in subjects
