"""A payments service of the test's own (its own schema, its own bank folder), driven
through its HTTP API as supervisors and clerks do, and the bank played from outside."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from chassis.auth import Role
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from services.payments.app import create_app
from services.payments.settings import PaymentsSettings
from tests.integration.applications import application, bearer
from tests.integration.lifecycle.helpers import eligibility_event, person, submit
from tests.running_service import serving

BANK_SETTLEMENTS = "dost.bank.settlements.v1"


@dataclass
class Payments:
    url: str
    schema: str
    bank_dir: Path
    supervisor: httpx.AsyncClient
    clerk: httpx.AsyncClient

    async def entitlement_of(self, case_id: str, timeout: float = 60) -> dict[str, Any]:
        """The case's entitlement, once payments has granted it."""
        async with asyncio.timeout(timeout):
            while True:
                found = (
                    await self.clerk.get("/v1/entitlements", params={"case_id": case_id})
                ).json()
                if found:
                    entitlement: dict[str, Any] = found[0]
                    return entitlement
                await asyncio.sleep(0.2)

    async def entitlement(self, entitlement_id: str) -> dict[str, Any]:
        answer = await self.clerk.get(f"/v1/entitlements/{entitlement_id}")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def run(self, period: str, timeout: float = 120) -> dict[str, Any]:
        """Start the run of `period` and wait for it to complete."""
        started = await self.supervisor.post("/v1/payment-runs", json={"period": period})
        assert started.status_code == 202, started.text
        return await self.finished(started.json()["id"], timeout)

    async def finished(self, run_id: str, timeout: float = 120) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                run: dict[str, Any] = (
                    await self.supervisor.get(f"/v1/payment-runs/{run_id}")
                ).json()
                if run["status"] in ("completed", "failed"):
                    assert run["status"] == "completed", run
                    return run
                await asyncio.sleep(0.2)

    async def until_instruction(
        self, entitlement_id: str, instruction_id: str, status: str, timeout: float = 30
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                for instruction in (await self.entitlement(entitlement_id))["instructions"]:
                    if (
                        instruction["instruction_id"] == instruction_id
                        and instruction["status"] == status
                    ):
                        return instruction  # type: ignore[no-any-return]
                await asyncio.sleep(0.2)

    async def until_status(
        self, entitlement_id: str, status: str, timeout: float = 30
    ) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while (found := await self.entitlement(entitlement_id))["status"] != status:
                await asyncio.sleep(0.2)
        return found


@contextlib.asynccontextmanager
async def payments_service(
    settings: ChassisSettings, tmp_path: Path, *, run_chunk: int = 50, bank_dir: Path | None = None
) -> AsyncIterator[Payments]:
    """Runs may pay up to 12 months ahead, so that a test can pay month after month."""
    schema = f"payments_{uuid.uuid4().hex[:8]}"
    bank_dir = bank_dir or tmp_path / "bank"
    app = create_app(
        PaymentsSettings(
            **settings.model_dump(by_alias=True),
            schema_name=schema,
            bank_dir=bank_dir,
            run_chunk=run_chunk,
            run_months_ahead=12,
        )
    )
    async with (
        serving(app) as url,
        httpx.AsyncClient(
            base_url=url, headers=bearer(settings, Role.SUPERVISOR, subject="sup-1"), timeout=10
        ) as supervisor,
        httpx.AsyncClient(
            base_url=url, headers=bearer(settings, Role.CLERK, subject="clerk-9"), timeout=10
        ) as clerk,
    ):
        yield Payments(url, schema, bank_dir, supervisor, clerk)


async def bank_reports(settings: ChassisSettings, *events: dict[str, Any]) -> None:
    """Publish the bank's reports as its own system would (plain JSON CloudEvents)."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
    await producer.start()
    try:
        for event in events:
            await producer.send_and_wait(
                BANK_SETTLEMENTS,
                json.dumps(event).encode(),
                key=event["data"]["instruction_id"].encode(),
            )
    finally:
        await producer.stop()


def settled(instruction_id: str, event_id: str | None = None) -> dict[str, Any]:
    return _bank_event(
        "dost.bank.PaymentSettled.v1",
        {"instruction_id": instruction_id, "settled_at": datetime.now(UTC).isoformat()},
        event_id,
    )


def returned(instruction_id: str, reason: str = "AC04 account closed") -> dict[str, Any]:
    return _bank_event(
        "dost.bank.PaymentReturned.v1", {"instruction_id": instruction_id, "reason": reason}, None
    )


def _bank_event(type_name: str, data: dict[str, Any], event_id: str | None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": "urn:bank:treasury",
        "type": type_name,
        "time": datetime.now(UTC).isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }


async def approved_pension(clerk: httpx.AsyncClient, settings: ChassisSettings) -> str:
    """A new old-age pension case, once eligibility approved it."""
    case_id = await submit(clerk, person(application()))
    (decided,) = await eligibility_event(settings, case_id, "EligibilityDecided")
    assert decided["data"]["outcome"] == "approved"
    return case_id


async def referred_disability(clerk: httpx.AsyncClient, settings: ChassisSettings) -> str:
    """A new disability benefit case, once eligibility referred it to a caseworker."""
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    body = application(
        benefit="disability_benefit",
        facts={"disability_group": 2, "assessment_date": assessed},
    )
    case_id = await submit(clerk, person(body))
    await eligibility_event(settings, case_id, "ReferredForReview")
    return case_id
