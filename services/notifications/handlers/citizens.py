"""From the events of every context to the messages a citizen gets.

Each handler runs in the consumer's transaction, beside its inbox claim: it keeps what the
service needs of the case (contact details, a withdrawal, a death), records the notice the
event calls for, and plans its messages: rendered in the citizen's language, one per
channel, written as `pending` deliveries for the dispatcher. Nothing is sent here, so a
redelivered event or a rolled-back batch never reaches a citizen twice."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from chassis.database import Connection
from chassis.telemetry import current_traceparent
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
from services.notifications.domain.delivery import QuietHours
from services.notifications.domain.feedback import FeedbackToken, invitation_id, sign
from services.notifications.domain.notices import CaseStanding, Kind, Notice, NoticeState, state_of
from services.notifications.domain.recipients import mask
from services.notifications.rendering import Renderer

AGENCY_ZONE = ZoneInfo("Asia/Baku")


@dataclass(frozen=True)
class Planning:
    """What planning a message needs besides the database."""

    renderer: Renderer
    quiet_hours: QuietHours
    feedback_url: str
    feedback_key: bytes
    feedback_valid: timedelta
    stale_after: timedelta = timedelta(hours=72)


# --- the events ---------------------------------------------------------------------------


async def application_submitted(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    assert isinstance(event.data, ApplicationSubmitted)
    body = event.data.application
    applicant = body.applicant
    await _serialize_on_case(work, event.data.case_id)
    await work.connection.execute(
        f"INSERT INTO {work.schema}.contacts (case_id, national_id, full_name, benefit,"
        " center_id, language, phone, email) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (case_id) DO NOTHING",
        event.data.case_id,
        applicant.national_id,
        applicant.full_name,
        str(body.benefit),
        body.center_id,
        str(applicant.language),
        applicant.phone,
        str(applicant.email) if applicant.email else None,
    )
    if await work.connection.fetchval(  # a rejection `deceased` came before the application
        f"SELECT EXISTS (SELECT 1 FROM {work.schema}.notices WHERE case_id = $1"
        " AND state_reason = 'person_reported_dead')",
        event.data.case_id,
    ):
        await person_reported_dead(work.connection, work.schema, applicant.national_id)
    notice = Notice(event.id, event.data.case_id, Kind.APPLICATION_RECEIVED)
    await record(work, planning, notice, event.time)


async def application_withdrawn(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    """Confirmed, unless eligibility already rejected this withdrawal (the events come on
    different topics, in either order) or it crossed the decision. A confirmed withdrawal
    holds back what comes after it, and what still waits to be sent about earlier steps."""
    assert isinstance(event.data, ApplicationWithdrawn)
    case_id = event.data.case_id
    await _serialize_on_case(work, case_id)
    notice = Notice(event.id, case_id, Kind.WITHDRAWN)
    if await work.connection.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {work.schema}.rejected_withdrawals"
        " WHERE withdrawal_id = $1)",
        event.id,
    ):
        await record(work, planning, notice, event.time, dropped="decided_before_withdrawal")
        return
    if await record(work, planning, notice, event.time) is not NoticeState.OPEN:
        return
    await work.connection.execute(
        f"UPDATE {work.schema}.contacts SET withdrawn = true WHERE case_id = $1", case_id
    )
    await work.connection.execute(
        f"UPDATE {work.schema}.deliveries SET status = 'cancelled', last_error = 'withdrawn',"
        " recipient = recipient_masked, finished_at = now()"
        " WHERE case_id = $1 AND event_id <> $2 AND status = 'pending'",
        case_id,
        event.id,
    )


async def withdrawal_rejected(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    """The decision stands: what was held back since the withdrawal is told now, and the
    withdrawal is not confirmed (what of its confirmation still waits is cancelled)."""
    assert isinstance(event.data, WithdrawalRejected)
    case_id, withdrawal_id = event.data.case_id, event.data.withdrawal_id
    schema = work.schema
    await _serialize_on_case(work, case_id)
    await work.connection.execute(
        f"INSERT INTO {schema}.rejected_withdrawals (withdrawal_id, case_id) VALUES ($1, $2)"
        " ON CONFLICT DO NOTHING",
        withdrawal_id,
        case_id,
    )
    await work.connection.execute(
        f"UPDATE {schema}.contacts SET withdrawn = false WHERE case_id = $1", case_id
    )
    await work.connection.execute(
        f"UPDATE {schema}.notices SET state = 'dropped', state_reason = 'withdrawal_rejected'"
        " WHERE event_id = $1 AND NOT planned",
        withdrawal_id,
    )
    await work.connection.execute(
        f"UPDATE {schema}.deliveries SET status = 'cancelled',"
        " last_error = 'withdrawal_rejected', recipient = recipient_masked, finished_at = now()"
        " WHERE event_id = $1 AND status = 'pending'",
        withdrawal_id,
    )
    await work.connection.execute(
        f"UPDATE {schema}.notices SET state = 'open', state_reason = NULL"
        " WHERE case_id = $1 AND state = 'held'",
        case_id,
    )
    await plan(work, planning, case_id)


async def eligibility_decided(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    decided = event.data
    assert isinstance(decided, EligibilityDecided)
    if decided.outcome == "approved" and decided.award is not None:
        award = decided.award
        facts: dict[str, Any] = {
            "amount": str(award.amount),
            "payment": award.payment,
            "start_date": award.start_date.isoformat(),
        }
        notice = Notice(event.id, decided.case_id, Kind.APPROVED, facts)
    else:
        notice = Notice(event.id, decided.case_id, Kind.REJECTED, {"reasons": decided.reasons})
    if "deceased" in decided.reasons:  # the registry's death may reach us later than this
        await _serialize_on_case(work, decided.case_id)
        national_id = await work.connection.fetchval(
            f"SELECT national_id FROM {work.schema}.contacts WHERE case_id = $1", decided.case_id
        )
        if national_id is not None:  # else: when the application comes (see above)
            await person_reported_dead(work.connection, work.schema, national_id)
        await record(work, planning, notice, event.time, dropped="person_reported_dead")
        return
    await record(work, planning, notice, event.time)


async def referred_for_review(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    assert isinstance(event.data, ReferredForReview)
    notice = Notice(event.id, event.data.case_id, Kind.REFERRED_FOR_REVIEW)
    await record(work, planning, notice, event.time)


async def payment_settled(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    settled = event.data
    assert isinstance(settled, PaymentSettled)
    facts = {
        "amount": str(settled.amount),
        "settled_on": settled.settled_at.astimezone(AGENCY_ZONE).date().isoformat(),
    }
    await record(
        work, planning, Notice(event.id, settled.case_id, Kind.PAYMENT_SETTLED, facts), event.time
    )


async def payment_returned(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    returned = event.data
    assert isinstance(returned, PaymentReturned)
    notice = Notice(
        event.id, returned.case_id, Kind.PAYMENT_RETURNED, {"amount": str(returned.amount)}
    )
    await record(work, planning, notice, event.time)


async def entitlement_suspended(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    assert isinstance(event.data, EntitlementSuspended)
    await record(work, planning, Notice(event.id, event.data.case_id, Kind.SUSPENDED), event.time)


async def entitlement_terminated(work: UnitOfWork, planning: Planning, event: CloudEvent) -> None:
    ended = event.data
    assert isinstance(ended, EntitlementTerminated)
    notice = Notice(event.id, ended.case_id, Kind.ENDED, {"end_date": ended.ends_on.isoformat()})
    if ended.reason == "death":  # ended because the person died: they are told nothing
        national_id = await work.connection.fetchval(
            f"SELECT national_id FROM {work.schema}.contacts WHERE case_id = $1", ended.case_id
        )
        if national_id is not None:
            await person_reported_dead(work.connection, work.schema, national_id)
        await record(work, planning, notice, event.time, dropped="person_reported_dead")
        return
    await record(work, planning, notice, event.time)


async def person_died(work: UnitOfWork, _planning: Planning, event: CloudEvent) -> None:
    assert isinstance(event.data, PersonDied)
    await person_reported_dead(work.connection, work.schema, event.data.national_id)


# --- notices and their messages -----------------------------------------------------------


async def person_reported_dead(connection: Connection, schema: str, national_id: str) -> None:
    """Nothing more reaches the person: what waits is cancelled, what comes is dropped. (A
    message a dispatcher is sending at this moment cannot be called back.)"""
    await connection.execute(
        f"INSERT INTO {schema}.deaths (national_id) VALUES ($1) ON CONFLICT DO NOTHING",
        national_id,
    )
    await connection.execute(
        f"UPDATE {schema}.deliveries SET status = 'cancelled', recipient = recipient_masked,"
        " last_error = 'person_reported_dead', finished_at = now(), claimed_until = NULL"
        " WHERE national_id = $1 AND (status = 'pending'"
        " OR (status = 'sending' AND claimed_until < now()))",
        national_id,
    )
    await connection.execute(
        f"UPDATE {schema}.notices n SET state = 'dropped', state_reason = 'person_reported_dead'"
        f" FROM {schema}.contacts c WHERE c.case_id = n.case_id AND c.national_id = $1"
        " AND n.state <> 'dropped' AND NOT n.planned",
        national_id,
    )


async def record(
    work: UnitOfWork,
    planning: Planning,
    notice: Notice,
    occurred_at: datetime,
    *,
    dropped: str | None = None,
) -> NoticeState:
    """Keep `notice` (open, held or dropped as the case stands) and plan its messages;
    returns the state it was kept in (that of the first delivery of the event)."""
    await _serialize_on_case(work, notice.case_id)
    reason: str | None = dropped
    if dropped is None and occurred_at < datetime.now(UTC) - planning.stale_after:
        reason = dropped = "stale"  # news that old is not news: a new deployment reading
        # the topics' history, or a consumer days behind, must not message citizens of it
    if dropped is not None:
        state = NoticeState.DROPPED
    else:
        standing = await _standing(work.connection, work.schema, notice.case_id)
        state, reason = state_of(notice, standing)
    kept = await work.connection.fetchval(
        f"INSERT INTO {work.schema}.notices (event_id, case_id, kind, facts, state,"
        " state_reason, occurred_at, traceparent) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7,"
        " $8) ON CONFLICT (event_id) DO NOTHING RETURNING state",
        notice.event_id,
        notice.case_id,
        notice.kind.value,
        json.dumps(notice.facts),
        state.value,
        reason,
        occurred_at,
        current_traceparent(),  # the consumer's span, within the event's trace
    )
    if kept is None:  # the same event again (another source id, say): as it was kept
        kept = await work.connection.fetchval(
            f"SELECT state FROM {work.schema}.notices WHERE event_id = $1", notice.event_id
        )
        return NoticeState(kept)
    if state is NoticeState.OPEN:
        await plan(work, planning, notice.case_id)
    return state


async def _serialize_on_case(work: UnitOfWork, case_id: str) -> None:
    """One case's events are handled one at a time, whichever replica reads them: its
    intake, eligibility and payments events come on different topics and partitions, and
    what one means (a withdrawal, a decision) depends on what came before it."""
    await work.serialize_on(f"notifications-case:{case_id}")


async def _standing(connection: Connection, schema: str, case_id: str) -> CaseStanding:
    row = await connection.fetchrow(
        f"SELECT c.withdrawn, EXISTS (SELECT 1 FROM {schema}.deaths d"
        "  WHERE d.national_id = c.national_id) AS dead"
        f" FROM {schema}.contacts c WHERE c.case_id = $1",
        case_id,
    )
    decided = await connection.fetchval(
        f"SELECT EXISTS (SELECT 1 FROM {schema}.notices WHERE case_id = $1"
        " AND kind IN ('approved', 'rejected'))",
        case_id,
    )
    if row is None:
        return CaseStanding(decided=bool(decided))
    return CaseStanding(person_dead=row["dead"], withdrawn=row["withdrawn"], decided=bool(decided))


async def plan(work: UnitOfWork, planning: Planning, case_id: str) -> None:
    """Render the case's open notices not yet planned into one pending message per channel
    the citizen gave. Waits (does nothing) until the application's contact details are known."""
    connection, schema = work.connection, work.schema
    contact = await connection.fetchrow(
        f"SELECT c.*, EXISTS (SELECT 1 FROM {schema}.deaths d"
        "  WHERE d.national_id = c.national_id) AS dead"
        f" FROM {schema}.contacts c WHERE c.case_id = $1",
        case_id,
    )
    if contact is None or contact["dead"]:
        return
    notices = await connection.fetch(
        f"SELECT event_id, kind, facts, occurred_at, traceparent FROM {schema}.notices"
        " WHERE case_id = $1 AND state = 'open' AND NOT planned ORDER BY occurred_at, event_id",
        case_id,
    )
    now = datetime.now(UTC)
    for row in notices:
        kind = Kind(row["kind"])
        facts = {
            **json.loads(row["facts"]),
            "reference": case_id[:8].upper(),
            "benefit": contact["benefit"],
            "name": contact["full_name"],
        }
        if kind.is_decision:
            facts["feedback_url"] = await _invite(
                connection, schema, planning, row["event_id"], contact, row["occurred_at"]
            )
        message = planning.renderer.render(kind, contact["language"], facts)
        channels = [("sms", contact["phone"]), ("email", contact["email"])]
        for channel, recipient in channels:
            if not recipient:
                continue
            not_before = planning.quiet_hours.next_allowed(now) if channel == "sms" else now
            await connection.execute(
                f"INSERT INTO {schema}.deliveries (notification_id, event_id, case_id,"
                " national_id, kind, channel, language, recipient, recipient_masked, subject,"
                " body, html, not_before, traceparent) VALUES ($1, $2, $3, $4, $5, $6, $7, $8,"
                " $9, $10, $11, $12, $13, $14) ON CONFLICT DO NOTHING",
                f"{row['event_id']}:{channel}",
                row["event_id"],
                case_id,
                contact["national_id"],
                kind.value,
                channel,
                message.language,
                recipient,
                mask(channel, recipient),
                None if channel == "sms" else message.subject,
                message.sms if channel == "sms" else message.text,
                None if channel == "sms" else message.html,
                not_before,
                row["traceparent"],
            )
        await connection.execute(
            f"UPDATE {schema}.notices SET planned = true WHERE event_id = $1", row["event_id"]
        )


async def _invite(
    connection: Connection,
    schema: str,
    planning: Planning,
    event_id: str,
    contact: Any,
    decided_at: datetime,
) -> str:
    """The rating link of a decision (the same link in the SMS and the e-mail)."""
    invitation = invitation_id(event_id)
    expires_at = (decided_at + planning.feedback_valid).replace(microsecond=0)
    await connection.execute(
        f"INSERT INTO {schema}.feedback_invitations (invitation_id, event_id, case_id,"
        " center_id, invited_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)"
        " ON CONFLICT (invitation_id) DO NOTHING",
        invitation,
        event_id,
        contact["case_id"],
        contact["center_id"],
        decided_at,
        expires_at,
    )
    token = sign(FeedbackToken(invitation, expires_at), planning.feedback_key)
    return f"{planning.feedback_url.rstrip('/')}/{token}"
