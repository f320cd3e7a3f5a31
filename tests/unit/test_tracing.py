"""app/tracing.py: off unless an endpoint is configured (then not even the SDK is imported), and
W3C context in Kafka headers makes a child span of the span that wrote it."""

from __future__ import annotations

import subprocess
import sys

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.settings import Settings
from app.tracing import Tracing


def test_off_without_an_endpoint() -> None:
    tracing = Tracing.from_settings(Settings(), "tokenrelay-edge", environ={})
    assert not tracing.on and tracing.provider is None
    assert (
        tracing.start("generate", [("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")])
        is None
    )
    assert tracing.headers() is None
    tracing.shutdown()


def test_off_imports_no_sdk_and_installs_no_provider() -> None:
    code = (
        "import sys; from app.settings import Settings; from app.tracing import Tracing; "
        "import app.edge.main, agents.app; "
        "t = Tracing.from_settings(Settings(), 'x', environ={}); "
        "from opentelemetry import trace; "
        "assert not t.on; "
        "assert not [m for m in sys.modules if m.startswith('opentelemetry.sdk')], 'sdk imported'; "
        "assert type(trace.get_tracer_provider()).__name__ == 'ProxyTracerProvider'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_on_with_either_endpoint() -> None:
    mine = Tracing.from_settings(Settings(otlp_endpoint="http://127.0.0.1:9"), "x", environ={})
    standard = Tracing.from_settings(
        Settings(), "x", environ={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    )
    try:
        assert mine.on and standard.on
    finally:
        mine.shutdown()
        standard.shutdown()


def test_kafka_headers_carry_the_parent() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing = Tracing(provider)
    parent = tracing.start("generate", kind="consumer", rid="r-1")
    headers = tracing.headers(parent)
    assert headers is not None and [k for k, _ in headers] == ["traceparent"]
    child = tracing.start("deliver", headers, kind="consumer")
    child.end()
    parent.end()
    deliver, generate = exporter.get_finished_spans()
    assert deliver.parent is not None and deliver.parent.span_id == generate.context.span_id
    assert deliver.context.trace_id == generate.context.trace_id
    assert generate.attributes["tokenrelay.rid"] == "r-1"
    # No context in the headers: a root span, not an error.
    assert tracing.start("deliver", [("other", b"x")]).parent is None
