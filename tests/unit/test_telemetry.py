"""Logs never carry personal data, and carry the trace id."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from chassis.telemetry import JsonLogFormatter, context_from_traceparent, redact


def test_redact_masks_national_ids_phones_emails_and_ibans() -> None:
    line = (
        "applicant 5ZK7PQM phone +994501234567 mail aysel@example.az"
        " iban AZ21NABZ00000000137010001944"
    )
    masked = redact(line)
    for secret in ("5ZK7PQM", "+994501234567", "aysel@example.az", "AZ21NABZ00000000137010001944"):
        assert secret not in masked
    assert masked.startswith("applicant [redacted]")


def test_redact_keeps_ordinary_words_and_case_ids() -> None:
    text = "case 0b7e2c1e-6d5a-4f0e-9a57-2f3c1d9e8b11 approved OLD_AGE_PENSION"
    assert redact(text) == text


def test_json_log_line_has_trace_id_inside_a_span_and_no_pii() -> None:
    tracer = TracerProvider().get_tracer("test")
    formatter = JsonLogFormatter("intake")
    parent = context_from_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
    with tracer.start_as_current_span("work", context=parent):
        record = logging.LogRecord("x", logging.INFO, __file__, 1, "for %s", ("5ZK7PQM",), None)
        entry = json.loads(formatter.format(record))
    assert entry["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert entry["message"] == "for [redacted]"
    assert entry["service"] == "intake"
