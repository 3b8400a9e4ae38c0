"""What payments publishes: the fast path a run uses for its instructions says exactly what
the envelope models say."""

from __future__ import annotations

import json
from datetime import date, timedelta

from chassis.outbox import message_for
from contracts import decode
from contracts.payments import PaymentInstructionIssued as PaymentInstructionIssuedV1
from contracts.periods import Month
from services.payments.domain.entitlement import PaymentInstructionIssued
from services.payments.handlers.entitlements import instruction_record, public_events
from tests.unit.payments.test_entitlement import NOW, granted

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_an_instruction_record_is_the_record_of_its_public_event() -> None:
    entitlement = granted(date(2026, 1, 1))
    at = NOW + timedelta(microseconds=120)  # as a run's clock gives it
    assert entitlement.issue_payment(Month(2027, 1), "payment-run-2027-01", at)
    issued = entitlement.pending[-1]
    assert isinstance(issued, PaymentInstructionIssued)
    assert len(issued.lines) == 12  # arrears over the 2026/2027 amount change

    fast = instruction_record(
        entitlement,
        issued,
        "0d8f3c2e-9a51-4c1e-8d5b-5f0c2a7e1b44",
        correlation_id="payment-run-2027-01",
        traceparent=TRACEPARENT,
    )
    [event] = public_events(entitlement, issued, "0d8f3c2e-9a51-4c1e-8d5b-5f0c2a7e1b44")
    event = event.model_copy(
        update={
            "correlationid": "payment-run-2027-01",
            "causationid": "payment-run-2027-01",
            "traceparent": TRACEPARENT,
        }
    )
    modelled = message_for(event)

    assert (fast.topic, fast.key) == (modelled.topic, modelled.key)
    assert dict(fast.headers)["content-type"] == dict(modelled.headers)["content-type"]
    assert dict(fast.headers)["traceparent"] == TRACEPARENT
    assert json.loads(fast.payload) == json.loads(modelled.payload)
    assert decode(fast.payload) == decode(modelled.payload)
    data = decode(fast.payload).data
    assert isinstance(data, PaymentInstructionIssuedV1)
    assert [str(line.amount) for line in data.months] == ["316.00"] * 11 + ["330.00"]
    assert data.amount == issued.amount
