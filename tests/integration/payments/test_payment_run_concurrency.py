"""A payment run over many entitlements keeps its transactions short: staff (and the bank's
reports) change an entitlement while the run goes on, without waiting for it to end, and
the run pays what the entitlement says when it reaches it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bench.payment_run import PERIOD, seed
from chassis import jobs
from chassis.database import Database, migrate
from chassis.jobs import JobRunner
from chassis.unit_of_work import unit_of_work
from services.payments.app import MIGRATIONS
from services.payments.handlers.entitlements import change_bank_account
from services.payments.handlers.payment_run import KIND, LANE_KIND, PaymentRun
from services.payments.iso20022.pain001 import Debtor

pytestmark = pytest.mark.integration
ENTITLEMENTS = 12_000
SEEDED_IBAN, NEW_IBAN = "AZ21NABZ00000000137010001944", "AZ77IBAZ38090019440123456789"


async def test_bank_details_change_while_a_run_goes_on_and_the_run_pays_the_new_account(
    database: Database, tmp_path: Path
) -> None:
    schema = f"payments_{uuid.uuid4().hex[:8]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    await seed(database, schema, ENTITLEMENTS)
    ids = [
        row["entitlement_id"]
        for row in await database.pool.fetch(
            f"SELECT entitlement_id FROM {schema}.entitlements ORDER BY entitlement_id"
        )
    ]
    payment_run = PaymentRun(
        bank_dir=tmp_path, debtor=Debtor("DOST", SEEDED_IBAN, None), chunk=500, lanes=2
    )
    runner = JobRunner(database, schema, {KIND: payment_run, LANE_KIND: payment_run.lane})
    async with database.pool.acquire() as connection:
        run, _ = await jobs.submit(
            connection, schema, name="run", kind=KIND, params={"period": PERIOD}
        )
    running = asyncio.create_task(runner.run_job(run.name))
    try:
        async with asyncio.timeout(60):
            while not (status := await jobs.status(database.pool, schema, run.name)) or (
                status.done == 0
            ):
                await asyncio.sleep(0.01)

        for entitlement_id in (ids[0], ids[-1]):  # one paid already, one not reached yet
            async with unit_of_work(database, schema) as work:
                await change_bank_account(
                    work, entitlement_id, NEW_IBAN, changed_by="clerk-1", now=datetime.now(UTC)
                )

        during = await jobs.status(database.pool, schema, run.name)
        assert during is not None
        assert during.status == "running", during
        assert during.done < ENTITLEMENTS, during
        async with asyncio.timeout(120):
            await running
    finally:
        running.cancel()

    finished = await jobs.status(database.pool, schema, run.name)
    assert finished is not None
    assert finished.status == "completed", finished
    paid_to: dict[str, str] = dict(
        await database.pool.fetch(  # type: ignore[arg-type]
            f"SELECT entitlement_id, iban FROM {schema}.payment_instructions"
            " WHERE entitlement_id = ANY($1::text[])",
            [ids[0], ids[-1]],
        )
    )
    assert paid_to == {ids[0]: SEEDED_IBAN, ids[-1]: NEW_IBAN}
    count = await database.pool.fetchval(f"SELECT count(*) FROM {schema}.payment_instructions")
    assert count == ENTITLEMENTS
