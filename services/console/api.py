"""The console's pages. Each route: who is signed in, a call to a service with their
token, the answer rendered in their language. Forms carry the session's CSRF token."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from chassis.auth import Role, mint_local_token
from services.console.handlers import Refused, Services
from services.console.rendering import Pages
from services.console.session import (
    LANGUAGES,
    SignInRequired,
    User,
    check_csrf,
    csrf_token,
    current_user,
    language,
    require_user,
    sign_in,
    sign_out,
)
from services.console.settings import ConsoleSettings

router = APIRouter(include_in_schema=False)
# The reason codes a caseworker may give (eligibility checks them; these are offered).
REJECTION_REASONS = (
    "age_below_minimum",
    "insufficient_insurance_record",
    "assessment_expired",
    "not_registered_unemployed",
    "income_above_threshold",
    "application_too_late",
    "already_receiving",
    "not_eligible_on_review",
)
STAFF_ROLES = (Role.CLERK, Role.CASEWORKER, Role.SUPERVISOR, Role.AUDITOR)
_USER_NAME = re.compile(r"^[A-Za-z0-9._-]{1,80}$")
_NATIONAL_ID = re.compile(r"^[0-9A-Z]{7}$")


def _page(request: Request, page: str, code: int = 200, **variables: Any) -> HTMLResponse:
    pages: Pages = request.app.state.pages
    html = pages.render(
        page,
        language(request),
        user=current_user(request),
        csrf=csrf_token(request),
        **variables,
    )
    return HTMLResponse(html, status_code=code)


def _settings(request: Request) -> ConsoleSettings:
    settings: ConsoleSettings = request.app.state.settings
    return settings


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _refused(request: Request, refusal: Refused) -> HTMLResponse:
    """A service's refusal, shown plainly (its own words), with its status."""
    titles = {401: "not_allowed", 403: "not_allowed", 404: "not_found"}
    key = titles.get(refusal.status, "unavailable")
    detail = refusal.body.get("detail")
    return _page(
        request,
        "error",
        refusal.status if refusal.status < 500 else status.HTTP_502_BAD_GATEWAY,
        title=key,
        detail=detail if isinstance(detail, str) else str(detail),
    )


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> HTMLResponse:
    return _page(
        request,
        "sign_in",
        development=_settings(request).development_sign_in,
        roles=[role.value for role in STAFF_ROLES],
    )


