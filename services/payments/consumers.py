"""Payments' subscribers: approvals from eligibility, deaths from the civil registry, and
what the bank reports of the instructions."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.consumer import EventConsumer, Unprocessable
from chassis.runtime import ServiceRuntime
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent
from contracts.bank import PaymentReturned, PaymentSettled
from contracts.civil_registry import PersonDied
from contracts.eligibility import EligibilityDecided
from contracts.topics import BANK_SETTLEMENTS, ELIGIBILITY_EVENTS, REGISTRY_EVENTS
from services.payments.domain.errors import UnknownInstruction
from services.payments.handlers import entitlements


async def on_decided(work: UnitOfWork, event: CloudEvent) -> None:
    await entitlements.grant(work, event, now=datetime.now(UTC))


async def on_death(work: UnitOfWork, event: CloudEvent) -> None:
    assert isinstance(event.data, PersonDied)
    await entitlements.person_died(
        work,
        event.data.national_id,
        event.data.date_of_death,
        now=datetime.now(UTC),
        causation_id=event.id,
    )


async def on_settled(work: UnitOfWork, event: CloudEvent) -> None:
    assert isinstance(event.data, PaymentSettled)
    try:
        await entitlements.settle(
            work, event.data.instruction_id, settled_at=event.data.settled_at, causation_id=event.id
        )
    except UnknownInstruction as error:
        raise Unprocessable("unknown_instruction", str(error)) from None


async def on_returned(work: UnitOfWork, event: CloudEvent) -> None:
    assert isinstance(event.data, PaymentReturned)
    try:
        await entitlements.return_payment(
            work,
            event.data.instruction_id,
            event.data.reason,
            now=datetime.now(UTC),
            causation_id=event.id,
        )
    except UnknownInstruction as error:
        raise Unprocessable("unknown_instruction", str(error)) from None


def by_instruction(event: CloudEvent) -> str | None:
    """Bank reports carry no case: they are sequenced by the instruction they are about."""
    instruction_id = getattr(event.data, "instruction_id", None)
    return str(instruction_id) if instruction_id else None


def register(runtime: ServiceRuntime) -> None:
    """Subscribe payments' consumers on the runtime's broker."""
    decisions = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.decisions",
        handlers={EligibilityDecided.event_type: on_decided},
    )
    runtime.subscribe(
        decisions,
        ELIGIBILITY_EVENTS,
        description="Approvals (automated or on review) grant one entitlement per case.",
    )
    deaths = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.deaths",
        handlers={PersonDied.event_type: on_death},
    )
    runtime.subscribe(
        deaths,
        REGISTRY_EVENTS,
        description="Deaths end entitlements at the end of the month; later payments are"
        " reported as overpayments.",
    )
    settlements = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.settlements",
        handlers={PaymentSettled.event_type: on_settled, PaymentReturned.event_type: on_returned},
        sequence_key=by_instruction,
    )
    runtime.subscribe(
        settlements,
        BANK_SETTLEMENTS,
        description="The bank's settlements and returns; an unknown instruction is"
        " dead-lettered (unknown_instruction), a repeated report changes nothing.",
    )
