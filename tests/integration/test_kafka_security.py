"""Kafka over TLS and SASL: the real worker, edge and writer SDK on a broker's SASL_SSL listener
(SCRAM-SHA-512, PLAIN) and on its SSL listener with a client certificate, and the refusals: a
wrong password stops the worker and the edge, and a client without TLS, without its certificate
or trusting another CA cannot read. The broker is the module's own (tests/integration/secure.py).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError
from confluent_kafka import KafkaException

from app import kafka_security
from app.producer import Publisher, new_response_id
from app.settings import Settings

from .conftest import make_settings
from .procs import Proc, Stack, free_port, up
from .secure import SecureBroker, secure_broker
from .sse import assert_contiguous, client_for, create_demo, delta_text, read_all

pytestmark = pytest.mark.integration

# A refused client must say so within this, not retry forever.
REFUSED_WITHIN_S = 60.0

CONNECTIONS: dict[str, Callable[[SecureBroker, Settings], Settings]] = {
    "scram-sha-512": lambda secure, s: secure.sasl(s, "SCRAM-SHA-512"),
    "plain": lambda secure, s: secure.sasl(s, "PLAIN"),
    "mtls": lambda secure, s: secure.mtls(s),
}


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecureBroker]:
    with secure_broker(tmp_path_factory.mktemp("secure")) as broker:
        yield broker


@pytest.fixture
def settings(secure: SecureBroker, tmp_path: Path) -> Settings:
    """The test settings on the module's broker (PLAINTEXT until a test secures them); the
    `stack` fixture starts its processes with them."""
    return make_settings(secure.broker.bootstrap, tmp_path)


@pytest.mark.parametrize("connection", list(CONNECTIONS))
async def test_response_streams_end_to_end(
    secure: SecureBroker, stack: Stack, connection: str
) -> None:
    stack.settings = CONNECTIONS[connection](secure, stack.settings)
    edge = await up(stack)
    async with client_for(edge.url) as client:
        rid = await create_demo(client, tokens=40, rate=400)
        got = await read_all(client, rid, timeout_s=60)
        assert_contiguous(got.events)
        assert len(delta_text(got.events)) > 40

        # The writer SDK (librdkafka) on the same settings; the edge serves what it wrote.
        async with Publisher(stack.settings) as publisher:
            writer = publisher.response(new_response_id())
            await writer.open()
            await writer.delta("sealed ")
            await writer.delta(f"by {connection}")
            await writer.done()
        sdk = await read_all(client, writer.rid, wait_known_s=10, timeout_s=30)
    assert_contiguous(sdk.events)
    assert delta_text(sdk.events) == f"sealed by {connection}"
    for proc in stack.procs:  # the password is a secret: in no log
        assert secure.password not in proc.text(), proc.name


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
async def test_each_mechanism_logs_in(
    secure: SecureBroker, settings: Settings, mechanism: str
) -> None:
    secured = secure.sasl(settings, mechanism)
    async with asyncio.timeout(REFUSED_WITHIN_S):
        assert await _aiokafka_error(secured) is None
        async with Publisher(secured) as publisher:
            assert publisher.partitions > 0


async def test_wrong_password_stops_worker_and_edge(secure: SecureBroker, stack: Stack) -> None:
    stack.settings = secure.sasl(stack.settings, "SCRAM-SHA-512", kafka_sasl_password="wrong")
    worker = stack.spawn("worker", ["worker"], stack.settings)
    edge = stack.spawn_edge(free_port())
    started = time.monotonic()
    for proc in (worker, edge):
        _wait_exit(proc, started + REFUSED_WITHIN_S)
        assert proc.popen.returncode != 0, proc.tail()
        assert "Authentication failed" in proc.text(), proc.tail()
    # The SDK says why too, rather than librdkafka's "Broker transport failure".
    async with asyncio.timeout(REFUSED_WITHIN_S):
        with pytest.raises(KafkaException, match="Authentication failed"):
            async with Publisher(stack.settings):
                pass


async def test_refused_without_tls_its_certificate_or_the_right_ca(
    secure: SecureBroker, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="aiokafka")
    refused = {
        # Plain bytes to a TLS port: the broker hangs up on them.
        "no TLS": dataclasses.replace(settings, kafka=secure.sasl_ssl),
        "SASL without TLS": dataclasses.replace(
            secure.sasl(settings, "PLAIN"),
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_ssl_cafile="",
        ),
        "no client certificate": dataclasses.replace(
            secure.mtls(settings), kafka_ssl_certfile="", kafka_ssl_keyfile=""
        ),
        "another CA": secure.sasl(
            settings, "SCRAM-SHA-512", kafka_ssl_cafile=str(secure.certs.other_ca)
        ),
    }
    async with asyncio.timeout(REFUSED_WITHIN_S):
        for case, s in refused.items():
            assert await _aiokafka_error(s) is not None, f"{case}: aiokafka got in"
        publishers = await asyncio.gather(
            *(_publisher_error(s) for s in refused.values()), return_exceptions=True
        )
    for case, error in zip(refused, publishers, strict=True):
        assert isinstance(error, KafkaException), f"{case}: librdkafka got in ({error!r})"
    # The certificate was checked, and both kinds of client say that is why.
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert "certificate verify failed" in str(publishers[-1])


async def _aiokafka_error(settings: Settings) -> KafkaConnectionError | None:
    """None if an admin client on `settings` could list topics, else its error."""
    admin = AIOKafkaAdminClient(**kafka_security.aiokafka_options(settings))
    try:
        await admin.start()
        await admin.list_topics()
        return None
    except KafkaConnectionError as exc:
        return exc
    finally:
        await admin.close()


async def _publisher_error(settings: Settings) -> None:
    async with Publisher(settings):
        pass


def _wait_exit(proc: Proc, deadline: float) -> None:
    while proc.alive:
        assert time.monotonic() < deadline, f"{proc.name} still running:\n{proc.tail()}"
        time.sleep(0.2)
