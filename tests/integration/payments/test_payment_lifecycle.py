"""A case from its approval to its payments, through the real services and broker: grants,
runs with arrears and the 2027 amounts, the bank file, settlement by event and by camt.054
file, returns and suspension, new bank details, death and overpayment, the tracker."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from chassis import jobs
from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from contracts.periods import Month
from services.payments.iso20022.xsd import PAIN_001, schema
from tests.bank_files import debit_notification
from tests.integration.applications import application
from tests.integration.lifecycle.helpers import (
    case_status,
    eligibility_event,
    person,
    report_death,
    submit,
)
from tests.integration.payments.helpers import (
    Payments,
    bank_reports,
    payments_service,
    returned,
    settled,
)
from tests.kafka_reading import json_records_matching, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("eligibility_url")]
PENSION_2026, PENSION_2027 = "316.00", "330.00"  # 31 insurance years: 280 + 6 x 6; 294 + 36


@pytest.fixture
async def payments(settings: ChassisSettings, tmp_path: Path) -> AsyncIterator[Payments]:
    async with payments_service(settings, tmp_path) as service:
        yield service


async def approved_pension(clerk: httpx.AsyncClient, settings: ChassisSettings) -> str:
    case_id = await submit(clerk, person(application()))
    (decided,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert decided["data"]["outcome"] == "approved"
    return case_id


def months_of(instruction: dict[str, Any]) -> list[tuple[str, str]]:
    return [(line["month"], line["amount"]) for line in instruction["months"]]


async def test_a_pension_is_granted_and_paid_with_arrears_at_each_months_amount(
    clerk: httpx.AsyncClient, settings: ChassisSettings, payments: Payments
) -> None:
    case_id = await approved_pension(clerk, settings)
    entitlement = await payments.entitlement_of(case_id)
    start = entitlement["start_date"][:7]
    assert (entitlement["status"], entitlement["payment"]) == ("active", "monthly")
    assert {s["amount"] for s in entitlement["amount_schedule"]} >= {PENSION_2026, PENSION_2027}

    run = await payments.run("2027-01")  # the months from the start to January, in one
    assert run["status"] == "completed"
    assert run["bank_file"] == "pain001-2027-01.xml"
    (instruction,) = (await payments.entitlement(entitlement["entitlement_id"]))["instructions"]
    expected = [
        (month, PENSION_2027 if month >= "2027-01" else PENSION_2026)
        for month in ("2026-11", "2026-12", "2027-01")
        if month >= start
    ]
    assert months_of(instruction) == expected
    assert Decimal(instruction["amount"]) == sum(Decimal(amount) for _, amount in expected)

    (published,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.payments.events.v1",
        lambda e: (
            e.get("subject") == case_id and e["type"] == "dost.payments.PaymentInstructionIssued.v1"
        ),
    )
    assert published["data"]["instruction_id"] == instruction["instruction_id"]
    assert "iban" not in json_text(published)  # bank details never leave payments

    document = etree.parse(str(payments.bank_dir / run["bank_file"]))
    schema(PAIN_001).assertValid(document)
    namespaces = {"p": document.getroot().nsmap[None]}
    transfers = document.findall(".//p:CdtTrfTxInf", namespaces)
    assert len(transfers) == run["instructions"]
    ours = [
        t
        for t in transfers
        if t.findtext("p:PmtId/p:EndToEndId", namespaces=namespaces)
        == instruction["instruction_id"]
    ]
    assert len(ours) == 1
    assert ours[0].find("p:Amt/p:InstdAmt", namespaces).attrib["Ccy"] == "AZN"  # type: ignore[union-attr]
    assert ours[0].findtext("p:Amt/p:InstdAmt", namespaces=namespaces) == instruction["amount"]

    case = await case_status(clerk, case_id, "approved")
    assert "dost.payments.EntitlementGranted.v1" in [item["type"] for item in case["timeline"]]


def json_text(document: dict[str, Any]) -> str:
    return json.dumps(document).lower()


async def test_a_repeated_run_and_a_second_job_for_the_same_period_issue_nothing_twice(
    clerk: httpx.AsyncClient, settings: ChassisSettings, payments: Payments, database: Database
) -> None:
    case_id = await approved_pension(clerk, settings)
    entitlement = await payments.entitlement_of(case_id)
    first = await payments.run("2026-12")
    again = await payments.supervisor.post("/v1/payment-runs", json={"period": "2026-12"})
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    # Even a second run of the same month (bypassing the idempotent submit) pays nothing twice.
    async with database.pool.acquire() as connection:
        second, _ = await jobs.submit(
            connection,
            payments.schema,
            name="payment-run-2026-12-again",
            kind="payment-run",
            params={"period": "2026-12"},
        )
    await payments.finished(second.name)
    instructions = (await payments.entitlement(entitlement["entitlement_id"]))["instructions"]
    assert len(instructions) == 1
    duplicates = await database.pool.fetchval(
        f"SELECT count(*) - count(DISTINCT (entitlement_id, period))"
        f" FROM {payments.schema}.payment_instructions"
    )
    assert duplicates == 0
    forbidden = await payments.clerk.post("/v1/payment-runs", json={"period": "2027-01"})
    assert forbidden.status_code == 403


async def test_an_operator_runs_a_month_from_the_shell_and_follows_its_progress(
    clerk: httpx.AsyncClient, settings: ChassisSettings, payments: Payments
) -> None:
    case_id = await approved_pension(clerk, settings)
    entitlement_id = (await payments.entitlement_of(case_id))["entitlement_id"]

    command = [sys.executable, "-m", "deploy", "payments", "run"]

    def dost_payments_run(period: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command, "--period", period, "--schema", payments.schema],
            env={**os.environ, **_environment(settings)},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    shell = await asyncio.to_thread(dost_payments_run, "2026-12")
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert "started payment run payment-run-2026-12" in shell.stdout
    # (Its own schema, but the cases approved by earlier tests are paid too.)
    assert re.search(r"\[#{30}\] (\d+)/\1 completed", shell.stdout), shell.stdout
    assert "'bank_file': 'pain001-2026-12.xml'" in shell.stdout
    (instruction,) = (await payments.entitlement(entitlement_id))["instructions"]
    assert instruction["run_id"] == "payment-run-2026-12"
    # The same command again finds the run done and pays nothing twice.
    again = await asyncio.to_thread(dost_payments_run, "2026-12")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "found payment run payment-run-2026-12 (completed)" in again.stdout
    assert len((await payments.entitlement(entitlement_id))["instructions"]) == 1
    refused = await asyncio.to_thread(dost_payments_run, "2026-13")
    assert refused.returncode == 2
    assert "'2026-13' is not a month (YYYY-MM)" in refused.stderr


async def test_settlement_by_event_and_by_camt054_file_and_a_report_on_an_unknown_payment(
    clerk: httpx.AsyncClient, settings: ChassisSettings, payments: Payments, tmp_path: Path
) -> None:
    by_event, by_file = (
        await approved_pension(clerk, settings),
        await approved_pension(clerk, settings),
    )
    first = await payments.entitlement_of(by_event)
    second = await payments.entitlement_of(by_file)
    await payments.run("2026-11")
    (paid_by_event,) = (await payments.entitlement(first["entitlement_id"]))["instructions"]
    (paid_by_file,) = (await payments.entitlement(second["entitlement_id"]))["instructions"]

    report = settled(paid_by_event["instruction_id"])
    await bank_reports(settings, report, report, settled("f" * 32))  # a duplicate, an unknown
    done = await payments.until_instruction(
        first["entitlement_id"], paid_by_event["instruction_id"], "settled"
    )
    assert done["settled_at"] is not None

    statement = tmp_path / "camt054.xml"
    statement.write_bytes(
        debit_notification(
            settled=[],
            returned=[(paid_by_file["instruction_id"], Decimal(paid_by_file["amount"]), "AC04")],
            account_iban="AZ05NABZ00000000137010000001",
            booked_on=date(2026, 11, 30),
        )
    )
    imported = subprocess.run(
        [sys.executable, "-m", "deploy", "payments", "import-statement", str(statement)],
        env={**os.environ, **_environment(settings)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert imported.returncode == 0, imported.stdout + imported.stderr
    assert "1 return(s)" in imported.stdout
    back = await payments.until_instruction(
        second["entitlement_id"], paid_by_file["instruction_id"], "returned"
    )
    assert back["return_reason"].startswith("AC04")

    dead = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.bank.settlements.v1.dlq",
        lambda e: e.get("data", {}).get("instruction_id") == "f" * 32,
    )
    assert dead
    records = await read_to_end(settings.kafka_bootstrap_servers, "dost.bank.settlements.v1.dlq")
    reasons = {dict(r.headers).get("dlq-reason") for r in records if b"f" * 32 in r.value}
    assert reasons == {b"unknown_instruction"}
    settlements = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.payments.events.v1",
        lambda e: e.get("subject") == by_event and e["type"] == "dost.payments.PaymentSettled.v1",
    )
    assert len({event["id"] for event in settlements}) == 1  # the duplicate changed nothing


def _environment(settings: ChassisSettings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "KAFKA_ENABLE_IDEMPOTENCE": str(settings.kafka_enable_idempotence).lower(),
    }


async def test_three_returns_suspend_and_new_bank_details_pay_the_months_in_between(
    clerk: httpx.AsyncClient, settings: ChassisSettings, payments: Payments
) -> None:
    case_id = await approved_pension(clerk, settings)
    entitlement_id = (await payments.entitlement_of(case_id))["entitlement_id"]
    for period in ("2026-11", "2026-12", "2027-01"):
        await payments.run(period)
        latest = (await payments.entitlement(entitlement_id))["instructions"][-1]
        await bank_reports(settings, returned(latest["instruction_id"]))
        await payments.until_instruction(entitlement_id, latest["instruction_id"], "returned")
    suspended = await payments.until_status(entitlement_id, "suspended")
    assert suspended["returns"] == 3
    await payments.run("2027-02")
    assert (
        len((await payments.entitlement(entitlement_id))["instructions"]) == 3
    )  # none while suspended
    await case_status(clerk, case_id, "suspended")

    bad = await payments.clerk.put(
        f"/v1/entitlements/{entitlement_id}/bank-account", json={"iban": "AZ00NOTANIBAN"}
    )
    assert bad.status_code == 422
    resumed = await payments.clerk.put(
        f"/v1/entitlements/{entitlement_id}/bank-account",
        json={"iban": "AZ96AZEJ00000000001234567890"},
    )
    assert resumed.status_code == 200, resumed.text
    assert (resumed.json()["status"], resumed.json()["returns"]) == ("active", 0)
    await case_status(clerk, case_id, "approved")
    await payments.run("2027-03")
    arrears = (await payments.entitlement(entitlement_id))["instructions"][-1]
    start = (await payments.entitlement(entitlement_id))["start_date"][:7]
    assert [month for month, _ in months_of(arrears)] == [
        month for month in ("2026-11", "2026-12", "2027-01", "2027-02", "2027-03") if month >= start
    ]


async def test_a_death_ends_the_entitlement_at_the_month_end_and_reports_the_overpayment(
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    payments: Payments,
    database: Database,
    eligibility_schema: str,
) -> None:
    body = person(application())
    case_id = await submit(clerk, body)
    await eligibility_event(settings, case_id, "EligibilityDecided")
    entitlement_id = (await payments.entitlement_of(case_id))["entitlement_id"]
    await payments.run("2027-01")
    (paid,) = (await payments.entitlement(entitlement_id))["instructions"]

    await report_death(
        settings,
        database,
        body["applicant"]["national_id"],
        date(2026, 12, 10),
        eligibility_schema=eligibility_schema,
    )
    ended = await payments.until_status(entitlement_id, "terminated")
    assert ended["ends_on"] == "2026-12-31"
    (overpaid,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.payments.events.v1",
        lambda e: (
            e.get("subject") == case_id and e["type"] == "dost.payments.OverpaymentDetected.v1"
        ),
    )
    assert overpaid["data"]["months"] == ["2027-01"]
    assert overpaid["data"]["amount"] == PENSION_2027
    assert overpaid["data"]["instruction_ids"] == [paid["instruction_id"]]
    case = await case_status(clerk, case_id, "terminated")
    assert "dost.payments.OverpaymentDetected.v1" in [item["type"] for item in case["timeline"]]


async def test_once_an_entitlement_has_ended_the_person_may_apply_again(
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    payments: Payments,
    database: Database,
    eligibility_schema: str,
) -> None:
    """Eligibility's already_receiving learns from payments when an entitlement ends."""
    body = person(
        application(
            benefit="unemployment_benefit",
            facts={
                "registered_unemployed": True,
                "insured_months_last_18": 14,
                "average_monthly_wage": "600.00",
            },
        )
    )
    first = await submit(clerk, body)
    (decided,) = await eligibility_event(settings, first, "EligibilityDecided")
    assert decided["data"]["outcome"] == "approved"
    again = await submit(clerk, body)  # while it runs: refused
    (refused,) = await eligibility_event(settings, again, "EligibilityDecided")
    assert refused["data"]["reasons"] == ["already_receiving"]

    entitlement_id = (await payments.entitlement_of(first))["entitlement_id"]
    last_month = Month.parse(decided["data"]["award"]["end_date"][:7])
    await payments.run(str(last_month))  # pays every month up to the end
    await payments.run(str(last_month.plus(1)))  # nothing left to pay: it ends
    ended = await payments.until_status(entitlement_id, "terminated")
    assert ended["ends_on"] == decided["data"]["award"]["end_date"]
    async with asyncio.timeout(30):  # eligibility learns of the end from payments' event
        while not await database.pool.fetchval(
            f"SELECT count(*) FROM {eligibility_schema}.events"
            " WHERE stream_id = $1 AND event_type = 'eligibility.AwardEnded'",
            f"eligibility-{first}",
        ):
            await asyncio.sleep(0.2)
    third = await submit(clerk, body)
    (decision,) = await eligibility_event(settings, third, "EligibilityDecided")
    assert (decision["data"]["outcome"], decision["data"]["reasons"]) == ("approved", [])


async def test_an_approval_on_review_grants_an_entitlement_the_next_run_pays(
    clerk: httpx.AsyncClient,
    caseworker: httpx.AsyncClient,
    settings: ChassisSettings,
    payments: Payments,
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
    referred = await payments.clerk.get("/v1/entitlements", params={"case_id": case_id})
    assert referred.json() == []  # nothing is granted before the review
    decided = await caseworker.post(
        f"/v1/reviews/{case_id}/decision", json={"outcome": "approve", "note": "verified"}
    )
    assert decided.status_code == 200, decided.text

    entitlement = await payments.entitlement_of(case_id)
    assert (entitlement["benefit"], entitlement["status"]) == ("disability_benefit", "active")
    assert entitlement["amount_schedule"][0]["amount"] == "250.00"
    run = await payments.run(str(Month.of(agency_today())))
    (instruction,) = (await payments.entitlement(entitlement["entitlement_id"]))["instructions"]
    assert instruction["run_id"] == run["id"]
    assert instruction["amount"] == "250.00"
