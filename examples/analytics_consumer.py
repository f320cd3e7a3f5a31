"""An outside analytics job: reads <prefix>.events in a consumer group of its own, applies the
readers' rule (app/ordering.py) and reports, per model, calls, tokens and time to first text.

    python -m examples.analytics_consumer --group my-analytics --from-beginning --idle-s 5

It shares nothing with the live path but the broker: its own group (its own offsets, its own
rebalances), read-only, and writers never wait for consumers. docs/analytics.md says more.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

from app import events, kafka_security
from app.errors import DecodeError
from app.ids import created_ms
from app.ordering import Order
from app.settings import Settings

FINISHED_KEPT = 100_000  # ended responses remembered, so their late records are not counted


@dataclass
class ModelStats:
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    chars: int = 0
    ttft_ms: list[float] = field(default_factory=list)  # response creation -> the call's 1st text

    def report(self) -> dict[str, Any]:
        ttft = sorted(self.ttft_ms)
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "chars": self.chars,
            "ttft_ms_p50": round(statistics.median(ttft), 1) if ttft else None,
            "ttft_ms_max": round(ttft[-1], 1) if ttft else None,
        }


@dataclass
class Response:
    order: Order = field(default_factory=Order)
    first_text: dict[str, float] = field(default_factory=dict)  # source -> ts of its 1st delta
    chars: dict[str, int] = field(default_factory=dict)


class Analytics:
    """Folds events into per-model figures; any Kafka client could do the same."""

    def __init__(self) -> None:
        self.models: dict[str, ModelStats] = {}
        self.open: dict[str, Response] = {}
        self.finished: OrderedDict[str, None] = OrderedDict()
        self.responses = 0
        self.ignored = 0  # duplicates, late records, records after a terminal
        self.undecodable = 0

    def feed(self, value: bytes | None) -> None:
        try:
            event = events.decode(value)
        except DecodeError:
            self.undecodable += 1
            return
        if event.rid in self.finished:
            self.ignored += 1
            return
        response = self.open.setdefault(event.rid, Response())
        # The readers' rule: the first event with a seq wins; nothing after the terminal counts.
        if not response.order.accept(event):
            self.ignored += 1
            return
        if event.type == events.DELTA:
            response.first_text.setdefault(event.source, event.ts)
            response.chars[event.source] = response.chars.get(event.source, 0) + len(
                event.text or ""
            )
        elif event.type == events.SOURCE_DONE and event.model is not None:
            self.call_done(event, response)
        elif event.terminal:
            self.responses += 1
            del self.open[event.rid]
            self.finished[event.rid] = None
            if len(self.finished) > FINISHED_KEPT:
                self.finished.popitem(last=False)

    def call_done(self, event: events.Event, response: Response) -> None:
        assert event.model is not None
        stats = self.models.setdefault(event.model, ModelStats())
        stats.calls += 1
        usage = event.usage or {}
        stats.input_tokens += int(usage.get("input_tokens") or 0)
        stats.output_tokens += int(usage.get("output_tokens") or 0)
        stats.chars += response.chars.get(event.source, 0)
        created = created_ms(event.rid)  # generated ids carry their creation time
        first = response.first_text.get(event.source)
        if created is not None and first is not None:
            stats.ttft_ms.append(first - created)

    def report(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "in_progress": len(self.open),
            "ignored": self.ignored,
            "undecodable": self.undecodable,
            "models": {m: s.report() for m, s in sorted(self.models.items())},
        }


async def run(settings: Settings, group: str, from_beginning: bool, idle_s: float | None) -> None:
    consumer = AIOKafkaConsumer(
        settings.events_topic,
        **kafka_security.aiokafka_options(settings),
        group_id=group,  # its own group: its offsets and rebalances are nobody else's
        client_id=f"analytics-{group}",
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=True,  # a restart goes on where it stopped (at least once)
    )
    analytics = Analytics()
    await consumer.start()
    try:
        last_record = time.monotonic()
        while idle_s is None or time.monotonic() - last_record < idle_s:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for records in batch.values():
                for record in records:
                    analytics.feed(record.value)
                last_record = time.monotonic()
    finally:
        await consumer.stop()
    sys.stdout.write(orjson.dumps(analytics.report(), option=orjson.OPT_INDENT_2).decode() + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--group", default="tokenrelay-analytics-example")
    parser.add_argument("--from-beginning", action="store_true", help="for a new group")
    parser.add_argument("--idle-s", type=float, help="stop after this long without a record")
    args = parser.parse_args(argv)
    settings = Settings.from_env()  # TOKENRELAY_KAFKA, TOKENRELAY_TOPIC_PREFIX
    asyncio.run(run(settings, args.group, args.from_beginning, args.idle_s))


if __name__ == "__main__":
    main()
