"""Telemetry in one call: OpenTelemetry traces and metrics, JSON logs without personal data.

Spans go to OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, otherwise as JSON lines to
`<state dir>/traces/<service>.jsonl`. Metrics are exposed for Prometheus at `/metrics`.
Trace context travels in the `traceparent` Kafka header and CloudEvent extension.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()
_setup_lock = threading.Lock()
_configured_service: str | None = None

# Personal data must never reach a log line: these patterns are masked on the way out.
_PII_PATTERNS = (
    re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"),  # e-mail
    re.compile(r"\+?\b[0-9][0-9 ()-]{8,}[0-9]\b"),  # phone numbers
    re.compile(r"\b[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}\b"),  # IBAN
    re.compile(r"\b(?=[0-9A-Z]*[0-9])(?=[0-9A-Z]*[A-Z])[0-9A-Z]{7}\b"),  # FIN
)


def redact(text: str) -> str:
    """`text` with e-mail addresses, phone numbers, IBANs and national ids masked."""
    for pattern in _PII_PATTERNS:
        text = pattern.sub("[redacted]", text)
    return text


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line, with the current trace and span ids and PII masked."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span_context = trace.get_current_span().get_span_context()
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        if span_context.is_valid:
            entry["trace_id"] = format(span_context.trace_id, "032x")
            entry["span_id"] = format(span_context.span_id, "016x")
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


class JsonLinesSpanExporter(SpanExporter):
    """Writes finished spans as JSON lines to a local file (the no-collector default)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        with self._lock:
            for span in spans:
                self._file.write(span.to_json(indent=None) + "\n")
            self._file.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            self._file.close()


def setup_telemetry(
    service: str,
    *,
    state_dir: Path,
    otlp_endpoint: str | None = None,
    log_level: str = "INFO",
) -> None:
    """Install the tracer, meter and JSON logging for this process (once per process)."""
    global _configured_service
    with _setup_lock:
        if _configured_service is not None:
            return
        _configured_service = service
        resource = Resource.create({"service.name": f"dost-{service}"})
        tracer_provider = TracerProvider(resource=resource)
        exporter: SpanExporter
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporter = OTLPSpanExporter()
        else:
            exporter = JsonLinesSpanExporter(state_dir / "traces" / f"{service}.jsonl")
        tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
        trace.set_tracer_provider(tracer_provider)

        from opentelemetry.exporter.prometheus import PrometheusMetricReader

        metrics.set_meter_provider(
            MeterProvider(resource=resource, metric_readers=[PrometheusMetricReader()])
        )
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonLogFormatter(service))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(log_level.upper())


def shutdown_telemetry() -> None:
    """Flush pending spans."""
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def tracer(name: str) -> trace.Tracer:
    """A tracer for instrumentation `name`."""
    return trace.get_tracer(name)


def meter(name: str) -> metrics.Meter:
    """A meter for instrumentation `name`."""
    return metrics.get_meter(name)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span, or None outside any span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from_traceparent(traceparent: str | None) -> otel_context.Context:
    """A context whose parent is the span `traceparent` names (or an empty one)."""
    if not traceparent:
        return otel_context.Context()
    return _PROPAGATOR.extract({"traceparent": traceparent})
