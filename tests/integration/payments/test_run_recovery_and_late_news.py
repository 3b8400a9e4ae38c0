"""What goes wrong around a payment run and a grant: a run that failed is resumed and its
instructions reach its bank file; an approval that reaches payments after the person's
death never pays a dead person."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.database import Database
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from contracts.periods import Month
from contracts.topics import ELIGIBILITY_EVENTS, REGISTRY_EVENTS
from tests.integration.lifecycle.helpers import eligibility_event, publish_json
from tests.integration.payments.helpers import approved_pension, payments_service

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("eligibility_url")]
PERIOD = str(Month.of(agency_today()))


async def test_a_failed_run_is_resumed_by_starting_it_again_and_pays_through_its_file(
    clerk: httpx.AsyncClient, settings: ChassisSettings, tmp_path: Path
) -> None:
    bank_dir = tmp_path / "bank"
    bank_dir.write_text("a file where the bank folder should be")  # the file step fails
    async with payments_service(settings, tmp_path, bank_dir=bank_dir) as payments:
        case_id = await approved_pension(clerk, settings)
        entitlement_id = (await payments.entitlement_of(case_id))["entitlement_id"]
        started = await payments.supervisor.post("/v1/payment-runs", json={"period": PERIOD})
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        failed = await _until_run(payments.supervisor, run_id, "failed")
        assert "FileExistsError" in failed["error"] or "NotADirectoryError" in failed["error"]
        (issued,) = (await payments.entitlement(entitlement_id))["instructions"]
        assert issued["run_id"] == run_id  # paid, but in no bank file yet
        assert failed["instructions"] >= 1  # what it issued, shown while it is not done
        assert Decimal(failed["total_amount"]) >= Decimal(issued["amount"])

        bank_dir.unlink()
        again = await payments.supervisor.post("/v1/payment-runs", json={"period": PERIOD})
        assert again.status_code == 202, again.text
        assert (again.json()["id"], again.json()["status"]) == (run_id, "running")
        done = await payments.finished(run_id)
        assert done["error"] is None
        assert done["entitlements_paid"] >= 1
        bank_file = (bank_dir / done["bank_file"]).read_text()
        assert bank_file.count("<CdtTrfTxInf>") == done["instructions"]
        assert f"<EndToEndId>{issued['instruction_id']}</EndToEndId>" in bank_file
        (still,) = (await payments.entitlement(entitlement_id))["instructions"]
        assert still["instruction_id"] == issued["instruction_id"]  # nothing issued twice


async def test_an_approval_that_arrives_after_the_death_grants_an_ended_entitlement(
    clerk: httpx.AsyncClient, settings: ChassisSettings, database: Database, tmp_path: Path
) -> None:
    async with payments_service(settings, tmp_path) as payments:
        # An approval as eligibility published it, told again for another case of a
        # person whose death payments heard of first (the two come on different topics).
        template = await approved_pension(clerk, settings)
        (decided,) = await eligibility_event(settings, template, "EligibilityDecided")
        national_id = f"7{uuid.uuid4().hex[:6].upper()}"
        case_id = str(uuid.uuid4())
        died = agency_today().replace(day=1)
        await publish_json(settings, REGISTRY_EVENTS, _death(national_id, died.isoformat()))
        async with asyncio.timeout(30):
            while not await database.pool.fetchval(
                f"SELECT count(*) FROM {payments.schema}.deaths WHERE national_id = $1",
                national_id,
            ):
                await asyncio.sleep(0.1)
        late = {
            **decided,
            "id": str(uuid.uuid4()),
            "subject": case_id,
            "data": {
                **decided["data"],
                "case_id": case_id,
                "payee": {**decided["data"]["payee"], "national_id": national_id},
            },
        }
        await publish_json(settings, ELIGIBILITY_EVENTS, late, key=case_id)

        entitlement = await payments.entitlement_of(case_id)
        assert entitlement["status"] == "terminated"
        assert entitlement["ends_on"] == Month.of(died).last_day.isoformat()
        run = await payments.run(str(Month.of(died).plus(1)))
        assert run["status"] == "completed"
        assert (await payments.entitlement(entitlement["entitlement_id"]))["instructions"] == []


async def _until_run(client: httpx.AsyncClient, run_id: str, status: str) -> dict[str, Any]:
    async with asyncio.timeout(60):
        while True:
            run: dict[str, Any] = (await client.get(f"/v1/payment-runs/{run_id}")).json()
            if run["status"] == status:
                return run
            await asyncio.sleep(0.2)


def _death(national_id: str, date_of_death: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "urn:gov:civil-registry",
        "type": "dost.registry.PersonDied.v1",
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": {"national_id": national_id, "date_of_death": date_of_death},
    }
