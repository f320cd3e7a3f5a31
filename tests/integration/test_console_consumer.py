"""Kafka's own Java console consumer reads <prefix>.events: every record keyed by its
response id, values plain JSON."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest

from .procs import Stack, up
from .sse import assert_contiguous, client_for, create_demo, read_all

pytestmark = pytest.mark.integration


async def test_java_console_consumer_reads_events_keyed_by_response(
    stack: Stack, broker: Any
) -> None:
    settings = stack.settings
    edge = await up(stack)
    async with client_for(edge.url) as client:
        rid = await create_demo(client, tokens=50, rate=1000)
        whole = await read_all(client, rid)
    assert_contiguous(whole.events)
    count = len(whole.events)
    result = await asyncio.to_thread(
        broker.script,
        "console-consumer",
        "--bootstrap-server",
        settings.kafka,
        "--topic",
        settings.events_topic,
        "--from-beginning",
        "--property",
        "print.key=true",
        "--max-messages",
        str(count),
        "--timeout-ms",
        "30000",
        timeout=120,
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert len(lines) == count, (
        f"rc {result.returncode}, {len(lines)} lines:\n{result.stderr[-3000:]}"
    )
    seqs = []
    for line in lines:
        key, sep, value = line.partition("\t")
        assert sep and key == rid, f"line not keyed by {rid}: {line[:200]}"
        obj = orjson.loads(value)
        assert obj["rid"] == rid and isinstance(obj["ts"], float | int), obj
        seqs.append(obj["seq"])
    assert result.returncode == 0, result.stderr[-3000:]
    assert seqs == list(range(1, count + 1))  # one response lives in one partition, in order
