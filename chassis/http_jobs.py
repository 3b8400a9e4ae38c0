"""`GET /v1/jobs/{name}`: where a service's resumable job stands (every service has it)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from pydantic import BaseModel, Field

from chassis import jobs
from chassis.auth import Principal, Role, require_roles
from chassis.http_parameters import PathId

router = APIRouter(prefix="/v1/jobs", tags=["operations"])


class JobView(BaseModel):
    """A job as an operator sees it: status, progress, result or error."""

    name: str
    kind: str
    status: str = Field(description="pending, running, completed or failed.")
    params: dict[str, Any]
    done: int = Field(description="Items done so far.")
    total: int | None = Field(description="Items in all, once known.")
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: jobs.JobStatus) -> JobView:
        return cls(**job.__dict__)


@router.get(
    "/{name}",
    summary="A resumable job: status, progress, result",
    responses={404: {"description": "No such job"}},
)
async def job_status(
    name: PathId,
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR, Role.AUDITOR))],
) -> JobView:
    runtime = request.app.state.runtime
    found = await jobs.status(runtime.database.pool, runtime.schema, name)
    if found is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no job {name}")
    return JobView.of(found)