@router.post("/sign-in")
async def sign_in_with_development_token(
    request: Request,
    name: Annotated[str, Form(max_length=80)],
    role: Annotated[str, Form(max_length=20)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    settings = _settings(request)
    if not settings.development_sign_in:  # the services would refuse the token anyway
        return _page(
            request,
            "error",
            status.HTTP_403_FORBIDDEN,
            title="not_allowed",
            detail="development sign-in is off: an identity provider is configured",
        )
    if not _USER_NAME.match(name) or role not in {r.value for r in STAFF_ROLES}:
        return _page(
            request,
            "error",
            status.HTTP_422_UNPROCESSABLE_ENTITY,
            title="not_allowed",
            detail="a user name of letters, digits, dots, dashes; and a staff role",
        )
    token = mint_local_token(
        settings.state_dir,
        roles=[Role(role)],
        subject=name,
        ttl_seconds=int(settings.session_hours * 3600),
    )
    sign_in(request, name, [role], token)
    return RedirectResponse("/", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/sign-out")
async def sign_out_page(request: Request, csrf: Annotated[str | None, Form()] = None) -> Response:
    check_csrf(request, csrf)
    sign_out(request)
    return RedirectResponse("/sign-in", status_code=status.HTTP_303_SEE_OTHER)


@router.post("/language")
async def choose_language(
    request: Request,
    language_chosen: Annotated[str, Form(alias="language", max_length=2)],
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    if language_chosen in LANGUAGES:
        request.session["language"] = language_chosen
    back = request.headers.get("referer", "/")
    return RedirectResponse(back if back.startswith(str(request.base_url)) else "/", 303)


@router.get("/", response_class=HTMLResponse)
async def home(request: Request) -> HTMLResponse:
    require_user(request)
    return _page(request, "home")


@router.get("/cases", response_class=HTMLResponse)
async def cases(
    request: Request, national_id: Annotated[str, Query(max_length=7)] = ""
) -> HTMLResponse:
    user: User = require_user(request)
    if not national_id:
        return _page(request, "cases", national_id="", cases=None, error=None)
    if not _NATIONAL_ID.match(national_id):
        return _page(
            request,
            "cases",
            422,
            national_id=national_id,
            cases=None,
            error="7 digits and capital Latin letters",
        )
    try:
        found = await _services(request).find_cases(user.token, national_id)
    except Refused as refusal:
        return _refused(request, refusal)
    return _page(request, "cases", national_id=national_id, cases=found["items"], error=None)


@router.get("/cases/{case_id}", response_class=HTMLResponse)
async def case(request: Request, case_id: str) -> HTMLResponse:
    user = require_user(request)
    if len(case_id) > 200:
        return _page(request, "error", 404, title="not_found", detail=case_id[:40])
    try:
        found = await _services(request).case(user.token, case_id)
    except Refused as refusal:
        return _refused(request, refusal)
    return _page(request, "case", case=found)


@router.get("/reviews", response_class=HTMLResponse)
async def review_queue(request: Request) -> HTMLResponse:
    user = require_user(request)
    try:
        queue = await _services(request).reviews(user.token)
    except Refused as refusal:
        return _refused(request, refusal)
    return _page(request, "reviews", reviews=queue)


@router.get("/reviews/{case_id}", response_class=HTMLResponse)
async def review(request: Request, case_id: str) -> HTMLResponse:
    user = require_user(request)
    try:
        queue = await _services(request).reviews(user.token)
    except Refused as refusal:
        return _refused(request, refusal)
    found = next((item for item in queue if item["case_id"] == case_id), None)
    if found is None:
        return _page(request, "error", 404, title="not_found", detail=t_not_in_queue(case_id))
    return _page(request, "review", review=found, refusal=None, reasons=REJECTION_REASONS)


@router.post("/reviews/{case_id}", response_class=HTMLResponse)
async def decide(
    request: Request,
    case_id: str,
    outcome: Annotated[str, Form(max_length=10)],
    reasons: Annotated[list[str] | None, Form()] = None,
    note: Annotated[str | None, Form(max_length=2000)] = None,
    csrf: Annotated[str | None, Form()] = None,
) -> Response:
    check_csrf(request, csrf)
    user = require_user(request)
    services = _services(request)
    try:
        await services.decide_review(user.token, case_id, outcome, reasons or [], note)
    except Refused as refusal:
        if refusal.status >= 500:
            return _refused(request, refusal)
        # Shown on the review page itself, plainly: four-eyes, already decided, bad reasons.
        queue = await services.reviews(user.token)
        found = next((item for item in queue if item["case_id"] == case_id), None)
        if found is None:
            return _refused(request, refusal)
        return _page(
            request,
            "review",
            refusal.status,
            review=found,
            refusal=_plain(refusal),
            reasons=REJECTION_REASONS,
        )
    return RedirectResponse(f"/cases/{case_id}", status_code=status.HTTP_303_SEE_OTHER)


def _plain(refusal: Refused) -> str:
    detail = refusal.body.get("detail")
    errors = refusal.body.get("errors") or []
    said = detail if isinstance(detail, str) else ""
    return "; ".join([said, *(f"{e.get('loc')}: {e.get('msg')}" for e in errors)]).strip("; ")


def t_not_in_queue(case_id: str) -> str:
    return f"{case_id[:40]} is not waiting for a caseworker"


def sign_in_first(request: Request, _error: SignInRequired) -> Response:
    return RedirectResponse("/sign-in", status_code=status.HTTP_303_SEE_OTHER)
