"""Eligibility's subscribers: applications from intake, deaths from the civil registry."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.consumer import EventConsumer
from chassis.runtime import ServiceRuntime
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent
from contracts.civil_registry import PersonDied
from contracts.intake import ApplicationSubmitted, ApplicationWithdrawn
from contracts.payments import EntitlementTerminated
from contracts.topics import INTAKE_EVENTS, PAYMENTS_EVENTS, REGISTRY_EVENTS
from services.eligibility import handlers
from services.eligibility.domain.policy import PolicyBook


def register(runtime: ServiceRuntime, book: PolicyBook) -> None:
    """Subscribe eligibility's consumers on the runtime's broker."""

    async def on_submitted(work: UnitOfWork, event: CloudEvent) -> None:
        await handlers.decide_application(work, event, book, now=datetime.now(UTC))

    async def on_withdrawn(work: UnitOfWork, event: CloudEvent) -> None:
        assert isinstance(event.data, ApplicationWithdrawn)
        await handlers.withdraw(
            work,
            event.data.case_id,
            now=datetime.now(UTC),
            withdrawal_id=event.id,
            correlation_id=event.correlationid or event.id,
        )

    async def on_death(work: UnitOfWork, event: CloudEvent) -> None:
        assert isinstance(event.data, PersonDied)
        await handlers.person_died(
            work,
            event.data.national_id,
            event.data.date_of_death,
            now=datetime.now(UTC),
            causation_id=event.id,
        )

    applications = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.applications",
        handlers={
            ApplicationSubmitted.event_type: on_submitted,
            ApplicationWithdrawn.event_type: on_withdrawn,
        },
    )
    runtime.subscribe(
        applications,
        INTAKE_EVENTS,
        description=(
            "Submitted applications are decided; one withdrawn before its decision never is."
            " A withdrawal after the decision is answered with WithdrawalRejected."
        ),
    )

    async def on_entitlement_ended(work: UnitOfWork, event: CloudEvent) -> None:
        assert isinstance(event.data, EntitlementTerminated)
        await handlers.end_award(
            work,
            event.data.case_id,
            event.data.ends_on,
            event.data.reason,
            now=datetime.now(UTC),
            causation_id=event.id,
        )

    entitlements = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.entitlements",
        handlers={EntitlementTerminated.event_type: on_entitlement_ended},
    )
    runtime.subscribe(
        entitlements,
        PAYMENTS_EVENTS,
        description="Entitlements payments ended: the person may apply again (already_receiving).",
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
        description="Deaths reported by the civil registry: the deceased are rejected.",
    )
