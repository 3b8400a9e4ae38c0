"""The case tracker: every event of every context about a case, folded into what a clerk,
caseworker or auditor needs to see. Fed from the event topics by the tracker subscription
(and, for intake's own events, in the transaction that produced them); rebuildable from
the topics at any time. Applying an event is idempotent and order-insensitive: the summary
is always recomputed from the whole timeline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from chassis.database import Connection, Database, Queryable
from contracts import CloudEvent, ContractError, decode_record
from contracts.topics import (
    ELIGIBILITY_EVENTS,
    INTAKE_EVENTS,
    NOTIFICATIONS_EVENTS,
    PAYMENTS_EVENTS,
)

TRACKED_TOPICS = (INTAKE_EVENTS, ELIGIBILITY_EVENTS, PAYMENTS_EVENTS, NOTIFICATIONS_EVENTS)

# What each kind of event means for the case's status (the type name without its version).
_STATUS_BY_TYPE = {
    "dost.intake.ApplicationSubmitted": "submitted",
    "dost.intake.ApplicationWithdrawn": "withdrawn",
    "dost.eligibility.ReferredForReview": "under_review",
    "dost.payments.EntitlementSuspended": "suspended",
    "dost.payments.EntitlementResumed": "approved",
    "dost.payments.EntitlementTerminated": "terminated",
}
_DECISIONS = {"dost.eligibility.EligibilityDecided", "dost.eligibility.ReviewCompleted"}
_WITHDRAWAL_REJECTED = "dost.eligibility.WithdrawalRejected"
_ENTITLEMENTS = "dost.payments.EntitlementGranted"
_PAYMENTS = "dost.payments.Payment"
_NOTIFICATIONS = "dost.notifications."


@dataclass(frozen=True)
class TimelineEntry:
    event_id: str
    event_type: str
    source: str
    occurred_at: datetime
    data: dict[str, Any]


@dataclass
class CaseView:
    """What the tracker knows of one case."""

    case_id: str
    status: str = "submitted"
    national_id: str | None = None
    benefit: str | None = None
    center_id: str | None = None
    submitted_at: datetime | None = None
    application: dict[str, Any] | None = None
    decision: dict[str, Any] | None = None
    entitlements: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[TimelineEntry] = field(default_factory=list)
    updated_at: datetime | None = None


def fold_case(case_id: str, timeline: Sequence[TimelineEntry]) -> CaseView:
    """The case as its events, in order, describe it."""
    view = CaseView(case_id=case_id, timeline=list(timeline))
    for entry in timeline:
        kind = entry.event_type.rsplit(".", 1)[0]
        summary = {"type": entry.event_type, "time": entry.occurred_at, **entry.data}
        if kind == "dost.intake.ApplicationSubmitted":
            application = entry.data.get("application", {})
            view.application = application
            view.national_id = application.get("applicant", {}).get("national_id")
            view.benefit = application.get("benefit")
            view.center_id = application.get("center_id")
            view.submitted_at = entry.occurred_at
        if kind in _DECISIONS:
            view.decision = summary
        elif kind == _ENTITLEMENTS:
            view.entitlements.append(summary)
        elif kind.startswith(_PAYMENTS):
            view.payments.append(summary)
        elif kind.startswith(_NOTIFICATIONS):
            view.notifications.append(summary)
        view.status = _next_status(view.status, kind, entry.data)
        view.updated_at = entry.occurred_at
    return view


def _next_status(current: str, kind: str, data: dict[str, Any]) -> str:
    if kind == _WITHDRAWAL_REJECTED:
        return str(data["decision"])  # eligibility decided first: the decision stands
    if current == "withdrawn":
        return current  # a withdrawal in time is final; nothing decides the case after it
    if kind in _DECISIONS and data.get("outcome") in ("approved", "rejected"):
        return str(data["outcome"])
    return _STATUS_BY_TYPE.get(kind, current)


async def record_event(connection: Connection, schema: str, event: CloudEvent) -> bool:
    """Add `event` to its case's timeline and refresh the case; False if already there or
    if it belongs to no case."""
    if not event.subject:
        return False
    data = event.data.model_dump(mode="json") if isinstance(event.data, BaseModel) else event.data
    position = await connection.fetchval(
        f"INSERT INTO {schema}.tracker_timeline"
        " (case_id, event_id, event_type, source, occurred_at, data)"
        " VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING RETURNING position",
        event.subject,
        event.id,
        event.type,
        event.source,
        event.time,
        data,
    )
    if position is None:
        return False
    view = fold_case(event.subject, await _timeline(connection, schema, event.subject))
    await connection.execute(
        f"INSERT INTO {schema}.tracker_cases"
        " (case_id, national_id, benefit, center_id, status, submitted_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO UPDATE SET"
        " national_id = EXCLUDED.national_id, benefit = EXCLUDED.benefit,"
        " center_id = EXCLUDED.center_id, status = EXCLUDED.status,"
        " submitted_at = EXCLUDED.submitted_at, updated_at = EXCLUDED.updated_at",
        view.case_id,
        view.national_id,
        view.benefit,
        view.center_id,
        view.status,
        view.submitted_at,
        view.updated_at,
    )
    return True


async def case_view(connection: Queryable, schema: str, case_id: str) -> CaseView | None:
    """The tracker's view of `case_id`, or None if it knows no event of it."""
    timeline = await _timeline(connection, schema, case_id)
    return fold_case(case_id, timeline) if timeline else None


