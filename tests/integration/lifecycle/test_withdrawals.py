"""A withdrawal and a decision crossing each other end the same way in every context:
eligibility decides which came first, intake and the tracker follow it."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts import encode, new_cloud_event
from contracts.application import ApplicationBody, agency_today
from contracts.intake import ApplicationSubmitted
from tests.integration.applications import application
from tests.integration.lifecycle.helpers import (
    case_status,
    eligibility_event,
    person,
    publish_json,
    submit,
    withdrawal_of,
)

pytestmark = pytest.mark.integration


async def eligibility_history(database: Database, schema: str, case_id: str) -> list[str]:
    rows = await database.pool.fetch(
        f"SELECT event_type FROM {schema}.events WHERE stream_id = $1 ORDER BY version",
        f"eligibility-{case_id}",
    )
    return [row["event_type"] for row in rows]


async def test_a_withdrawal_in_time_closes_the_case_with_no_decision(
    clerk: httpx.AsyncClient,
    caseworker: httpx.AsyncClient,
    settings: ChassisSettings,
    database: Database,
    eligibility_schema: str,
) -> None:
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    body = person(
        application(
            benefit="disability_benefit",
            facts={"disability_group": 2, "assessment_date": assessed},
        )
    )
    case_id = await submit(clerk, body)
    await eligibility_event(settings, case_id, "ReferredForReview")
    withdrawn = await clerk.post(f"/v1/applications/{case_id}/withdraw", json={"reason": "moved"})
    assert withdrawn.status_code == 200, withdrawn.text
    async with asyncio.timeout(30):
        while (await eligibility_history(database, eligibility_schema, case_id))[-1] != (
            "eligibility.Withdrawn"
        ):
            await asyncio.sleep(0.1)
    review = await caseworker.post(f"/v1/reviews/{case_id}/decision", json={"outcome": "approve"})
    assert review.status_code == 409, review.text
    assert "withdrawn" in review.json()["detail"]
    assert await eligibility_history(database, eligibility_schema, case_id) == [
        "eligibility.ApplicationReceived",
        "eligibility.Referred",
        "eligibility.Withdrawn",
    ]
    assert (await case_status(clerk, case_id, "withdrawn"))["decision"] is None


async def test_a_withdrawal_that_crossed_the_decision_is_rejected_and_the_decision_stands(
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    database: Database,
    eligibility_schema: str,
    eligibility_url: str,
) -> None:
    """Intake accepted a withdrawal before it learned of the decision (here the test plays
    intake's part on the topic, to choose the order eligibility sees them in)."""
    body = person(application())
    case_id = str(uuid.uuid4())
    submitted = new_cloud_event(
        ApplicationSubmitted(
            case_id=case_id,
            application=ApplicationBody.model_validate(body),
            submitted_at=datetime.now(UTC),
            channel="http",
            submitted_by="clerk-1",
        ),
        source="urn:dost:intake",
        subject=case_id,
    )
    withdrawal = withdrawal_of(case_id)
    await publish_json(
        settings, "dost.intake.events.v1", json.loads(encode(submitted)), key=case_id
    )
    await publish_json(settings, "dost.intake.events.v1", withdrawal, key=case_id)
    (rejected,) = await eligibility_event(settings, case_id, "WithdrawalRejected")
    assert rejected["data"]["decision"] == "approved"
    assert rejected["data"]["withdrawal_id"] == withdrawal["id"]
    assert rejected["causationid"] == withdrawal["id"]
    (decided,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert decided["data"]["outcome"] == "approved"
    case = await case_status(clerk, case_id, "approved")
    assert [item["type"] for item in case["timeline"]][-1] == (
        "dost.eligibility.WithdrawalRejected.v1"
    )


async def test_withdrawals_racing_decisions_end_the_same_everywhere(
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    database: Database,
    eligibility_schema: str,
    intake_schema: str,
    eligibility_url: str,
) -> None:
    """Submit and withdraw at once, many times: whichever wins, eligibility, intake's own
    record and the tracker agree, and a withdrawn case is never decided."""
    cases = await asyncio.gather(*(_submit_and_withdraw(clerk) for _ in range(10)))
    for case_id, withdraw_status in cases:
        assert withdraw_status in (200, 409)
        history = await _settled_history(
            database, eligibility_schema, case_id, withdrawal_accepted=withdraw_status == 200
        )
        expected = "withdrawn" if history[-1] == "eligibility.Withdrawn" else "approved"
        if expected == "withdrawn":
            assert "eligibility.Decided" not in history
        await case_status(clerk, case_id, expected)
        await _intake_agrees(database, intake_schema, case_id, expected)


async def _submit_and_withdraw(clerk: httpx.AsyncClient) -> tuple[str, int]:
    case_id = await submit(clerk, person(application()))
    withdrawn = await clerk.post(f"/v1/applications/{case_id}/withdraw")
    return case_id, withdrawn.status_code


async def _settled_history(
    database: Database, schema: str, case_id: str, *, withdrawal_accepted: bool
) -> list[str]:
    """Eligibility's events of the case once it has its outcome: decided (intake refused
    the withdrawal), or withdrawn, or decided with the withdrawal rejected."""
    settled = (
        ("eligibility.Withdrawn", "eligibility.WithdrawalRejected")
        if withdrawal_accepted
        else ("eligibility.Decided",)
    )
    async with asyncio.timeout(30):
        while True:
            history = await eligibility_history(database, schema, case_id)
            if history and history[-1] in settled:
                return history
            await asyncio.sleep(0.1)


async def _intake_agrees(database: Database, schema: str, case_id: str, expected: str) -> None:
    async with asyncio.timeout(30):
        while True:
            rows = await database.pool.fetch(
                f"SELECT event_type, data FROM {schema}.events WHERE stream_id = $1"
                " ORDER BY version",
                f"application-{case_id}",
            )
            if _intake_status(rows) == expected:
                return
            await asyncio.sleep(0.1)


def _intake_status(rows: list[Any]) -> str:
    status = "submitted"
    for row in rows:
        kind, data = row["event_type"], row["data"]
        if kind == "intake.ApplicationWithdrawn":
            status = "withdrawn"
        elif kind == "intake.DecisionNoted" and status != "withdrawn":
            status = data["outcome"]
        elif kind == "intake.WithdrawalOverruled":
            status = data["decision"]
    return status
