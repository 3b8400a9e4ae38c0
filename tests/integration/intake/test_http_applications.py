"""Intake over HTTP, against the real service, database and broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.auth import Role
from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from tests.integration.applications import application, bearer

pytestmark = pytest.mark.integration


def _key() -> str:
    return str(uuid.uuid4())


async def _submit(
    client: httpx.AsyncClient, body: dict[str, Any], key: str | None = None
) -> httpx.Response:
    headers = {"Idempotency-Key": key or _key()}
    return await client.post("/v1/applications", json=body, headers=headers)


def _undecided() -> dict[str, Any]:
    """An application no automated decision closes: eligibility, if it runs in this
    session, refers it for review, and a case under review can still be withdrawn."""
    assessed = agency_today() - timedelta(days=20)
    return application(
        benefit="disability_benefit",
        facts={"disability_group": 2, "assessment_date": assessed.isoformat()},
    )


async def test_submission_is_accepted_with_a_new_case_id(clerk: httpx.AsyncClient) -> None:
    response = await _submit(clerk, application())
    assert response.status_code == 202
    assert response.json()["status"] == "submitted"
    uuid.UUID(response.json()["case_id"])


async def test_same_key_same_body_returns_the_same_case_and_writes_nothing_new(
    clerk: httpx.AsyncClient, database: Database, intake_schema: str
) -> None:
    key = _key()
    first = await _submit(clerk, application(), key)
    again = await _submit(clerk, application(), key)
    assert again.status_code == 202
    assert again.json() == first.json()
    case_id = first.json()["case_id"]
    stored = await database.pool.fetchval(
        f"SELECT count(*) FROM {intake_schema}.events WHERE stream_id = $1"
        " AND event_type = 'intake.ApplicationSubmitted'",  # a decision may be noted later
        f"application-{case_id}",
    )
    assert stored == 1


async def test_ten_identical_requests_at_once_open_one_case(
    clerk: httpx.AsyncClient, database: Database, intake_schema: str
) -> None:
    key = _key()
    responses = await asyncio.gather(*(_submit(clerk, application(), key) for _ in range(10)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["case_id"] for r in responses}) == 1
    keys = await database.pool.fetchval(
        f"SELECT count(*) FROM {intake_schema}.submission_keys WHERE idempotency_key = $1", key
    )
    streams = await database.pool.fetchval(
        f"SELECT count(*) FROM {intake_schema}.events WHERE stream_id = $1"
        " AND event_type = 'intake.ApplicationSubmitted'",
        f"application-{responses[0].json()['case_id']}",
    )
    assert (keys, streams) == (1, 1)


async def test_same_key_with_a_different_body_is_409(clerk: httpx.AsyncClient) -> None:
    key = _key()
    assert (await _submit(clerk, application(), key)).status_code == 202
    response = await _submit(clerk, application(center_id="ganja-1"), key)
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


async def test_missing_idempotency_key_is_400(clerk: httpx.AsyncClient) -> None:
    response = await clerk.post("/v1/applications", json=application())
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["detail"]


async def test_submission_needs_a_clerk_or_system_token(
    intake_url: str, settings: ChassisSettings
) -> None:
    async with httpx.AsyncClient(base_url=intake_url) as anonymous:
        assert (await _submit(anonymous, application())).status_code == 401
    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.AUDITOR)
    ) as auditor:
        assert (await _submit(auditor, application())).status_code == 403
    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.SYSTEM)
    ) as system:
        assert (await _submit(system, application())).status_code == 202


def _with(path: str, value: Any) -> dict[str, Any]:
    body = application()
    *parents, last = path.split(".")
    target = body
    for part in parents:
        target = target[part]
    if value is _DELETE:
        del target[last]
    else:
        target[last] = value
    return body


_DELETE = object()
_TOMORROW = (agency_today() + timedelta(days=2)).isoformat()


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        pytest.param(_with("benefit", "free_money"), "benefit", id="unknown-benefit"),
        pytest.param(
            _with("applicant.national_id", "5zk7pqm"), "applicant.national_id", id="fin-lowercase"
        ),
        pytest.param(
            _with("applicant.national_id", "5ZK7PQ"), "applicant.national_id", id="fin-short"
        ),
        pytest.param(
            _with("applicant.birth_date", _TOMORROW), "applicant.birth_date", id="born-tomorrow"
        ),
        pytest.param(
            _with("applicant.birth_date", "1958-03-14T00:00:00"),
            "applicant.birth_date",
            id="born-at-a-datetime",
        ),
        pytest.param(
            _with("applicant.birth_date", "0001-01-01"), "applicant.birth_date", id="born-year-1"
        ),
        pytest.param(
            _with("applicant.full_name", " \t "), "applicant.full_name", id="name-whitespace"
        ),
        pytest.param(_with("applicant.full_name", "   "), "applicant.full_name", id="name-blank"),
        pytest.param(
            _with("applicant.bank_account", "AZ21NABZ00000000137010001945"),
            "applicant.bank_account",
            id="iban-checksum",
        ),
        pytest.param(
            _with("applicant.bank_account", _DELETE), "applicant.bank_account", id="no-iban-monthly"
        ),
        pytest.param(
            {
                **application(),
                "applicant": {**application()["applicant"], "phone": None, "email": None},
            },
            "applicant.phone",
            id="no-phone-no-email",
        ),
        pytest.param(_with("applicant.email", "not-an-email"), "applicant.email", id="bad-email"),
        pytest.param(_with("applicant.language", "fr"), "applicant.language", id="bad-language"),
        pytest.param(_with("facts", {}), "facts.insurance_years", id="facts-missing"),
        pytest.param(
            _with("facts.insurance_years", 71), "facts.insurance_years", id="years-over-70"
        ),
        pytest.param(
            _with("facts.insurance_years", -1), "facts.insurance_years", id="years-negative"
        ),
        pytest.param(
            _with("facts.insurance_years", True), "facts.insurance_years", id="years-true"
        ),
        pytest.param(_with("facts.salary", 100), "facts.salary", id="unknown-fact"),
        pytest.param(
            _with("applicant.nickname", "A"), "applicant.nickname", id="unknown-applicant-field"
        ),
        pytest.param(_with("priority", "high"), "priority", id="unknown-top-field"),
        pytest.param(_with("center_id", _DELETE), "center_id", id="no-center"),
        pytest.param(
            application(
                benefit="disability_benefit",
                facts={"disability_group": 4, "assessment_date": "2026-01-01"},
            ),
            "facts.disability_group",
            id="disability-group-4",
        ),
        pytest.param(
            application(benefit="disability_benefit", facts={"disability_group": 1}),
            "facts.assessment_date",
            id="disability-no-assessment",
        ),
        pytest.param(
            application(
                benefit="unemployment_benefit",
                facts={
                    "registered_unemployed": "yes",
                    "insured_months_last_18": 12,
                    "average_monthly_wage": "500.00",
                },
            ),
            "facts.registered_unemployed",
            id="unemployment-not-bool",
        ),
        pytest.param(
            application(
                benefit="unemployment_benefit",
                facts={
                    "registered_unemployed": True,
                    "insured_months_last_18": 19,
                    "average_monthly_wage": "500.00",
                },
            ),
            "facts.insured_months_last_18",
            id="unemployment-19-months",
        ),
        pytest.param(
            application(
                benefit="unemployment_benefit",
                facts={
                    "registered_unemployed": True,
                    "insured_months_last_18": 12,
                    "average_monthly_wage": "5.001",
                },
            ),
            "facts.average_monthly_wage",
            id="wage-three-decimals",
        ),
        pytest.param(
            application(
                benefit="targeted_social_assistance",
                facts={"household_members": 21, "household_monthly_income": "100.00"},
            ),
            "facts.household_members",
            id="household-21",
        ),
        pytest.param(
            application(
                benefit="targeted_social_assistance",
                facts={"household_members": 2, "household_monthly_income": "-1.00"},
            ),
            "facts.household_monthly_income",
            id="income-negative",
        ),
        pytest.param(
            application(benefit="childbirth_allowance", facts={"child_birth_date": "someday"}),
            "facts.child_birth_date",
            id="childbirth-bad-date",
        ),
    ],
)
async def test_invalid_application_is_422_naming_the_bad_field(
    clerk: httpx.AsyncClient, body: dict[str, Any], bad_field: str
) -> None:
    response = await _submit(clerk, body)
    assert response.status_code == 422
    assert bad_field in {error["loc"] for error in response.json()["errors"]}


async def test_every_bad_field_is_listed_at_once(clerk: httpx.AsyncClient) -> None:
    body = application(
        benefit="old_age_pension", facts={"insurance_years": 99, "extra": 1}, note="x"
    )
    body["applicant"].update(national_id="bad", birth_date=_TOMORROW, bank_account="AZ00XXXX")
    response = await _submit(clerk, body)
    assert response.status_code == 422
    assert {error["loc"] for error in response.json()["errors"]} == {
        "note",
        "applicant.national_id",
        "applicant.birth_date",
        "applicant.bank_account",
        "facts.insurance_years",
        "facts.extra",
    }
    assert all("input" not in error for error in response.json()["errors"])


async def test_lump_sum_needs_no_bank_account(clerk: httpx.AsyncClient) -> None:
    body = application(benefit="childbirth_allowance", facts={"child_birth_date": "2026-10-01"})
    del body["applicant"]["bank_account"]
    assert (await _submit(clerk, body)).status_code == 202


async def test_withdraw_before_a_decision_then_again_is_409(clerk: httpx.AsyncClient) -> None:
    case_id = (await _submit(clerk, _undecided())).json()["case_id"]
    response = await clerk.post(
        f"/v1/applications/{case_id}/withdraw", json={"reason": "moved abroad"}
    )
    assert response.status_code == 200
    assert response.json() == {"case_id": case_id, "status": "withdrawn"}
    again = await clerk.post(f"/v1/applications/{case_id}/withdraw")
    assert again.status_code == 409
    case = (await clerk.get(f"/v1/applications/{case_id}")).json()
    assert case["status"] == "withdrawn"
    assert [item["type"] for item in case["timeline"] if item["source"] == "urn:dost:intake"] == [
        "dost.intake.ApplicationSubmitted.v1",
        "dost.intake.ApplicationWithdrawn.v1",
    ]


async def test_withdraw_unknown_case_is_404_and_needs_a_clerk(
    clerk: httpx.AsyncClient, intake_url: str, settings: ChassisSettings
) -> None:
    assert (await clerk.post(f"/v1/applications/{uuid.uuid4()}/withdraw")).status_code == 404
    case_id = (await _submit(clerk, application())).json()["case_id"]
    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.CASEWORKER)
    ) as other:
        assert (await other.post(f"/v1/applications/{case_id}/withdraw")).status_code == 403


async def test_case_shows_status_application_and_timeline(
    clerk: httpx.AsyncClient, intake_url: str, settings: ChassisSettings
) -> None:
    case_id = (await _submit(clerk, application())).json()["case_id"]
    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.AUDITOR)
    ) as auditor:
        case = (await auditor.get(f"/v1/applications/{case_id}")).json()
    assert case["case_id"] == case_id
    assert case["benefit"] == "old_age_pension"
    assert case["application"]["applicant"]["national_id"] == "5ZK7PQM"
    assert case["entitlements"] == case["payments"] == case["notifications"] == []
    entry, *answers = case["timeline"]
    if answers:  # eligibility, if it runs in this session, may have decided already
        assert [answer["source"] for answer in answers] == ["urn:dost:eligibility"]
        assert case["status"] == case["decision"]["outcome"]
    else:
        assert case["status"] == "submitted"
        assert case["decision"] is None
    assert entry["type"] == "dost.intake.ApplicationSubmitted.v1"
    assert entry["source"] == "urn:dost:intake"
    assert entry["time"]


async def test_unknown_case_is_404(clerk: httpx.AsyncClient) -> None:
    response = await clerk.get(f"/v1/applications/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"


async def test_search_by_national_id_and_status_newest_first_in_pages(
    clerk: httpx.AsyncClient,
) -> None:
    national_id = uuid.uuid4().hex[:7].upper()
    body = _undecided()
    body["applicant"]["national_id"] = national_id
    created = []
    for n in range(3):
        created.append(
            (await _submit(clerk, {**body, "center_id": f"center-{n}"})).json()["case_id"]
        )
    await clerk.post(f"/v1/applications/{created[0]}/withdraw")

    everything = (await clerk.get("/v1/applications", params={"national_id": national_id})).json()
    assert [item["case_id"] for item in everything["items"]] == created[::-1]
    assert everything["total"] == 3

    first_page = (
        await clerk.get("/v1/applications", params={"national_id": national_id, "page_size": 2})
    ).json()
    second_page = (
        await clerk.get(
            "/v1/applications", params={"national_id": national_id, "page_size": 2, "page": 2}
        )
    ).json()
    assert [i["case_id"] for i in first_page["items"] + second_page["items"]] == created[::-1]

    withdrawn = (
        await clerk.get(
            "/v1/applications", params={"national_id": national_id, "status": "withdrawn"}
        )
    ).json()
    assert [item["case_id"] for item in withdrawn["items"]] == [created[0]]
    bad = await clerk.get("/v1/applications", params={"national_id": "nope", "status": "lost"})
    assert bad.status_code == 422
    assert {e["loc"] for e in bad.json()["errors"]} == {"query.national_id", "query.status"}


async def test_asyncapi_documents_the_events_intake_publishes_and_the_command_it_takes(
    intake_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=intake_url) as anonymous:
        document = (await anonymous.get("/asyncapi")).json()
    channels = document["channels"]
    events = channels["dost.intake.events.v1"]
    assert events["address"] == "dost.intake.events.v1"
    for published in ("ApplicationSubmitted", "ApplicationWithdrawn", "SubmissionRejected"):
        assert f"dost.intake.{published}.v1" in events["messages"]
    commands = channels["dost.intake.commands.v1"]
    assert "dost.intake.SubmitApplication.v1" in commands["messages"]
    assert "dost.intake.commands.v1.dlq" in channels
    assert "ApplicationBody" in document["components"]["schemas"]
    # What is served is what is committed for outside systems to read.
    committed = json.loads(
        (Path(__file__).parents[3] / "docs" / "asyncapi" / "intake.json").read_text()
    )

    def messages(channels: dict[str, Any]) -> dict[str, list[str]]:
        return {topic: sorted(channel["messages"]) for topic, channel in channels.items()}

    assert messages(document["channels"]) == messages(committed["channels"])
