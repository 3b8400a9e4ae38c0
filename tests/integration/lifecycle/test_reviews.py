"""The manual review queue and the four-eyes rule, through HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from chassis.auth import Role
from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from services.eligibility.settings import DEFAULT_POLICY_DIR, load_policy_book
from tests.integration.applications import application, bearer
from tests.integration.lifecycle.helpers import (
    case_status,
    eligibility_event,
    person,
    report_death,
    submit,
)

# Every test here needs eligibility running, also those that only talk to intake.
pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("eligibility_url")]
ASSESSED = (agency_today() - timedelta(days=20)).isoformat()
SHIPPED_POLICIES = load_policy_book(DEFAULT_POLICY_DIR)[0]  # what the service decides by


def disability(group: int = 2) -> dict[str, Any]:
    return person(
        application(
            benefit="disability_benefit",
            facts={"disability_group": group, "assessment_date": ASSESSED},
        )
    )


@pytest.fixture
async def as_role(
    eligibility_url: str, settings: ChassisSettings
) -> AsyncIterator[Callable[..., httpx.AsyncClient]]:
    clients: list[httpx.AsyncClient] = []

    def client(role: Role, subject: str) -> httpx.AsyncClient:
        made = httpx.AsyncClient(
            base_url=eligibility_url, headers=bearer(settings, role, subject=subject), timeout=10
        )
        clients.append(made)
        return made

    yield client
    for made in clients:
        await made.aclose()


async def _referred(
    clerk: httpx.AsyncClient, settings: ChassisSettings, body: dict[str, Any] | None = None
) -> str:
    case_id = await submit(clerk, body or disability())
    await eligibility_event(settings, case_id, "ReferredForReview")
    return case_id


async def _queue(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/reviews", params={"page_size": 200})
    assert response.status_code == 200
    items: list[dict[str, Any]] = response.json()
    return items


async def test_queue_lists_referred_cases_oldest_first_with_facts_and_why(
    clerk: httpx.AsyncClient, settings: ChassisSettings, as_role: Callable[..., httpx.AsyncClient]
) -> None:
    first = await _referred(clerk, settings)
    second = await _referred(
        clerk,
        settings,
        person(
            application(
                benefit="targeted_social_assistance",
                facts={"household_members": 2, "household_monthly_income": "0.00"},
            )
        ),
    )
    queue = await _queue(as_role(Role.CASEWORKER, "cw-1"))
    ids = [item["case_id"] for item in queue]
    assert ids.index(first) < ids.index(second)
    first_item = queue[ids.index(first)]
    assert first_item["review_reasons"] == ["disability_assessment_requires_review"]
    assert first_item["facts"]["disability_group"] == 2
    assert first_item["facts"]["assessment_date"] == ASSESSED
    assert first_item["proposal"]["amount"] == "250.00"
    assert any(rule["rule"] == "assessment_current" for rule in first_item["rules"])
    assert queue[ids.index(second)]["review_reasons"] == ["zero_household_income"]


async def test_queue_is_for_caseworkers_and_supervisors_only(
    eligibility_url: str, as_role: Callable[..., httpx.AsyncClient]
) -> None:
    assert (await as_role(Role.SUPERVISOR, "sup-1").get("/v1/reviews")).status_code == 200
    assert (await as_role(Role.AUDITOR, "aud-1").get("/v1/reviews")).status_code == 403
    assert (await as_role(Role.CLERK, "clerk-9").get("/v1/reviews")).status_code == 403
    async with httpx.AsyncClient(base_url=eligibility_url) as anonymous:
        assert (await anonymous.get("/v1/reviews")).status_code == 401


async def test_caseworker_approves_once_and_nobody_decides_what_they_submitted(
    clerk: httpx.AsyncClient, settings: ChassisSettings, as_role: Callable[..., httpx.AsyncClient]
) -> None:
    case_id = await _referred(clerk, settings)
    approve = {"outcome": "approve", "note": "assessment verified"}
    submitter = as_role(Role.CASEWORKER, "clerk-1")  # the subject that submitted it
    own = await submitter.post(f"/v1/reviews/{case_id}/decision", json=approve)
    assert own.status_code == 403
    assert "four-eyes" in own.json()["detail"]

    caseworker = as_role(Role.CASEWORKER, "cw-1")
    decided = await caseworker.post(f"/v1/reviews/{case_id}/decision", json=approve)
    assert decided.status_code == 200
    assert decided.json()["status"] == "approved"
    assert decided.json()["amount"] == "250.00"
    again = await as_role(Role.CASEWORKER, "cw-2").post(
        f"/v1/reviews/{case_id}/decision", json=approve
    )
    assert again.status_code == 409

    (completed,) = await eligibility_event(settings, case_id, "ReviewCompleted")
    (decision,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert completed["data"]["reviewed_by"] == "cw-1"
    assert completed["data"]["note"] == "assessment verified"
    assert decision["data"]["decided_by"] == "cw-1"
    assert decision["data"]["award"]["amount"] == "250.00"
    assert case_id not in [item["case_id"] for item in await _queue(caseworker)]
    await case_status(clerk, case_id, "approved")


async def test_rejection_on_review_needs_known_reason_codes(
    clerk: httpx.AsyncClient, settings: ChassisSettings, as_role: Callable[..., httpx.AsyncClient]
) -> None:
    case_id = await _referred(clerk, settings)
    caseworker = as_role(Role.CASEWORKER, "cw-1")
    path = f"/v1/reviews/{case_id}/decision"
    assert (await caseworker.post(path, json={"outcome": "reject"})).status_code == 422
    assert (
        await caseworker.post(path, json={"outcome": "reject", "reasons": ["dunno"]})
    ).status_code == 422
    assert (await caseworker.post(path, json={"outcome": "maybe"})).status_code == 422
    rejected = await caseworker.post(
        path, json={"outcome": "reject", "reasons": ["not_eligible_on_review"]}
    )
    assert rejected.json()["status"] == "rejected"
    (decision,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert decision["data"]["reasons"] == ["not_eligible_on_review"]


async def test_overriding_an_automated_rejection_needs_a_supervisor(
    clerk: httpx.AsyncClient, settings: ChassisSettings, as_role: Callable[..., httpx.AsyncClient]
) -> None:
    before = agency_today()
    case_id = await submit(clerk, person(application(facts={"insurance_years": 20})))
    after = agency_today()
    await eligibility_event(settings, case_id, "EligibilityDecided")
    path = f"/v1/reviews/{case_id}/decision"
    override = {"outcome": "approve", "note": "records were incomplete"}
    refused = await as_role(Role.CASEWORKER, "cw-1").post(path, json=override)
    assert refused.status_code == 403
    assert "supervisor" in refused.json()["detail"]
    granted = await as_role(Role.SUPERVISOR, "sup-1").post(path, json=override)
    assert granted.status_code == 200
    # 20 insurance years earn the base amount of the policy in force on the application
    # date (280.00 in 2026, 294.00 from 2027).
    assert granted.json()["amount"] in {
        str(SHIPPED_POLICIES.in_force(day).old_age_pension.base_amount) for day in (before, after)
    }
    assert (await as_role(Role.SUPERVISOR, "sup-2").post(path, json=override)).status_code == 409
    (completed,) = await eligibility_event(settings, case_id, "ReviewCompleted")
    assert completed["data"]["overrides_automated_rejection"] is True


async def test_unknown_case_is_404(as_role: Callable[..., httpx.AsyncClient]) -> None:
    response = await as_role(Role.CASEWORKER, "cw-1").post(
        "/v1/reviews/no-such-case/decision", json={"outcome": "approve"}
    )
    assert response.status_code == 404


async def test_withdrawn_review_leaves_the_queue_and_gets_no_decision(
    clerk: httpx.AsyncClient, settings: ChassisSettings, as_role: Callable[..., httpx.AsyncClient]
) -> None:
    case_id = await _referred(clerk, settings)
    await case_status(clerk, case_id, "under_review")
    assert (await clerk.post(f"/v1/applications/{case_id}/withdraw")).status_code == 200
    caseworker = as_role(Role.CASEWORKER, "cw-1")
    async with asyncio.timeout(30):
        while case_id in [item["case_id"] for item in await _queue(caseworker)]:
            await asyncio.sleep(0.1)
    response = await caseworker.post(f"/v1/reviews/{case_id}/decision", json={"outcome": "approve"})
    assert response.status_code == 409
    await case_status(clerk, case_id, "withdrawn")


async def test_death_closes_a_pending_review_as_rejected(
    clerk: httpx.AsyncClient, settings: ChassisSettings, database: Database, eligibility_schema: str
) -> None:
    body = disability()
    case_id = await _referred(clerk, settings, body)
    await report_death(
        settings,
        database,
        body["applicant"]["national_id"],
        date(2026, 2, 1),
        eligibility_schema=eligibility_schema,
    )
    (decision,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert (decision["data"]["outcome"], decision["data"]["reasons"]) == ("rejected", ["deceased"])
    await case_status(clerk, case_id, "rejected")
