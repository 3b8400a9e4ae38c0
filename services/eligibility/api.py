"""Eligibility's HTTP API: the manual review queue."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chassis import jobs
from chassis.auth import Principal, Role, require_roles
from chassis.http import runtime_of
from chassis.http_jobs import JobView
from chassis.http_parameters import CorrelationId, Page, PageSize, PathId
from chassis.unit_of_work import UnitOfWork, run_in_unit_of_work
from contracts.types import PlainText
from services.eligibility import handlers, projections
from services.eligibility.domain.case import EligibilityCase
from services.eligibility.domain.errors import (
    ApprovalBlocked,
    CaseNotFound,
    NotReviewable,
    ReviewForbidden,
)
from services.eligibility.domain.rules import REJECTION_REASONS
from services.eligibility.projections.rebuild import KIND as REBUILD_KIND

router = APIRouter(prefix="/v1/reviews", tags=["reviews"])


class ReviewItem(BaseModel):
    case_id: str
    benefit: str
    referred_at: datetime
    review_reasons: list[str]
    facts: dict[str, Any]
    proposal: dict[str, Any] | None
    rules: list[dict[str, Any]]


class ReviewDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Literal["approve", "reject"]
    reasons: list[str] = Field(
        default_factory=list,
        max_length=20,
        description=f"Reason codes, required to reject: {', '.join(sorted(REJECTION_REASONS))}.",
    )
    note: PlainText | None = Field(None, max_length=2000)

    @field_validator("reasons")
    @classmethod
    def _known_reasons(cls, reasons: list[str]) -> list[str]:
        unknown = sorted(set(reasons) - REJECTION_REASONS)
        if unknown:
            raise ValueError(f"unknown reason codes: {', '.join(unknown)}")
        return reasons

    @model_validator(mode="after")
    def _rejection_has_reasons(self) -> ReviewDecision:
        if self.outcome == "reject" and not self.reasons:
            raise ValueError("a rejection needs at least one reason")
        return self


class ReviewOutcome(BaseModel):
    case_id: str
    status: str
    decided_by: str
    amount: str | None
    start_date: date | None


@router.get("", summary="Cases waiting for a caseworker, oldest first")
async def list_reviews(
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(Role.CASEWORKER, Role.SUPERVISOR))],
    page: Page = 1,
    page_size: PageSize = 50,
) -> list[ReviewItem]:
    runtime = runtime_of(request)
    queued = await projections.review_queue(
        runtime.database.pool, runtime.schema, page_size, (page - 1) * page_size
    )
    return [ReviewItem(**item.__dict__) for item in queued]


@router.post(
    "/{case_id}/decision",
    summary="Decide a referred case, or (supervisor) override an automated rejection",
    responses={
        403: {"description": "Four-eyes, or an override without a supervisor"},
        404: {"description": "Unknown case"},
        409: {
            "description": "Nothing to review, already decided, or an approval the applicant's"
            " circumstances forbid (reported dead, already receiving the benefit)"
        },
    },
)
async def decide_review(
    case_id: PathId,
    decision: ReviewDecision,
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.CASEWORKER, Role.SUPERVISOR))],
    correlation: CorrelationId = None,
) -> ReviewOutcome:
    runtime = runtime_of(request)

    async def decide(work: UnitOfWork) -> EligibilityCase:
        return await handlers.review(
            work,
            case_id,
            approve=decision.outcome == "approve",
            reasons=decision.reasons,
            note=decision.note,
            reviewer=principal.subject,
            reviewer_is_supervisor=Role.SUPERVISOR in principal.roles,
            now=datetime.now(UTC),
            correlation_id=correlation or case_id,
        )

    try:
        case = await run_in_unit_of_work(runtime.database, runtime.schema, decide)
    except CaseNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no case {case_id}") from None
    except ReviewForbidden as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, str(error)) from None
    except (NotReviewable, ApprovalBlocked) as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    proposal = case.assessment.proposal if case.assessment else None
    approved = case.state == "approved"
    return ReviewOutcome(
        case_id=case_id,
        status=case.state.value,
        decided_by=principal.subject,
        amount=str(proposal.amount) if approved and proposal else None,
        start_date=proposal.start_date if approved and proposal else None,
    )


operations = APIRouter(prefix="/v1/read-models", tags=["operations"])


@operations.post(
    "/rebuild",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Rebuild the read models from the event store, as a background job",
    description="Answers at once with the job (the one already running, if any); follow it"
    " at `GET /v1/jobs/{name}`. The live read models keep answering until the rebuilt ones"
    " are swapped in.",
)
async def rebuild_read_models(
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))],
) -> JobView:
    runtime = runtime_of(request)
    async with runtime.database.pool.acquire() as connection, connection.transaction():
        job, _ = await jobs.submit_unless_running(
            connection,
            runtime.schema,
            name=f"{REBUILD_KIND}:{datetime.now(UTC).isoformat(timespec='seconds')}",
            kind=REBUILD_KIND,
            params={"requested_by": principal.subject},
        )
    return JobView.of(job)
