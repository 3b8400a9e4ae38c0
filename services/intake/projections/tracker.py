"""The case tracker: every event of every context about a case, folded into what a clerk,
caseworker or auditor needs to see. Fed from the event topics by the tracker subscription
(and, for intake's own events, in the transaction that produced them); rebuildable from
the topics (:mod:`services.intake.projections.tracker_rebuild`). Applying an event is
idempotent and order-insensitive: the summary is always recomputed from the whole timeline.

The functions that write take the tables to write to, so a rebuild fills shadow tables
with exactly the code that keeps the live ones."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from chassis.database import Connection, Queryable
from contracts import CloudEvent
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


@dataclass(frozen=True)
class TrackerTables:
    """Where the tracker is kept: the live tables, or a rebuild's shadow tables."""

    timeline: str
    cases: str

    @classmethod
    def live(cls, schema: str) -> TrackerTables:
        return cls(f"{schema}.tracker_timeline", f"{schema}.tracker_cases")

    @classmethod
    def shadow(cls, schema: str) -> TrackerTables:
        return cls(f"{schema}.tracker_timeline_rebuild", f"{schema}.tracker_cases_rebuild")


async def record_event(
    connection: Connection, schema: str, event: CloudEvent, tables: TrackerTables | None = None
) -> bool:
    """Add `event` to its case's timeline and refresh the case; False if already there or
    if it belongs to no case."""
    return await record_events(connection, tables or TrackerTables.live(schema), [event]) == 1


async def record_events(
    connection: Connection, tables: TrackerTables, events: Sequence[CloudEvent]
) -> int:
    """Add `events` to their cases' timelines (those not there yet) and refresh each case
    once; returns how many were new."""
    rows = [
        (
            event.subject,
            event.id,
            event.type,
            event.source,
            event.time,
            event.data.model_dump(mode="json") if isinstance(event.data, BaseModel) else event.data,
        )
        for event in events
        if event.subject
    ]
    if not rows:
        return 0
    inserted = await connection.fetch(
        f"INSERT INTO {tables.timeline} (case_id, event_id, event_type, source, occurred_at, data)"
        " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],"
        " $5::timestamptz[], $6::jsonb[]) ON CONFLICT (event_id) DO NOTHING RETURNING case_id",
        *([row[column] for row in rows] for column in range(6)),
    )
    await refresh_cases(connection, tables, {row["case_id"] for row in inserted})
    return len(inserted)


async def refresh_cases(connection: Connection, tables: TrackerTables, case_ids: set[str]) -> None:
    """Recompute the summary rows of `case_ids` from their whole timelines."""
    if not case_ids:
        return
    timelines = await _timelines(connection, tables, sorted(case_ids))
    views = [fold_case(case_id, timeline) for case_id, timeline in timelines.items()]
    await connection.executemany(
        f"INSERT INTO {tables.cases}"
        " (case_id, national_id, benefit, center_id, status, submitted_at, updated_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (case_id) DO UPDATE SET"
        " national_id = EXCLUDED.national_id, benefit = EXCLUDED.benefit,"
        " center_id = EXCLUDED.center_id, status = EXCLUDED.status,"
        " submitted_at = EXCLUDED.submitted_at, updated_at = EXCLUDED.updated_at",
        [
            (
                view.case_id,
                view.national_id,
                view.benefit,
                view.center_id,
                view.status,
                view.submitted_at,
                view.updated_at,
            )
            for view in views
        ],
    )


async def case_view(connection: Queryable, schema: str, case_id: str) -> CaseView | None:
    """The tracker's view of `case_id`, or None if it knows no event of it."""
    timeline = (await _timelines(connection, TrackerTables.live(schema), [case_id])).get(case_id)
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


async def _timelines(
    connection: Queryable, tables: TrackerTables, case_ids: Sequence[str]
) -> dict[str, list[TimelineEntry]]:
    rows = await connection.fetch(
        f"SELECT case_id, event_id, event_type, source, occurred_at, data FROM {tables.timeline}"
        " WHERE case_id = ANY($1::text[]) ORDER BY case_id, occurred_at, position",
        list(case_ids),
    )
    timelines: dict[str, list[TimelineEntry]] = {}
    for row in rows:
        entry = dict(row)
        timelines.setdefault(entry.pop("case_id"), []).append(TimelineEntry(**entry))
    return timelines
