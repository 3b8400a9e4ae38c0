"""Notifications' HTTP API: the messages of a case, citizens' ratings, satisfaction."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt

from chassis.auth import Principal, Role, require_roles
from chassis.http import runtime_of
from contracts.types import PlainText
from services.notifications import projections
from services.notifications.domain.errors import FeedbackAlreadyGiven, InvalidFeedbackToken
from services.notifications.domain.satisfaction import satisfied_share
from services.notifications.handlers.feedback import give_feedback
from services.notifications.projections import AGENCY_ZONE
from services.notifications.rendering import Renderer

router = APIRouter(tags=["notifications"])


class MessageView(BaseModel):
    """One message to a citizen, as an auditor sees it (recipient masked, no rating link)."""

    notification_id: str = Field(description="`<event id>:<channel>`.")
    event_id: str
    kind: str
    channel: str
    language: str
    recipient: str = Field(description="Masked.")
    status: str = Field(description="pending, sending, sent, failed or cancelled.")
    attempts: int
    subject: str | None
    body: str
    error: str | None = Field(description="The last failure, or why it was cancelled.")
    provider_message_id: str | None
    created_at: datetime
    send_after: datetime = Field(description="Not sent before (quiet hours, a retry).")
    finished_at: datetime | None


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=100, description="From the rating link.")
    rating: StrictInt = Field(ge=1, le=5, description="1 (poor) to 5 (excellent).")
    comment: PlainText | None = Field(None, max_length=1000)


class FeedbackRecorded(BaseModel):
    recorded: bool = True


class CenterSatisfactionView(BaseModel):
    center_id: str
    responses: int
    satisfied: int = Field(description="Ratings of 4 or 5.")
    satisfied_share: Decimal | None = Field(description="Percent of responses rated 4 or 5.")
    average_rating: Decimal


class SatisfactionReport(BaseModel):
    from_date: date = Field(alias="from")
    to_date: date = Field(alias="to")
    centers: list[CenterSatisfactionView]
    responses: int
    satisfied_share: Decimal | None


@router.get("/v1/messages", summary="The messages sent (or to be sent) about a case")
async def messages(
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(Role.AUDITOR, Role.SUPERVISOR))],
    case_id: Annotated[str, Query(min_length=1, max_length=200)],
) -> list[MessageView]:
    runtime = runtime_of(request)
    found = await projections.messages_of_case(runtime.database.pool, runtime.schema, case_id)
    return [MessageView(**row) for row in found]


@router.post(
    "/v1/feedback",
    status_code=status.HTTP_201_CREATED,
    summary="A citizen rates the service (the link's token instead of a JWT)",
    responses={401: {"description": "forged or expired token"}, 409: {"description": "used"}},
)
async def feedback(body: FeedbackRequest, request: Request) -> FeedbackRecorded:
    await _record_rating(request, body.token, body.rating, body.comment)
    return FeedbackRecorded()


@router.get("/v1/satisfaction", summary="Responses and the share rated 4-5, per center")
async def satisfaction_report(
    request: Request,
    _principal: Annotated[Principal, Depends(require_roles(Role.SUPERVISOR))],
    center_id: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    from_date: Annotated[date | None, Query(alias="from")] = None,
    to_date: Annotated[date | None, Query(alias="to")] = None,
) -> SatisfactionReport:
    last = to_date or datetime.now(AGENCY_ZONE).date()
    first = from_date or last - timedelta(days=29)
    if first > last:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_ENTITY, "`from` is after `to`")
    runtime = runtime_of(request)
    centers = await projections.satisfaction(
        runtime.database.pool, runtime.schema, center_id, first, last
    )
    responses = sum(center.responses for center in centers)
    satisfied = sum(center.satisfied for center in centers)
    return SatisfactionReport.model_validate(
        {
            "from": first,
            "to": last,
            "centers": [CenterSatisfactionView(**vars(center)) for center in centers],
            "responses": responses,
            "satisfied_share": satisfied_share(satisfied, responses),
        }
    )


# --- the page a rating link opens (no JavaScript: a plain form) ----------------------------


@router.get("/feedback/{token}", response_class=HTMLResponse, include_in_schema=False)
async def rating_page(token: str, request: Request) -> HTMLResponse:
    return await _page(request, "form", token)


@router.post("/feedback/{token}", response_class=HTMLResponse, include_in_schema=False)
async def rating_form(token: str, request: Request) -> HTMLResponse:
    fields = parse_qs((await request.body()).decode("utf-8", "replace"))
    try:
        rating = int(fields.get("rating", [""])[0])
    except ValueError:
        return await _page(request, "form", token, status.HTTP_422_UNPROCESSABLE_ENTITY)
    if not 1 <= rating <= 5:
        return await _page(request, "form", token, status.HTTP_422_UNPROCESSABLE_ENTITY)
    try:
        await _record_rating(request, token, rating, None)
    except HTTPException as refusal:
        page = "used" if refusal.status_code == status.HTTP_409_CONFLICT else "invalid"
        return await _page(request, page, token, refusal.status_code)
    return await _page(request, "thanks", token)


async def _record_rating(request: Request, token: str, rating: int, comment: str | None) -> None:
    runtime = runtime_of(request)
    try:
        await give_feedback(
            runtime.database,
            runtime.schema,
            request.app.state.feedback_key,
            token,
            rating,
            comment,
        )
    except InvalidFeedbackToken as error:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, str(error)) from None
    except FeedbackAlreadyGiven as error:
        raise HTTPException(status.HTTP_409_CONFLICT, str(error)) from None


async def _page(request: Request, page: str, token: str, code: int = 200) -> HTMLResponse:
    """The page in the language the citizen was written to (Azerbaijani for a bad link)."""
    runtime = runtime_of(request)
    language = await projections.language_of_invitation(
        runtime.database.pool, runtime.schema, request.app.state.feedback_key, token
    )
    renderer: Renderer = request.app.state.renderer
    html = renderer.page(page, language or "az", {"token": token})
    return HTMLResponse(html, status_code=code)
