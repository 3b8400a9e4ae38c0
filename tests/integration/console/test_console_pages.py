"""The console's pages through the real services: development sign-in into a signed,
HttpOnly, SameSite session; CSRF on every form; a clerk's search and a case page with the
decision's rules; the pages in Russian; sign-out; no development sign-in where an identity
provider is configured. (Browser tests walk the same journeys in Chromium.)"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from chassis.settings import ChassisSettings
from contracts.application import agency_today
from services.console.app import create_app
from services.console.settings import ConsoleSettings
from tests.integration.applications import application
from tests.integration.conftest import RunningService
from tests.integration.lifecycle.helpers import case_status, person, submit
from tests.running_service import serving

pytestmark = pytest.mark.integration
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def console_settings(
    settings: ChassisSettings,
    intake: RunningService,
    eligibility: RunningService | None = None,
    **changes: object,
) -> ConsoleSettings:
    return ConsoleSettings(
        **{**settings.model_dump(by_alias=True), **changes},
        intake_url=intake.url,
        eligibility_url=(eligibility or intake).url,  # (readiness only asks for /healthz)
        payments_url=intake.url,
        notifications_url=intake.url,
    )


@pytest.fixture
async def console(
    settings: ChassisSettings, intake_service: RunningService, eligibility_service: RunningService
) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        serving(create_app(console_settings(settings, intake_service, eligibility_service))) as url,
        httpx.AsyncClient(base_url=url, timeout=15) as browser,
    ):
        yield browser


async def csrf_of(browser: httpx.AsyncClient, page: str) -> str:
    answer = await browser.get(page)
    found = CSRF.search(answer.text)
    assert found, answer.text[:300]
    return found.group(1)


async def sign_in(
    browser: httpx.AsyncClient, role: str = "clerk", name: str = "clerk-7"
) -> httpx.Response:
    token = await csrf_of(browser, "/sign-in")
    return await browser.post("/sign-in", data={"name": name, "role": role, "csrf": token})


async def test_pages_need_a_signed_in_user_and_forms_need_the_sessions_csrf_token(
    console: httpx.AsyncClient,
) -> None:
    for page in ("/", "/cases", "/cases/some-case"):
        answer = await console.get(page)
        assert (answer.status_code, answer.headers["location"]) == (303, "/sign-in"), page
    await csrf_of(console, "/sign-in")
    forged = await console.post("/sign-in", data={"name": "x", "role": "clerk", "csrf": "forged"})
    assert forged.status_code == 403
    missing = await console.post("/sign-in", data={"name": "x", "role": "clerk"})
    assert missing.status_code == 403
    signed = await sign_in(console)
    assert (signed.status_code, signed.headers["location"]) == (303, "/")
    cookie = signed.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    home = await console.get("/")
    assert home.status_code == 200
    assert "clerk-7" in home.text
    out = await console.post("/sign-out", data={"csrf": "forged"})
    assert out.status_code == 403  # sign-out is a form too
    token = CSRF.search(home.text)
    assert token
    out = await console.post("/sign-out", data={"csrf": token.group(1)})
    assert out.status_code == 303
    assert (await console.get("/cases")).status_code == 303


async def test_a_clerk_finds_a_case_and_reads_its_decision_in_russian(
    console: httpx.AsyncClient, clerk: httpx.AsyncClient
) -> None:
    body = person(application(facts={"insurance_years": 10}))
    case_id = await submit(clerk, body)
    await case_status(clerk, case_id, "rejected")
    await sign_in(console)
    national_id = body["applicant"]["national_id"]
    found = await console.get("/cases", params={"national_id": national_id})
    assert found.status_code == 200
    assert f'href="/cases/{case_id}"' in found.text
    assert "rədd edilib" in found.text  # Azerbaijani first
    page = await console.get(f"/cases/{case_id}")
    assert page.status_code == 200
    for shown in (
        "minimum_insurance_years",
        "insufficient_insurance_record",
        "ApplicationSubmitted",
    ):
        assert shown in page.text, shown
    token = CSRF.search(page.text)
    assert token
    switched = await console.post(
        "/language",
        data={"language": "ru", "csrf": token.group(1)},
        headers={"referer": str(console.base_url) + f"/cases/{case_id}"},
    )
    assert switched.status_code == 303
    russian = await console.get(f"/cases/{case_id}")
    assert '<html lang="ru">' in russian.text
    assert "Все проверенные правила" in russian.text
    assert "отказано" in russian.text
    bad = await console.get("/cases", params={"national_id": "bad id"})
    assert bad.status_code == 422
    unknown = await console.get("/cases/no-such-case")
    assert unknown.status_code == 404
    assert "no application no-such-case" in unknown.text  # the service's own words


async def test_no_development_sign_in_where_an_identity_provider_is_configured(
    settings: ChassisSettings, intake_service: RunningService
) -> None:
    production = console_settings(
        settings, intake_service, AUTH_JWKS_URL="https://id.example.az/jwks"
    )
    async with (
        serving(create_app(production)) as url,
        httpx.AsyncClient(base_url=url, timeout=15) as browser,
    ):
        page = await browser.get("/sign-in")
        assert 'name="role"' not in page.text
        refused = await sign_in_attempt(browser)
        assert refused.status_code == 403


async def sign_in_attempt(browser: httpx.AsyncClient) -> httpx.Response:
    token = await csrf_of(browser, "/sign-in")
    return await browser.post("/sign-in", data={"name": "x", "role": "supervisor", "csrf": token})


async def test_a_caseworker_decides_a_review_and_the_four_eyes_refusal_is_shown_plainly(
    console: httpx.AsyncClient, clerk: httpx.AsyncClient
) -> None:
    assessed = (agency_today() - timedelta(days=30)).isoformat()
    body = application(
        benefit="disability_benefit", facts={"disability_group": 1, "assessment_date": assessed}
    )
    case_id = await submit(clerk, person(body))  # submitted by clerk-1
    await case_status(clerk, case_id, "under_review")
    await sign_in(console, role="caseworker", name="clerk-1")  # the same person
    queue = await console.get("/reviews")
    assert f'href="/reviews/{case_id}"' in queue.text
    page = await console.get(f"/reviews/{case_id}")
    assert page.status_code == 200
    assert "disability_assessment_requires_review" in page.text
    token = CSRF.search(page.text)
    assert token
    refused = await console.post(
        f"/reviews/{case_id}", data={"outcome": "approve", "csrf": token.group(1)}
    )
    assert refused.status_code == 403
    assert 'role="alert"' in refused.text
    assert "submitted" in refused.text.lower()  # eligibility's own words: four-eyes
    await sign_in(console, role="caseworker", name="caseworker-9")
    page = await console.get(f"/reviews/{case_id}")
    token = CSRF.search(page.text)
    assert token
    no_reason = await console.post(
        f"/reviews/{case_id}", data={"outcome": "reject", "csrf": token.group(1)}
    )
    assert no_reason.status_code == 422
    assert "a rejection needs at least one reason" in no_reason.text
    approved = await console.post(
        f"/reviews/{case_id}",
        data={"outcome": "approve", "note": "assessment verified", "csrf": token.group(1)},
    )
    assert (approved.status_code, approved.headers["location"]) == (303, f"/cases/{case_id}")
    await case_status(clerk, case_id, "approved")
