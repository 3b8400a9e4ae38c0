"""Intake's HTTP API: parse, authorize, call a handler, shape the answer."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from chassis.auth import Principal, Role, require_roles
from chassis.http import runtime_of
from chassis.http_jobs import JobView
from chassis.http_parameters import CorrelationId, Page, PageSize, PathId
from chassis.unit_of_work import UnitOfWork, run_in_unit_of_work
from contracts.application import ApplicationBody
from contracts.types import NationalId, PlainText, SingleLineText
from services.intake import handlers, projections
from services.intake.domain.errors import (
    ApplicationNotFound,
    CannotWithdraw,
    IdempotencyKeyReused,
)

router = APIRouter(prefix="/v1", tags=["applications"])
READERS = (Role.CLERK, Role.CASEWORKER, Role.SUPERVISOR, Role.AUDITOR)


class CaseStatus(StrEnum):
    SUBMITTED = "submitted"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"
    SUSPENDED = "suspended"
    TERMINATED = "terminated"


class SubmissionReceipt(BaseModel):
    case_id: str
    status: str = "submitted"


class Withdrawal(BaseModel):
    model_config = {"extra": "forbid"}

    reason: PlainText | None = Field(None, max_length=500)


class TimelineItem(BaseModel):
    time: datetime
    type: str
    source: str
    event_id: str


class CaseDetails(BaseModel):
    case_id: str
    status: str
    benefit: str | None
    center_id: str | None
    submitted_at: datetime | None
    application: dict[str, Any] | None
    decision: dict[str, Any] | None
    entitlements: list[dict[str, Any]]
    payments: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    timeline: list[TimelineItem]


class CaseListItem(BaseModel):
    case_id: str
    status: str
    benefit: str | None
    center_id: str | None
    submitted_at: datetime | None
    updated_at: datetime


class CasePage(BaseModel):
    items: list[CaseListItem]
    page: int
    page_size: int
    total: int


@router.post(
    "/applications",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Submit an application (idempotent by Idempotency-Key)",
    responses={400: {"description": "No Idempotency-Key"}, 409: {"description": "Key reused"}},
)
async def submit_application(
    body: Annotated[ApplicationBody, Body()],
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.CLERK, Role.SYSTEM))],
    idempotency_key: Annotated[
        SingleLineText | None, Header(alias="Idempotency-Key", min_length=1, max_length=200)
    ] = None,
) -> SubmissionReceipt:
    if idempotency_key is None:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the Idempotency-Key header is required")
    submission = handlers.Submission(
        body=body,
        channel="http",
        idempotency_scope="http",
        idempotency_key=idempotency_key,
        submitted_by=principal.subject,
        correlation_id=idempotency_key,
    )
    runtime = runtime_of(request)

    async def submit(work: UnitOfWork) -> str:
        return await handlers.submit_application(work, submission, now=datetime.now(UTC))

    try:
        case_id = await run_in_unit_of_work(runtime.database, runtime.schema, submit)
    except IdempotencyKeyReused as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return SubmissionReceipt(case_id=case_id)


@router.post(
    "/applications/{case_id}/withdraw",
    summary="Withdraw an application that has no decision yet",
    responses={404: {"description": "Unknown case"}, 409: {"description": "Already decided"}},
)
async def withdraw_application(
    case_id: PathId,
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.CLERK))],
    withdrawal: Annotated[Withdrawal | None, Body()] = None,
    correlation: CorrelationId = None,
) -> SubmissionReceipt:
    runtime = runtime_of(request)

    async def withdraw(work: UnitOfWork) -> None:
        await handlers.withdraw_application(
            work,
            case_id,
            withdrawn_by=principal.subject,
            reason=withdrawal.reason if withdrawal else None,
            now=datetime.now(UTC),
            correlation_id=correlation or case_id,
        )

    try:
        await run_in_unit_of_work(runtime.database, runtime.schema, withdraw)
    except ApplicationNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no application {case_id}") from None
    except CannotWithdraw as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return SubmissionReceipt(case_id=case_id, status="withdrawn")


@router.get(
    "/applications/{case_id}",
    summary="A case: status, decision, payments, timeline",
    responses={404: {"description": "Unknown case"}},
)
async def get_application(
    case_id: PathId,
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(*READERS))],
) -> CaseDetails:
    runtime = runtime_of(request)
    view = await projections.case_view(runtime.database.pool, runtime.schema, case_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no application {case_id}")
    return CaseDetails(
        case_id=view.case_id,
        status=view.status,
        benefit=view.benefit,
        center_id=view.center_id,
        submitted_at=view.submitted_at,
        application=view.application,
        decision=view.decision,
        entitlements=view.entitlements,
        payments=view.payments,
        notifications=view.notifications,
        timeline=[
            TimelineItem(
                time=entry.occurred_at,
                type=entry.event_type,
                source=entry.source,
                event_id=entry.event_id,
            )
            for entry in view.timeline
        ],
    )


@router.get("/applications", summary="Search cases, newest first")
async def list_applications(
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(*READERS))],
    national_id: Annotated[NationalId | None, Query()] = None,
    case_status: Annotated[CaseStatus | None, Query(alias="status")] = None,
    page: Page = 1,
    page_size: PageSize = 50,
) -> CasePage:
    runtime = runtime_of(request)
    summaries, total = await projections.search_cases(
        runtime.database.pool,
        runtime.schema,
        national_id=national_id,
        status=case_status.value if case_status else None,
        page=page,
        page_size=page_size,
    )
    items = [CaseListItem(**summary.__dict__) for summary in summaries]
    return CasePage(items=items, page=page, page_size=page_size, total=total)


@router.post(
    "/tracker/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    tags=["operations"],
    summary="Rebuild the case tracker from the event topics, as a background job",
    description="Answers at once with the job (the one already running, if any); follow it"
    " at `GET /v1/jobs/{name}`. The live tracker keeps answering until the rebuilt one is"
    " swapped in.",
)
async def rebuild_tracker(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))],
) -> JobView:
    runtime = runtime_of(request)
    async with runtime.database.pool.acquire() as connection, connection.transaction():
        job = await handlers.start_tracker_rebuild(
            connection, runtime.schema, requested_by=principal.subject
        )
    return JobView.of(job)
