"""One application of each benefit from intake to decision through the real broker."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from tests.integration.applications import application
from tests.integration.lifecycle.helpers import (
    case_status,
    eligibility_event,
    intake_noted_decision,
    person,
    publish_json,
    report_death,
    submit,
    withdrawal_of,
)
from tests.kafka_reading import json_records_matching

pytestmark = pytest.mark.integration


def _days_ago(days: int) -> str:
    return (agency_today() - timedelta(days=days)).isoformat()


async def test_old_age_pension_is_approved_with_amount_rules_and_policy(
    eligibility_url: str, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    # The service takes the date in Asia/Baku when it accepts the application; a month may
    # end while the request is in flight.
    before = agency_today()
    case_id = await submit(clerk, person(application()))
    after = agency_today()
    (decided,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    data = decided["data"]
    assert (data["outcome"], data["benefit"], data["decided_by"]) == (
        "approved",
        "old_age_pension",
        "automated",
    )
    assert Decimal(data["award"]["amount"]) >= Decimal("316.00")  # 280 + 6 x 6 (more from 2027)
    assert data["award"]["payment"] == "monthly"
    assert data["award"]["start_date"] in {
        before.replace(day=1).isoformat(),
        after.replace(day=1).isoformat(),
    }
    assert data["policy_version"] in ("2026", "2027")
    assert {r["rule"] for r in data["rules"]} >= {
        "not_deceased",
        "minimum_age",
        "minimum_insurance_years",
    }
    assert all(r["passed"] for r in data["rules"])
    assert decided["causationid"]
    assert decided["correlationid"]
    case = await case_status(clerk, case_id, "approved")
    assert case["decision"]["outcome"] == "approved"


@pytest.mark.parametrize(
    ("body", "outcome"),
    [
        (
            application(
                benefit="disability_benefit",
                facts={"disability_group": 1, "assessment_date": _days_ago(30)},
            ),
            "ReferredForReview",
        ),
        (
            application(
                benefit="unemployment_benefit",
                facts={
                    "registered_unemployed": True,
                    "insured_months_last_18": 14,
                    "average_monthly_wage": "600.00",
                },
            ),
            "approved:420.00",
        ),
        (
            application(
                benefit="targeted_social_assistance",
                facts={"household_members": 4, "household_monthly_income": "400.00"},
            ),
            "approved:700.00",
        ),
        (
            application(benefit="childbirth_allowance", facts={"child_birth_date": _days_ago(10)}),
            "approved:500.00",
        ),
        (application(facts={"insurance_years": 20}), "rejected:insufficient_insurance_record"),
    ],
    ids=["disability", "unemployment", "assistance", "childbirth", "pension-rejected"],
)
async def test_each_benefit_reaches_its_decision(
    eligibility_url: str,
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    body: dict[str, Any],
    outcome: str,
) -> None:
    case_id = await submit(clerk, person(body))
    if outcome == "ReferredForReview":
        (referred,) = await eligibility_event(settings, case_id, "ReferredForReview")
        assert referred["data"]["review_reasons"] == ["disability_assessment_requires_review"]
        assert referred["data"]["proposal"]["amount"] == "330.00"
        await case_status(clerk, case_id, "under_review")
        return
    (decided,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    expected_outcome, detail = outcome.split(":")
    assert decided["data"]["outcome"] == expected_outcome
    if expected_outcome == "approved":
        assert decided["data"]["award"]["amount"] == detail
    else:
        assert decided["data"]["reasons"] == [detail]
        assert decided["data"]["award"] is None


async def test_second_pension_for_the_same_person_is_rejected_already_receiving(
    eligibility_url: str, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    body = person(application())
    first = await submit(clerk, body)
    await eligibility_event(settings, first, "EligibilityDecided")
    second = await submit(clerk, body)
    (decided,) = await eligibility_event(settings, second, "EligibilityDecided")
    assert decided["data"]["reasons"] == ["already_receiving"]


async def test_redelivered_submission_gets_no_second_decision(
    eligibility_url: str, clerk: httpx.AsyncClient, settings: ChassisSettings
) -> None:
    case_id = await submit(clerk, person(application()))
    (submitted,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.intake.events.v1",
        lambda e: e.get("subject") == case_id,
    )
    await eligibility_event(settings, case_id, "EligibilityDecided")
    await publish_json(settings, "dost.intake.events.v1", submitted, key=case_id)
    # An end marker behind the duplicate, on the same key and so the same partition: a
    # withdrawal of the decided case, which eligibility answers with WithdrawalRejected.
    # Once that answer is out, the duplicate before it has been handled too.
    await publish_json(settings, "dost.intake.events.v1", withdrawal_of(case_id), key=case_id)
    await eligibility_event(settings, case_id, "WithdrawalRejected")
    decisions = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert len(decisions) == 1


async def test_decided_application_can_no_longer_be_withdrawn(
    eligibility_url: str,
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    database: Database,
    intake_schema: str,
) -> None:
    case_id = await submit(clerk, person(application()))
    await eligibility_event(settings, case_id, "EligibilityDecided")
    await intake_noted_decision(database, intake_schema, case_id)
    assert (await clerk.post(f"/v1/applications/{case_id}/withdraw")).status_code == 409
    await case_status(clerk, case_id, "approved")


async def test_the_deceased_are_rejected(
    eligibility_schema: str,
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    database: Database,
) -> None:
    body = person(application())
    await report_death(
        settings,
        database,
        body["applicant"]["national_id"],
        date(2026, 1, 5),
        eligibility_schema=eligibility_schema,
    )
    case_id = await submit(clerk, body)
    (decided,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert decided["data"]["reasons"] == ["deceased"]
