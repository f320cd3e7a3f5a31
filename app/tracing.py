"""OpenTelemetry traces of a response, exported by OTLP/HTTP when configured and off otherwise.

A response's trace: the edge's `POST /v1/responses` span -> the worker's `generate` span -> the
edge's `deliver` span (its first event, from arrival to the first socket write). W3C trace
context crosses Kafka in record headers: on the request record, and on the first event record of
a response only. Every other event carries none: a header is ~70 bytes and a librdkafka header
list per record, on records of a few dozen bytes at thousands a second, and a reader needs no
span per token to see where a response's time went.

On when `TOKENRELAY_OTLP_ENDPOINT` or the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`..._TRACES_ENDPOINT`) is set. Off, nothing of the SDK is imported or installed: `Tracing.off()`
answers None everywhere, and callers test `on` once. The provider is this object's own, never
the process-global one, so nothing else in the process starts exporting.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import wraps
from typing import Any

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from app.logs import RID
from app.settings import Settings

PROPAGATOR = TraceContextTextMapPropagator()  # stateless: W3C traceparent/tracestate
OTEL_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
KINDS = {
    "server": trace.SpanKind.SERVER,
    "consumer": trace.SpanKind.CONSUMER,
    "internal": trace.SpanKind.INTERNAL,
}
Headers = list[tuple[str, bytes]]


class Tracing:
    """This process's tracer (its own provider and exporter), or none."""

    def __init__(self, provider: Any = None) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("tokenrelay") if provider is not None else None

    @property
    def on(self) -> bool:
        return self.tracer is not None

    @classmethod
    def off(cls) -> Tracing:
        return cls()

    @classmethod
    def from_settings(
        cls, settings: Settings, service: str, environ: Mapping[str, str] | None = None
    ) -> Tracing:
        environ = os.environ if environ is None else environ
        standard = any(environ.get(name) for name in OTEL_ENDPOINTS)
        if not settings.otlp_endpoint and not standard:
            return cls.off()
        # Imported only when on: the SDK and the exporter cost nothing to a process without.
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        if settings.otlp_endpoint:  # a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is
            url = settings.otlp_endpoint.rstrip("/")
            exporter = OTLPSpanExporter(endpoint=f"{url}/v1/traces")
        else:
            exporter = OTLPSpanExporter()  # reads the standard variables (headers too)
        attributes = {} if environ.get("OTEL_SERVICE_NAME") else {"service.name": service}
        provider = TracerProvider(resource=Resource.create(attributes))
        # A span is queued and sent by the processor's thread in batches (every 1 s here).
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
        return cls(provider)

    def start(
        self, name: str, parent: Iterable[tuple[str, bytes]] | None = None, *,
        kind: str = "internal", rid: str | None = None,
    ) -> Any:  # fmt: skip
        """A started span (end it), child of the context in Kafka `parent` headers if they
        carry one; None when off."""
        if self.tracer is None:
            return None
        ctx = PROPAGATOR.extract(_carrier(parent)) if parent else None
        span = self.tracer.start_span(name, context=ctx, kind=KINDS[kind])
        if rid is not None:
            span.set_attribute("tokenrelay.rid", rid)
        return span

    def headers(self, span: Any = None) -> Headers | None:
        """W3C trace context of `span` (the current span if None) as Kafka record headers;
        None when off or there is no span."""
        if self.tracer is None:
            return None
        ctx = trace.set_span_in_context(span) if span is not None else None
        carrier: dict[str, str] = {}
        PROPAGATOR.inject(carrier, context=ctx)
        return [(k, v.encode()) for k, v in carrier.items()] or None

    def shutdown(self) -> None:
        """Send what is queued (2 s at most: a collector that is down must not hold up a
        stopping process) and stop the exporter's thread."""
        if self.provider is not None:
            self.provider.force_flush(timeout_millis=2000)
            self.provider.shutdown()


def _carrier(headers: Any) -> dict[str, str]:
    """Kafka headers (pairs, or a mapping as Faust may give them) as a W3C carrier."""
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return {
        k: v.decode("latin-1") if isinstance(v, bytes) else str(v)
        for k, v in pairs
        if k in ("traceparent", "tracestate")
    }


Handler = Callable[[Any], Awaitable[Any]]


def server_span(name: str) -> Callable[[Handler], Handler]:
    """An edge endpoint traced as a SERVER span `name` (child of the request's own traceparent
    if it has one), current while the handler runs, so `Tracing.headers()` inside it injects
    it. Off: the handler, called straight."""

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def traced(request: Any) -> Any:
            tracing: Tracing = request.app.state.edge.tracing
            if tracing.tracer is None:
                return await handler(request)
            parent = PROPAGATOR.extract(dict(request.headers))
            with tracing.tracer.start_as_current_span(
                name, context=parent, kind=trace.SpanKind.SERVER
            ) as span:
                response = await handler(request)
                span.set_attribute("http.response.status_code", response.status_code)
                rid = RID.get()  # the handler bound the response's id (app/logs.py)
                if rid is not None:
                    span.set_attribute("tokenrelay.rid", rid)
                return response

        return traced

    return wrap
