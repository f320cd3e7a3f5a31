"""A broker of its own with secured listeners beside its PLAINTEXT one, for the TLS and SASL
tests: SASL_SSL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) and SSL requiring a client certificate,
on certificates made for the occasion (tests/certs.py), and the client settings for each.
"""

from __future__ import annotations

import dataclasses
import secrets
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.settings import Settings
from tests.certs import Certs, make_certs
from tests.conftest import Broker, running_broker

USER = "relay"


@dataclass(frozen=True)
class SecureBroker:
    broker: Broker
    certs: Certs
    sasl_ssl: str  # bootstrap servers of the SASL_SSL listener
    ssl: str  # of the SSL listener (client certificate required)
    password: str  # USER's, for PLAIN and both SCRAMs

    def sasl(self, base: Settings, mechanism: str, **overrides: object) -> Settings:
        """`base` pointed at the SASL_SSL listener as USER with `mechanism`."""
        values: dict[str, object] = {
            "kafka": self.sasl_ssl,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": mechanism,
            "kafka_sasl_username": USER,
            "kafka_sasl_password": self.password,
            "kafka_ssl_cafile": str(self.certs.ca),
        }
        return dataclasses.replace(base, **{**values, **overrides})  # type: ignore[arg-type]

    def mtls(self, base: Settings, **overrides: object) -> Settings:
        """`base` pointed at the SSL listener with the client certificate."""
        values: dict[str, object] = {
            "kafka": self.ssl,
            "kafka_security_protocol": "SSL",
            "kafka_ssl_cafile": str(self.certs.ca),
            "kafka_ssl_certfile": str(self.certs.client_cert),
            "kafka_ssl_keyfile": str(self.certs.client_key),
        }
        return dataclasses.replace(base, **{**values, **overrides})  # type: ignore[arg-type]


@contextmanager
def secure_broker(directory: Path) -> Iterator[SecureBroker]:
    certs = make_certs(directory / "certs")
    password = secrets.token_urlsafe(12)
    sasl_ssl_port, ssl_port = _free_ports(2)
    with running_broker(
        directory / "broker",
        TOKENRELAY_BROKER_SASL_SSL_PORT=str(sasl_ssl_port),
        TOKENRELAY_BROKER_SSL_PORT=str(ssl_port),
        TOKENRELAY_BROKER_SSL_KEYSTORE=str(certs.keystore),
        TOKENRELAY_BROKER_SSL_KEYSTORE_PASSWORD=certs.keystore_password,
        TOKENRELAY_BROKER_SSL_TRUSTSTORE=str(certs.ca),
        TOKENRELAY_BROKER_SASL_USERS=f"{USER}:{password}",
    ) as broker:
        yield SecureBroker(
            broker, certs, f"127.0.0.1:{sasl_ssl_port}", f"127.0.0.1:{ssl_port}", password
        )


def _free_ports(n: int) -> list[int]:
    # Bound together, so the n are distinct; running_broker keeps its own ports off them.
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()
