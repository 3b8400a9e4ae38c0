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
import uuid
from collections.abc import AsyncIterator
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
from contracts.topics import ELIGIBILITY_EVENTS
from deploy.journey.bank import debit_notification
from services.payments.iso20022.xsd import PAIN_001, schema
from tests.integration.applications import application
from tests.integration.lifecycle.helpers import (
    case_status,
    eligibility_event,
    person,
    publish_json,
    report_death,
    submit,
)
from tests.integration.payments.helpers import (
    Payments,
    approved_pension,
    bank_reports,
    payments_service,
    referred_disability,
    returned,
    settled,
)
from tests.kafka_reading import json_records_matching, read_to_end

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("eligibility_url")]
PENSION_2026, PENSION_2027 = "316.00", "330.00"  # 31 insurance years: 280 + 6 x 6; 294 + 36
THIS_MONTH = Month.of(agency_today())


def month(offset: int) -> str:
    """The month `offset` months from this one (runs ahead of time stand for time passing:
    the test service lets a run pay up to 12 months ahead)."""
    return str(THIS_MONTH.plus(offset))


def amount_in(entitlement: dict[str, Any], paid_month: str) -> str:
    """The monthly amount in force in `paid_month`, by the entitlement's schedule."""
    first_day = Month.parse(paid_month).first_day.isoformat()
    in_force = [s for s in entitlement["amount_schedule"] if s["effective_from"] <= first_day]
    return str(max(in_force, key=lambda s: s["effective_from"])["amount"])


