"""The worker's Faust consumer waits at most FETCH_MAX_WAIT_MS in a fetch (agents/transport.py):
with Faust's 1,500 ms, a fetch of its quiet partitions held every request written during a burst
of new responses (500 at once: first tokens ~1.5 s late)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread

from agents.app import make_app
from agents.transport import FETCH_MAX_WAIT_MS
from app.settings import Settings


async def test_the_worker_consumer_waits_less_than_fausts_default(tmp_path: Path) -> None:
    app = make_app(Settings(topic_prefix="fetchwait", worker_datadir=str(tmp_path)))
    consumer: Any = app.consumer
    thread = consumer._thread
    transport = cast(Any, app.transport)
    ours = thread._create_worker_consumer(transport)
    # The control: Faust's own consumer thread, on the same app, still hard-codes its wait.
    faust_thread = AIOKafkaConsumerThread(consumer, loop=thread.loop, beacon=thread.beacon)
    fausts = faust_thread._create_worker_consumer(transport)
    try:
        assert ours._fetch_max_wait_ms == FETCH_MAX_WAIT_MS < fausts._fetch_max_wait_ms == 1500
    finally:
        await ours.stop()  # never started: this closes their clients only
        await fausts.stop()
