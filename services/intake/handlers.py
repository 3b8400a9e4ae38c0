"""Intake's command handlers: load, decide, append, publish. Shared by HTTP and Kafka."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from chassis import jobs
from chassis.database import Connection
from chassis.event_types import event_types
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent, new_cloud_event
from contracts.application import ApplicationBody
from contracts.intake import ApplicationSubmitted as ApplicationSubmittedV1
from contracts.intake import ApplicationWithdrawn as ApplicationWithdrawnV1
from contracts.intake import RejectedField, SubmissionRejected
from services.intake import projections
from services.intake.domain.application import (
    Application,
    ApplicationEvent,
    ApplicationStatus,
    ApplicationSubmitted,
    ApplicationWithdrawn,
)
from services.intake.domain.errors import ApplicationNotFound, IdempotencyKeyReused
from services.intake.domain.events import STORED_EVENTS

SOURCE = "urn:dost:intake"
event_types.register_all(STORED_EVENTS)


@dataclass(frozen=True)
class Submission:
    """An application as it arrived, with who sent it and its idempotency key."""

    body: ApplicationBody
    channel: str  # "http" or "kafka"
    idempotency_scope: str  # "http", or the sending system's CloudEvent source
    idempotency_key: str
    submitted_by: str
    correlation_id: str
    causation_id: str | None = None


def body_digest(body: ApplicationBody) -> str:
    """Fingerprint of the validated body: the same application always hashes the same."""
    canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


async def submit_application(work: UnitOfWork, submission: Submission, *, now: datetime) -> str:
    """Open a case for the submission, or return the case its idempotency key opened
    before. :class:`IdempotencyKeyReused` if that key came with another application."""
    digest = body_digest(submission.body)
    case_id = str(uuid.uuid4())
    claimed = await work.connection.fetchval(
        f"INSERT INTO {work.schema}.submission_keys (scope, idempotency_key, body_sha256, case_id)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING case_id",
        submission.idempotency_scope,
        submission.idempotency_key,
        digest,
        case_id,
    )
    if claimed is None:
        earlier = await work.connection.fetchrow(
            f"SELECT body_sha256, case_id FROM {work.schema}.submission_keys"
            " WHERE scope = $1 AND idempotency_key = $2",
            submission.idempotency_scope,
            submission.idempotency_key,
        )
        assert earlier is not None
        if earlier["body_sha256"] != digest:
            raise IdempotencyKeyReused(
                "this idempotency key was already used for a different application"
            )
        return str(earlier["case_id"])
    application = Application.submit(
        case_id=case_id,
        application=submission.body.model_dump(mode="json"),
        submitted_at=now,
        channel=submission.channel,
        submitted_by=submission.submitted_by,
    )
    await _save(work, application, submission.correlation_id, submission.causation_id)
    return case_id


async def withdraw_application(
    work: UnitOfWork,
    case_id: str,
    *,
    withdrawn_by: str,
    reason: str | None,
    now: datetime,
    correlation_id: str,
) -> None:
    """Withdraw a case that has no decision yet (:class:`CannotWithdraw` otherwise)."""
    application = await load_application(work, case_id)
    application.withdraw(withdrawn_by=withdrawn_by, withdrawn_at=now, reason=reason)
    await _save(work, application, correlation_id, None)


async def note_decision(
    work: UnitOfWork, case_id: str, outcome: ApplicationStatus, *, now: datetime, causation_id: str
) -> None:
    """Remember eligibility's outcome, so a decided case can no longer be withdrawn."""
    try:
        application = await load_application(work, case_id)
    except ApplicationNotFound:
        return  # a case opened by another intake deployment; nothing of ours to guard
    application.note_decision(outcome=outcome, noted_at=now)
    await _save(work, application, causation_id, causation_id)


async def overrule_withdrawal(
    work: UnitOfWork,
    case_id: str,
    decision: ApplicationStatus,
    *,
    now: datetime,
    causation_id: str,
) -> None:
    """Eligibility decided before the withdrawal reached it: the decision stands."""
    try:
        application = await load_application(work, case_id)
    except ApplicationNotFound:
        return
    application.overrule_withdrawal(decision=decision, noted_at=now)
    await _save(work, application, causation_id, causation_id)


async def start_tracker_rebuild(
    connection: Connection, schema: str, *, requested_by: str
) -> jobs.JobStatus:
    """The tracker rebuild that is running, or a new one."""
    job, _ = await jobs.submit_unless_running(
        connection,
        schema,
        name=f"tracker-rebuild:{datetime.now(UTC).isoformat(timespec='seconds')}",
        kind=projections.TrackerRebuild.kind,
        params={"requested_by": requested_by},
    )
    return job


async def reject_submission(
    work: UnitOfWork, command: CloudEvent, errors: list[RejectedField], *, now: datetime
) -> None:
    """Tell the sending system why its SubmitApplication command was not accepted."""
    rejection = SubmissionRejected(
        command_id=command.id, source_system=command.source, errors=errors, rejected_at=now
    )
    work.publish(
        new_cloud_event(
            rejection,
            source=SOURCE,
            time=now,
            correlationid=command.correlationid or command.id,
            causationid=command.id,
        )
    )


async def load_application(work: UnitOfWork, case_id: str) -> Application:
    application = await work.load(Application, case_id)
    if application is None:
        raise ApplicationNotFound(f"no application {case_id}")
    return application


async def _save(
    work: UnitOfWork, application: Application, correlation_id: str, causation_id: str | None
) -> None:
    saved = await work.save(
        application,
        public_events=_public_events,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    # The tracker shows a case the moment it is accepted: intake's own events are recorded
    # in the same transaction (the tracker subscription will find them there already).
    for event in saved:
        for public in event.published:
            await projections.record_event(work.connection, work.schema, public)


def _public_events(
    _application: Application, event: ApplicationEvent, event_id: str
) -> list[CloudEvent]:
    match event:
        case ApplicationSubmitted():
            data: ApplicationSubmittedV1 | ApplicationWithdrawnV1 = ApplicationSubmittedV1(
                case_id=event.case_id,
                application=ApplicationBody.model_validate(event.application),
                submitted_at=event.submitted_at,
                channel="kafka" if event.channel == "kafka" else "http",
                submitted_by=event.submitted_by,
            )
            time = event.submitted_at
        case ApplicationWithdrawn():
            data = ApplicationWithdrawnV1(
                case_id=event.case_id,
                withdrawn_at=event.withdrawn_at,
                withdrawn_by=event.withdrawn_by,
                reason=event.reason,
            )
            time = event.withdrawn_at
        case _:
            return []  # intake's own bookkeeping, not published
    return [
        new_cloud_event(data, source=SOURCE, subject=event.case_id, event_id=event_id, time=time)
    ]
