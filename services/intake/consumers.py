"""Intake's subscribers: commands from other systems, and the tracker over every context."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from chassis.consumer import EventConsumer
from chassis.dead_letters import ReceivedRecord
from chassis.runtime import ServiceRuntime
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent, InvalidEventData
from contracts.eligibility import EligibilityDecided, ReferredForReview, WithdrawalRejected
from contracts.intake import RejectedField, SubmitApplication
from contracts.topics import ELIGIBILITY_EVENTS, INTAKE_COMMANDS
from services.intake import handlers, projections
from services.intake.domain.application import ApplicationStatus
from services.intake.domain.errors import IdempotencyKeyReused


async def on_submit_application(work: UnitOfWork, command: CloudEvent) -> None:
    assert isinstance(command.data, SubmitApplication)
    submission = handlers.Submission(
        body=command.data,
        channel="kafka",
        idempotency_scope=command.source,
        idempotency_key=command.id,
        submitted_by=command.source,
        correlation_id=command.correlationid or command.id,
        causation_id=command.id,
    )
    now = datetime.now(UTC)
    try:
        await handlers.submit_application(work, submission, now=now)
    except IdempotencyKeyReused as error:
        problem = RejectedField(loc="id", msg=str(error), type="idempotency_key_reused")
        await handlers.reject_submission(work, command, [problem], now=now)


async def on_invalid_submission(
    work: UnitOfWork, command: CloudEvent, error: InvalidEventData
) -> None:
    problems = [RejectedField(loc=e.loc, msg=e.msg, type=e.kind) for e in error.errors]
    await handlers.reject_submission(work, command, problems, now=datetime.now(UTC))


async def on_other_command(work: UnitOfWork, command: CloudEvent) -> None:
    problem = RejectedField(
        loc="type", msg=f"{INTAKE_COMMANDS} does not accept {command.type}", type="wrong_topic"
    )
    await handlers.reject_submission(work, command, [problem], now=datetime.now(UTC))


def command_message_id(command: CloudEvent, record: ReceivedRecord) -> str:
    # A redelivery (same bytes) is a duplicate; a new command reusing an id reaches the
    # handler, which answers with a rejection if the application differs.
    digest = hashlib.sha256(record.value).hexdigest()
    return f"{command.source}|{command.id}|{digest}"


async def on_decided(work: UnitOfWork, event: CloudEvent) -> None:
    assert isinstance(event.data, EligibilityDecided)
    outcome = ApplicationStatus(event.data.outcome)
    await handlers.note_decision(
        work, event.data.case_id, outcome, now=datetime.now(UTC), causation_id=event.id
    )


async def on_referred(work: UnitOfWork, event: CloudEvent) -> None:
    assert isinstance(event.data, ReferredForReview)
    await handlers.note_decision(
        work,
        event.data.case_id,
        ApplicationStatus.UNDER_REVIEW,
        now=datetime.now(UTC),
        causation_id=event.id,
    )


async def on_withdrawal_rejected(work: UnitOfWork, event: CloudEvent) -> None:
    assert isinstance(event.data, WithdrawalRejected)
    await handlers.overrule_withdrawal(
        work,
        event.data.case_id,
        ApplicationStatus(event.data.decision),
        now=datetime.now(UTC),
        causation_id=event.id,
    )


def register(runtime: ServiceRuntime) -> None:
    """Subscribe intake's consumers on the runtime's broker."""
    commands = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.commands",
        handlers={SubmitApplication.event_type: on_submit_application},
        fallback_handler=on_other_command,
        rejection_handlers={SubmitApplication.event_type: on_invalid_submission},
        message_id=command_message_id,
        answers_duplicates=True,
    )
    runtime.subscribe(
        commands,
        INTAKE_COMMANDS,
        description=(
            "SubmitApplication commands from other government systems. Each is answered on"
            " dost.intake.events.v1 by ApplicationSubmitted or SubmissionRejected (causationid ="
            " the command id); a duplicate (same source, id and data) is answered again with"
            " the original outcome, same event id."
        ),
    )

    decisions = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.decisions",
        handlers={
            EligibilityDecided.event_type: on_decided,
            ReferredForReview.event_type: on_referred,
            WithdrawalRejected.event_type: on_withdrawal_rejected,
        },
    )
    runtime.subscribe(
        decisions,
        ELIGIBILITY_EVENTS,
        description=(
            "Eligibility outcomes: a decided application can no longer be withdrawn, and one"
            " whose withdrawal came after its decision is decided, not withdrawn."
        ),
    )

    async def on_tracked_event(work: UnitOfWork, event: CloudEvent) -> None:
        await projections.record_event(work.connection, work.schema, event)

    tracker = EventConsumer(
        database=runtime.database,
        schema=runtime.schema,
        subscription=f"{runtime.schema}.tracker",
        handlers={},
        fallback_handler=on_tracked_event,
    )
    runtime.subscribe(
        tracker,
        projections.TRACKED_TOPICS,
        description="Every context's events, folded into the case tracker.",
    )