@pytest.fixture
async def payments(settings: ChassisSettings, tmp_path: Path) -> AsyncIterator[Payments]:
    async with payments_service(settings, tmp_path) as service:
        yield service


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

    # The months from the start to two months on, in one instruction, each at its own
    # amount: from November 2026 that is the 2026 amount, then 330.00 for January 2027
    # (the unit tests pin the change whatever the date).
    run = await payments.run(month(2))
    assert run["status"] == "completed"
    assert run["bank_file"] == f"pain001-{month(2)}.xml"
    (instruction,) = (await payments.entitlement(entitlement["entitlement_id"]))["instructions"]
    expected = [
        (paid, amount_in(entitlement, paid))
        for paid in (month(0), month(1), month(2))
        if paid >= start
    ]
    if Month(2026, 11) == THIS_MONTH:  # (today: the change itself, spelt out)
        spelt_out = [
            ("2026-11", PENSION_2026),
            ("2026-12", PENSION_2026),
            ("2027-01", PENSION_2027),
        ]
        assert expected == [line for line in spelt_out if line[0] >= start]
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
    first = await payments.run(month(1))
    again = await payments.supervisor.post("/v1/payment-runs", json={"period": month(1)})
    assert again.status_code == 202
    assert again.json()["id"] == first["id"]
    # Even a second run of the same month (bypassing the idempotent submit) pays nothing twice.
    async with database.pool.acquire() as connection:
        second, _ = await jobs.submit(
            connection,
            payments.schema,
            name=f"payment-run-{month(1)}-again",
            kind="payment-run",
            params={"period": month(1)},
        )
    await payments.finished(second.name)
    instructions = (await payments.entitlement(entitlement["entitlement_id"]))["instructions"]
    assert len(instructions) == 1
    duplicates = await database.pool.fetchval(
        f"SELECT count(*) - count(DISTINCT (entitlement_id, period))"
        f" FROM {payments.schema}.payment_instructions"
    )
    assert duplicates == 0
    forbidden = await payments.clerk.post("/v1/payment-runs", json={"period": month(2)})
    assert forbidden.status_code == 403
    too_far = await payments.supervisor.post("/v1/payment-runs", json={"period": month(13)})
    assert too_far.status_code == 422
    assert f"{month(12)}, the latest month a run may pay" in too_far.text


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

    shell = await asyncio.to_thread(dost_payments_run, month(0))
    assert shell.returncode == 0, shell.stdout + shell.stderr
    assert f"started payment run payment-run-{month(0)}" in shell.stdout
    # (Its own schema, but the cases approved by earlier tests are paid too.)
    assert re.search(r"\[#{30}\] (\d+)/\1 completed", shell.stdout), shell.stdout
    assert f"'bank_file': 'pain001-{month(0)}.xml'" in shell.stdout
    (instruction,) = (await payments.entitlement(entitlement_id))["instructions"]
    assert instruction["run_id"] == f"payment-run-{month(0)}"
    # The same command again finds the run done and pays nothing twice.
    again = await asyncio.to_thread(dost_payments_run, month(0))
    assert again.returncode == 0, again.stdout + again.stderr
    assert f"found payment run payment-run-{month(0)} (completed)" in again.stdout
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
    await payments.run(month(0))
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
            booked_on=agency_today(),
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
    for period in (month(0), month(1), month(2)):
        await payments.run(period)
        latest = (await payments.entitlement(entitlement_id))["instructions"][-1]
        await bank_reports(settings, returned(latest["instruction_id"]))
        await payments.until_instruction(entitlement_id, latest["instruction_id"], "returned")
    suspended = await payments.until_status(entitlement_id, "suspended")
    assert suspended["returns"] == 3
    await payments.run(month(3))
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
    await payments.run(month(4))
    arrears = (await payments.entitlement(entitlement_id))["instructions"][-1]
    start = (await payments.entitlement(entitlement_id))["start_date"][:7]
    assert [paid for paid, _ in months_of(arrears)] == [
        paid for paid in (month(offset) for offset in range(5)) if paid >= start
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
    await payments.run(month(2))
    (paid,) = (await payments.entitlement(entitlement_id))["instructions"]

    died = Month.parse(month(1))
    await report_death(
        settings,
        database,
        body["applicant"]["national_id"],
        died.first_day.replace(day=10),
        eligibility_schema=eligibility_schema,
    )
    ended = await payments.until_status(entitlement_id, "terminated")
    assert ended["ends_on"] == died.last_day.isoformat()
    (overpaid,) = await json_records_matching(
        settings.kafka_bootstrap_servers,
        "dost.payments.events.v1",
        lambda e: (
            e.get("subject") == case_id and e["type"] == "dost.payments.OverpaymentDetected.v1"
        ),
    )
    assert overpaid["data"]["months"] == [month(2)]
    assert overpaid["data"]["amount"] == amount_in(ended, month(2))
    assert overpaid["data"]["instruction_ids"] == [paid["instruction_id"]]
    await case_status(clerk, case_id, "terminated")
    # The overpayment is published after the termination: the tracker may show it a moment later.
    async with asyncio.timeout(30):
        while "dost.payments.OverpaymentDetected.v1" not in [
            item["type"]
            for item in (await clerk.get(f"/v1/applications/{case_id}")).json()["timeline"]
        ]:
            await asyncio.sleep(0.2)


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
    case_id = await referred_disability(clerk, settings)
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


async def test_a_redelivered_or_repeated_approval_grants_nothing_twice(
    clerk: httpx.AsyncClient, settings: ChassisSettings, payments: Payments, database: Database
) -> None:
    case_id = await approved_pension(clerk, settings)
    entitlement = await payments.entitlement_of(case_id)
    (decided,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    repeated = {**decided, "id": str(uuid.uuid4())}  # the same approval, told again
    await publish_json(settings, ELIGIBILITY_EVENTS, decided, key=case_id)  # redelivered
    await publish_json(settings, ELIGIBILITY_EVENTS, repeated, key=case_id)

    async with asyncio.timeout(60):  # both handled (the inbox has the second one's id)
        while not await database.pool.fetchval(
            f"SELECT count(*) FROM {payments.schema}.inbox WHERE message_id LIKE $1",
            f"%{repeated['id']}",
        ):
            await asyncio.sleep(0.1)
    granted = await database.pool.fetchval(
        f"SELECT count(*) FROM {payments.schema}.events"
        " WHERE stream_id = $1 AND event_type = 'payments.EntitlementGranted'",
        f"entitlement-{entitlement['entitlement_id']}",
    )
    assert granted == 1
    assert (
        len((await payments.clerk.get("/v1/entitlements", params={"case_id": case_id})).json()) == 1
    )


async def test_a_case_withdrawn_before_its_decision_is_never_granted(
    clerk: httpx.AsyncClient,
    caseworker: httpx.AsyncClient,
    settings: ChassisSettings,
    payments: Payments,
) -> None:
    case_id = await referred_disability(clerk, settings)
    withdrawn = await clerk.post(
        f"/v1/applications/{case_id}/withdraw", json={"reason": "moved abroad"}
    )
    assert withdrawn.status_code == 200, withdrawn.text
    await case_status(clerk, case_id, "withdrawn")
    async with asyncio.timeout(60):  # eligibility takes the case off the queue
        while any(
            item["case_id"] == case_id
            for item in (await caseworker.get("/v1/reviews", params={"page_size": 200})).json()
        ):
            await asyncio.sleep(0.2)
    late = await caseworker.post(
        f"/v1/reviews/{case_id}/decision", json={"outcome": "approve", "note": "late"}
    )
    assert late.status_code == 409, late.text

    # Nothing approved the case, so nothing grants it: the eligibility topic, read to its
    # end, has no decision for it, and payments has no entitlement.
    decisions = [
        record
        for record in await read_to_end(settings.kafka_bootstrap_servers, ELIGIBILITY_EVENTS)
        if json.loads(record.value).get("subject") == case_id
        and json.loads(record.value)["type"] == "dost.eligibility.EligibilityDecided.v1"
    ]
    assert decisions == []
    assert (await payments.clerk.get("/v1/entitlements", params={"case_id": case_id})).json() == []
