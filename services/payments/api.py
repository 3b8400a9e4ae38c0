"""Payments' HTTP API: payment runs, entitlements, new bank details."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, field_validator

from chassis import jobs
from chassis.auth import Principal, Role, require_roles
from chassis.http import runtime_of
from chassis.http_parameters import PathId
from chassis.unit_of_work import UnitOfWork, run_in_unit_of_work
from contracts.periods import Month
from contracts.types import Iban
from services.payments import projections
from services.payments.domain.errors import (
    EntitlementNotFound,
    NotPayable,
    PeriodNotAllowed,
    RunRefused,
)
from services.payments.handlers import entitlements
from services.payments.handlers.payment_run import latest_payable, start_run
from services.payments.settings import PaymentsSettings

router = APIRouter(prefix="/v1", tags=["payments"])
READERS = (Role.CLERK, Role.CASEWORKER, Role.SUPERVISOR, Role.AUDITOR)


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    period: str = Field(description="The month to pay, YYYY-MM.", examples=["2026-12"])

    @field_validator("period")
    @classmethod
    def _a_month(cls, period: str) -> str:
        return str(Month.parse(period))


class PaymentRunView(BaseModel):
    """A payment run as a supervisor follows it."""

    id: str
    period: str
    status: str = Field(description="running, completed or failed.")
    done: int = Field(description="Entitlements gone through.")
    total: int | None = Field(description="Active entitlements when the run began.")
    instructions: int | None = Field(None, description="Issued so far, or in all once done.")
    total_amount: str | None = Field(None, description="AZN, of the instructions issued.")
    entitlements_paid: int | None = None
    entitlements_ended: int | None = Field(None, description="Past their end date: expired.")
    bank_file: str | None = None
    error: str | None = None
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: jobs.JobStatus) -> PaymentRunView:
        result = job.result or {}
        return cls(
            id=job.name,
            period=str(job.params["period"]),
            status="running" if job.status == jobs.PENDING else job.status,
            done=job.done,
            total=job.total,
            instructions=result.get("instructions"),
            total_amount=result.get("total_amount"),
            entitlements_paid=result.get("entitlements_paid"),
            entitlements_ended=result.get("entitlements_ended"),
            bank_file=result.get("bank_file"),
            error=job.error,
            started_at=job.started_at or job.created_at,
            finished_at=job.finished_at,
        )


class BankAccount(BaseModel):
    model_config = ConfigDict(extra="forbid")

    iban: Iban


class InstructionOut(BaseModel):
    instruction_id: str
    run_id: str
    period: str
    months: list[dict[str, str]]
    amount: Decimal
    status: str = Field(description="issued, settled or returned.")
    issued_at: datetime
    settled_at: datetime | None
    returned_at: datetime | None
    return_reason: str | None


class EntitlementOut(BaseModel):
    entitlement_id: str
    case_id: str
    benefit: str
    payment: str
    status: str = Field(description="active, suspended, terminated or completed.")
    start_date: date
    end_date: date | None
    ends_on: date | None
    amount_schedule: list[dict[str, str]]
    lump_sum: Decimal | None
    returns: int = Field(description="Returns since the bank details last changed.")
    instructions: list[InstructionOut]

    @classmethod
    def of(cls, view: projections.EntitlementView) -> EntitlementOut:
        fields: dict[str, Any] = {**view.__dict__}
        fields["amount_schedule"] = fields.pop("schedule")
        fields["instructions"] = [InstructionOut(**item.__dict__) for item in view.instructions]
        return cls(**fields)


@router.post(
    "/payment-runs",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Start the payment run of a month (or get the one started before; resume it"
    " if it failed)",
    responses={
        409: {"description": "Another month's run is still going"},
        422: {"description": "Not a month, or a month too far ahead"},
    },
)
async def start_payment_run(
    run: RunRequest,
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))],
) -> PaymentRunView:
    runtime = runtime_of(request)
    settings = runtime.settings
    assert isinstance(settings, PaymentsSettings)
    try:
        async with runtime.database.pool.acquire() as connection, connection.transaction():
            job, _ = await start_run(
                connection,
                runtime.schema,
                Month.parse(run.period),
                requested_by=principal.subject,
                latest=latest_payable(settings.run_months_ahead),
            )
    except PeriodNotAllowed as error:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(error)) from None
    except RunRefused as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    return PaymentRunView.of(job)


@router.get(
    "/payment-runs/{run_id}",
    summary="A payment run: status, progress, totals, file",
    responses={404: {"description": "No such payment run"}},
)
async def payment_run(
    run_id: PathId,
    request: Request,
    _principal: Annotated[
        Principal, Depends(require_roles(Role.SUPERVISOR, Role.AUDITOR, Role.CASEWORKER))
    ],
) -> PaymentRunView:
    runtime = runtime_of(request)
    job = await jobs.status(runtime.database.pool, runtime.schema, run_id)
    if job is None or job.kind != "payment-run":
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no payment run {run_id}")
    view = PaymentRunView.of(job)
    if job.result is None:  # not finished: what it has issued so far
        count, total = await projections.run_totals(runtime.database.pool, runtime.schema, run_id)
        view = view.model_copy(update={"instructions": count, "total_amount": str(total)})
    return view


@router.get("/entitlements", summary="The entitlements of a case")
async def entitlements_of_case(
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(*READERS))],
    case_id: Annotated[str, Query(min_length=1, max_length=200)],
) -> list[EntitlementOut]:
    runtime = runtime_of(request)
    found = []
    for entitlement_id in await projections.entitlement_ids_of_case(
        runtime.database.pool, runtime.schema, case_id
    ):
        view = await projections.entitlement_view(
            runtime.database.pool, runtime.schema, entitlement_id
        )
        if view is not None:
            found.append(EntitlementOut.of(view))
    return found


@router.get(
    "/entitlements/{entitlement_id}",
    summary="An entitlement and its instructions",
    responses={404: {"description": "No such entitlement"}},
)
async def entitlement(
    entitlement_id: PathId,
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(*READERS))],
) -> EntitlementOut:
    runtime = runtime_of(request)
    view = await projections.entitlement_view(runtime.database.pool, runtime.schema, entitlement_id)
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no entitlement {entitlement_id}")
    return EntitlementOut.of(view)


@router.put(
    "/entitlements/{entitlement_id}/bank-account",
    summary="Record new bank details; a suspended entitlement resumes",
    responses={
        404: {"description": "No such entitlement"},
        409: {"description": "The entitlement has ended"},
    },
)
async def change_bank_account(
    entitlement_id: PathId,
    account: BankAccount,
    request: Request,
    principal: Annotated[Principal, Depends(require_roles(Role.CLERK))],
) -> EntitlementOut:
    runtime = runtime_of(request)

    async def change(work: UnitOfWork) -> None:
        await entitlements.change_bank_account(
            work,
            entitlement_id,
            account.iban,
            changed_by=principal.subject,
            now=datetime.now(UTC),
        )

    try:
        await run_in_unit_of_work(runtime.database, runtime.schema, change)
    except EntitlementNotFound:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no entitlement {entitlement_id}") from None
    except NotPayable as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None
    view = await projections.entitlement_view(runtime.database.pool, runtime.schema, entitlement_id)
    assert view is not None
    return EntitlementOut.of(view)
