"""Notifications' subscriber: the events of every context that a citizen is told of, and
the civil registry's deaths. One subscription over the four topics, so that dead letters
are sequenced per case across them (a case whose decision failed is told nothing after it
until that letter is redriven)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from chassis.consumer import EventConsumer, EventHandler
from chassis.runtime import ServiceRuntime
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent
from contracts.civil_registry import PersonDied
from contracts.eligibility import EligibilityDecided, ReferredForReview, WithdrawalRejected
from contracts.intake import ApplicationSubmitted, ApplicationWithdrawn
from contracts.payments import (
    EntitlementSuspended,
    EntitlementTerminated,
    PaymentReturned,
    PaymentSettled,
)
from contracts.topics import ELIGIBILITY_EVENTS, INTAKE_EVENTS, PAYMENTS_EVENTS, REGISTRY_EVENTS
from services.notifications.handlers import citizens
from services.notifications.handlers.citizens import Planning

_HANDLERS: dict[str, Callable[[UnitOfWork, Planning, CloudEvent], Awaitable[None]]] = {
    ApplicationSubmitted.event_type: citizens.application_submitted,
    ApplicationWithdrawn.event_type: citizens.application_withdrawn,
    EligibilityDecided.event_type: citizens.eligibility_decided,
    ReferredForReview.event_type: citizens.referred_for_review,
    WithdrawalRejected.event_type: citizens.withdrawal_rejected,
    PaymentSettled.event_type: citizens.payment_settled,
    PaymentReturned.event_type: citizens.payment_returned,
    EntitlementSuspended.event_type: citizens.entitlement_suspended,
    EntitlementTerminated.event_type: citizens.entitlement_terminated,
    PersonDied.event_type: citizens.person_died,
}


def _with(
    planning: Planning, handler: Callable[[UnitOfWork, Planning, CloudEvent], Awaitable[None]]
) -> EventHandler:
    async def handle(work: UnitOfWork, event: CloudEvent) -> None:
        await handler(work, planning, event)

    return handle


def register(runtime: ServiceRuntime, planning: Planning) -> None:
    """Subscribe notifications' consumer on the runtime's broker."""
    handlers = {type_name: _with(planning, handler) for type_name, handler in _HANDLERS.items()}
    consumer = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.citizens",
        handlers=handlers,
    )
    runtime.subscribe(
        consumer,
        [INTAKE_EVENTS, ELIGIBILITY_EVENTS, PAYMENTS_EVENTS, REGISTRY_EVENTS],
        description="What a citizen is told of: received, decided, referred, paid, returned,"
        " suspended, ended, withdrawn; deaths stop every message to the person.",
    )