@dataclass(frozen=True)
class CaseSummary:
    case_id: str
    status: str
    benefit: str | None
    center_id: str | None
    submitted_at: datetime | None
    updated_at: datetime


async def search_cases(
    connection: Queryable,
    schema: str,
    *,
    national_id: str | None,
    status: str | None,
    page: int,
    page_size: int,
) -> tuple[list[CaseSummary], int]:
    """Cases matching the filters, newest first, one page of them, and how many match."""
    where = "($1::text IS NULL OR national_id = $1) AND ($2::text IS NULL OR status = $2)"
    total = await connection.fetchval(
        f"SELECT count(*) FROM {schema}.tracker_cases WHERE {where}", national_id, status
    )
    rows = await connection.fetch(
        f"SELECT case_id, status, benefit, center_id, submitted_at, updated_at"
        f" FROM {schema}.tracker_cases WHERE {where}"
        " ORDER BY submitted_at DESC NULLS LAST, case_id DESC LIMIT $3 OFFSET $4",
        national_id,
        status,
        page_size,
        (page - 1) * page_size,
    )
    return [CaseSummary(**dict(row)) for row in rows], int(total)


async def _timeline(connection: Queryable, schema: str, case_id: str) -> list[TimelineEntry]:
    rows = await connection.fetch(
        f"SELECT event_id, event_type, source, occurred_at, data FROM {schema}.tracker_timeline"
        " WHERE case_id = $1 ORDER BY occurred_at, position",
        case_id,
    )
    return [TimelineEntry(**dict(row)) for row in rows]


async def rebuild_tracker(
    database: Database, schema: str, bootstrap_servers: str, *, batch_size: int = 500
) -> int:
    """Empty the tracker and replay every tracked topic from its beginning up to its end
    as of now; returns how many events were recorded. The live subscription may keep
    running meanwhile: recording is idempotent."""
    async with database.pool.acquire() as connection:
        await connection.execute(f"TRUNCATE {schema}.tracker_timeline, {schema}.tracker_cases")
    recorded = 0
    async for events in _replay(bootstrap_servers, TRACKED_TOPICS, batch_size):
        async with database.pool.acquire() as connection, connection.transaction():
            for event in events:
                recorded += await record_event(connection, schema, event)
    return recorded


async def _replay(
    bootstrap_servers: str, topics: Sequence[str], batch_size: int
) -> AsyncIterator[list[CloudEvent]]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = await _partitions(consumer, topics)
        if not partitions:
            return
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=500, max_records=batch_size)
            events: list[CloudEvent] = []
            for tp, records in batch.items():
                for record in records:
                    if record.offset < end[tp]:
                        try:
                            events.append(decode_record(record.value, record.headers or ()))
                        except ContractError:
                            continue  # the live subscription dead-lettered it already
            for tp in list(remaining):
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
            if events:
                yield events
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topics: Sequence[str]) -> list[TopicPartition]:
    deadline = time.monotonic() + 10
    found: list[TopicPartition] = []
    for topic in topics:
        numbers = consumer.partitions_for_topic(topic)
        while numbers is None and time.monotonic() < deadline:
            await consumer._client.force_metadata_update()
            numbers = consumer.partitions_for_topic(topic)
            if numbers is None:
                await asyncio.sleep(0.1)
        found += [TopicPartition(topic, number) for number in sorted(numbers or ())]
    return found
