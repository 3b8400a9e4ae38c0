"""Handlers of single entitlements: grant on approval, settlement and return from the bank,
new bank details, death. Each loads the entitlement (its row locked), decides, saves."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chassis.event_types import event_types
from chassis.outbox import CLOUDEVENTS_CONTENT_TYPE, OutboxMessage
from chassis.unit_of_work import PublicEvents, UnitOfWork
from contracts import CloudEvent, new_cloud_event
from contracts.eligibility import EligibilityDecided
from contracts.eligibility import ScheduledAmount as ScheduledAmountV1
from contracts.payments import (
    EntitlementGranted as EntitlementGrantedV1,
)
from contracts.payments import (
    EntitlementResumed as EntitlementResumedV1,
)
from contracts.payments import (
    EntitlementSuspended as EntitlementSuspendedV1,
)
from contracts.payments import (
    EntitlementTerminated as EntitlementTerminatedV1,
)
from contracts.payments import (
    MonthPaid,
)
from contracts.payments import (
    OverpaymentDetected as OverpaymentDetectedV1,
)
from contracts.payments import (
    PaymentInstructionIssued as PaymentInstructionIssuedV1,
)
from contracts.payments import (
    PaymentReturned as PaymentReturnedV1,
)
from contracts.payments import (
    PaymentSettled as PaymentSettledV1,
)
from services.payments import projections
from services.payments.domain.entitlement import (
    LUMP_SUM,
    MONTHLY,
    Entitlement,
    EntitlementGranted,
    EntitlementResumed,
    EntitlementSuspended,
    EntitlementTerminated,
    OverpaymentDetected,
    PaymentInstructionIssued,
    PaymentReturned,
    PaymentSettled,
    ScheduledAmount,
)
from services.payments.domain.errors import EntitlementNotFound, UnknownInstruction
from services.payments.domain.events import STORED_EVENTS

SOURCE = "urn:dost:payments"
event_types.register_all(STORED_EVENTS)


async def grant(work: UnitOfWork, decision: CloudEvent, *, now: datetime) -> bool:
    """Grant the entitlement an approving decision awards (once per case: a redelivered
    decision, or a second approval of the case, finds it granted). True if granted now."""
    data = decision.data
    assert isinstance(data, EligibilityDecided)
    if data.outcome != "approved" or data.award is None or data.payee is None:
        return False
    await work.serialize_on(f"person:{data.payee.national_id}")  # vs. a death at once
    if await projections.load(work.connection, work.schema, data.case_id) is not None:
        return False
    award = data.award
    monthly = award.payment == "monthly"
    entitlement = Entitlement.grant(
        case_id=data.case_id,
        national_id=data.payee.national_id,
        payee_name=data.payee.full_name or data.case_id,
        benefit=data.benefit.value,
        payment=MONTHLY if monthly else LUMP_SUM,
        start_date=award.start_date,
        end_date=award.end_date,
        schedule=[
            ScheduledAmount(item.effective_from, item.amount, item.policy_version)
            for item in award.amount_schedule
        ]
        or [ScheduledAmount(award.start_date, award.amount, data.policy_version)],
        lump_sum=None if monthly else award.amount,
        iban=data.payee.bank_account or "",
        at=now,
    )
    if not entitlement.iban:
        # Applied for without an account (a lump sum may be): nothing can be paid until a
        # clerk records one.
        entitlement.record(EntitlementSuspended("bank_details", now))
    died = await projections.date_of_death(work.connection, work.schema, data.payee.national_id)
    if died is not None:  # the registry's report overtook the approval
        entitlement.terminate_for_death(died, now)
    await save(work, [entitlement], correlation_id=decision.correlationid, causation_id=decision.id)
    return True


async def load(work: UnitOfWork, entitlement_id: str) -> Entitlement:
    entitlement = await projections.load(work.connection, work.schema, entitlement_id)
    if entitlement is None:
        raise EntitlementNotFound(f"no entitlement {entitlement_id}")
    return entitlement


async def settle(
    work: UnitOfWork, instruction_id: str, *, settled_at: datetime, causation_id: str
) -> None:
    """The bank credited the beneficiary (a repeated report changes nothing)."""
    entitlement = await _of_instruction(work, instruction_id)
    entitlement.settle(instruction_id, settled_at)
    await save(work, [entitlement], correlation_id=causation_id, causation_id=causation_id)


async def return_payment(
    work: UnitOfWork, instruction_id: str, reason: str, *, now: datetime, causation_id: str
) -> None:
    """The bank returned the money (a repeated report changes nothing)."""
    entitlement = await _of_instruction(work, instruction_id)
    entitlement.return_payment(instruction_id, reason, now)
    await save(work, [entitlement], correlation_id=causation_id, causation_id=causation_id)


async def change_bank_account(
    work: UnitOfWork, entitlement_id: str, iban: str, *, changed_by: str, now: datetime
) -> Entitlement:
    """A clerk recorded new bank details; a suspended entitlement resumes."""
    entitlement = await load(work, entitlement_id)
    entitlement.change_bank_account(iban, changed_by, now)
    await save(work, [entitlement], correlation_id=entitlement_id, causation_id=None)
    return entitlement


async def person_died(
    work: UnitOfWork, national_id: str, date_of_death: date, *, now: datetime, causation_id: str
) -> None:
    """End the person's entitlements at the end of the month of death; report what was
    paid for later months. The death is kept, for an approval still on its way."""
    await work.serialize_on(f"person:{national_id}")
    await projections.record_death(work.connection, work.schema, national_id, date_of_death)
    ended = []
    for entitlement_id in await projections.entitlements_of_person(
        work.connection, work.schema, national_id
    ):
        entitlement = await load(work, entitlement_id)
        entitlement.terminate_for_death(date_of_death, now)
        ended.append(entitlement)
    await save(work, ended, correlation_id=causation_id, causation_id=causation_id)


async def save(
    work: UnitOfWork,
    entitlements: Sequence[Entitlement],
    *,
    correlation_id: str | None,
    causation_id: str | None,
    check_now: bool = True,
    publishing: PublicEvents[Entitlement] | None = None,
) -> None:
    """Append what each entitlement recorded, publish it (as `publishing` says, by default
    :func:`public_events`), and write the read models."""
    saved = []
    for entitlement in entitlements:
        events = await work.save(
            entitlement,
            public_events=publishing or public_events,
            correlation_id=correlation_id,
            causation_id=causation_id,
            check_now=check_now,
        )
        if events:
            saved.append((entitlement, [item.event for item in events]))
    await projections.save(work.connection, work.schema, saved)


async def _of_instruction(work: UnitOfWork, instruction_id: str) -> Entitlement:
    entitlement_id = await projections.entitlement_of_instruction(
        work.connection, work.schema, instruction_id
    )
    if entitlement_id is None:
        raise UnknownInstruction(f"no payment instruction {instruction_id}")
    return await load(work, entitlement_id)


def instruction_record(
    entitlement: Entitlement,
    event: PaymentInstructionIssued,
    event_id: str,
    *,
    correlation_id: str,
    traceparent: str | None,
) -> OutboxMessage:
    """The `PaymentInstructionIssued` record :func:`public_events` would publish, encoded
    directly: a run publishes a million of them, and building each through the envelope's
    models costs more than the rest of paying it (a unit test keeps the two identical)."""
    envelope: dict[str, Any] = {
        "specversion": "1.0",
        "id": event_id,
        "source": SOURCE,
        "type": PaymentInstructionIssuedV1.event_type,
        "subject": entitlement.case_id,
        "time": _json_time(event.issued_at),
        "datacontenttype": "application/json",
        "data": {
            "instruction_id": event.instruction_id,
            "entitlement_id": entitlement.entitlement_id,
            "case_id": entitlement.case_id,
            "period": str(event.period),
            "months": [
                {"month": str(line.month), "amount": str(line.amount)} for line in event.lines
            ],
            "amount": str(event.amount),
            "issued_at": _json_time(event.issued_at),
        },
        "correlationid": correlation_id,
        "causationid": correlation_id,
    }
    headers = [("content-type", CLOUDEVENTS_CONTENT_TYPE)]
    if traceparent:
        envelope["traceparent"] = traceparent
        headers.append(("traceparent", traceparent))
    return OutboxMessage(
        topic=PaymentInstructionIssuedV1.topic,
        payload=json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode(),
        key=entitlement.case_id.encode(),
        headers=tuple(headers),
    )


def _json_time(moment: datetime) -> str:
    """A time as the envelope models write it (UTC as `Z`)."""
    text = moment.isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def public_events(entitlement: Entitlement, event: Any, event_id: str) -> list[CloudEvent]:
    """What each event of an entitlement tells the other contexts (bank details never)."""
    ids = {"entitlement_id": entitlement.entitlement_id, "case_id": entitlement.case_id}
    data: Any
    match event:
        case EntitlementGranted():
            first = event.schedule[0].amount if event.schedule else Decimal(0)
            data = EntitlementGrantedV1(
                **ids,
                benefit=event.benefit,
                payment="monthly" if event.payment == MONTHLY else "lump_sum",
                amount=first if event.payment == MONTHLY else (event.lump_sum or Decimal(0)),
                start_date=event.start_date,
                end_date=event.end_date,
                amount_schedule=[
                    ScheduledAmountV1(
                        effective_from=s.effective_from,
                        amount=s.amount,
                        policy_version=s.policy_version,
                    )
                    for s in event.schedule
                ]
                if event.payment == MONTHLY
                else [],
                granted_at=event.granted_at,
            )
            time = event.granted_at
        case PaymentInstructionIssued():
            # Built without re-validating: a run publishes a million of these, all from
            # values the domain made (model_construct keeps the run within its budget).
            data = PaymentInstructionIssuedV1.model_construct(
                entitlement_id=entitlement.entitlement_id,
                case_id=entitlement.case_id,
                instruction_id=event.instruction_id,
                period=str(event.period),
                months=[
                    MonthPaid.model_construct(month=str(line.month), amount=line.amount)
                    for line in event.lines
                ],
                amount=event.amount,
                issued_at=event.issued_at,
            )
            time = event.issued_at
        case PaymentSettled():
            data = PaymentSettledV1(
                **ids,
                instruction_id=event.instruction_id,
                amount=entitlement.instructions[event.instruction_id].amount,
                settled_at=event.settled_at,
            )
            time = event.settled_at
        case PaymentReturned():
            data = PaymentReturnedV1(
                **ids,
                instruction_id=event.instruction_id,
                amount=entitlement.instructions[event.instruction_id].amount,
                reason=event.reason,
                returned_at=event.returned_at,
            )
            time = event.returned_at
        case EntitlementSuspended():
            data = EntitlementSuspendedV1(
                **ids, reason="bank_details", suspended_at=event.suspended_at
            )
            time = event.suspended_at
        case EntitlementResumed():
            data = EntitlementResumedV1(**ids, resumed_at=event.resumed_at)
            time = event.resumed_at
        case EntitlementTerminated():
            data = EntitlementTerminatedV1(
                **ids,
                reason="death" if event.reason == "death" else "expired",
                ends_on=event.ends_on,
                terminated_at=event.terminated_at,
            )
            time = event.terminated_at
        case OverpaymentDetected():
            data = OverpaymentDetectedV1(
                **ids,
                instruction_ids=list(event.instruction_ids),
                months=[str(month) for month in event.months],
                amount=event.amount,
                detected_at=event.detected_at,
            )
            time = event.detected_at
        case _:
            return []  # bank details stay here
    return [
        new_cloud_event(
            data, source=SOURCE, subject=entitlement.case_id, event_id=event_id, time=time
        )
    ]
