"""A payment run over many entitlements keeps its transactions short: staff (and the bank's
reports) change an entitlement while the run goes on, without waiting for it to end, and
the run pays what the entitlement says when it reaches it."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import etree

from bench.payment_run import PERIOD, seed
from chassis import jobs
from chassis.database import Database, migrate
from chassis.jobs import JobKind, JobRunner
from chassis.unit_of_work import unit_of_work
from contracts.periods import Month
from services.payments.app import MIGRATIONS
from services.payments.domain.errors import PeriodNotAllowed, RunRefused
from services.payments.handlers.entitlements import change_bank_account
from services.payments.handlers.payment_run import KIND, LANE_KIND, PaymentRun, start_run
from services.payments.iso20022.pain001 import Debtor
from services.payments.iso20022.xsd import PAIN_001
from services.payments.iso20022.xsd import schema as schema_of

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


async def test_a_failed_run_is_not_resumed_while_another_months_run_goes_on(
    database: Database,
) -> None:
    schema = f"payments_{uuid.uuid4().hex[:8]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
        december, january = Month(2026, 12), Month(2027, 1)
        latest = Month(2027, 2)
        async with connection.transaction():
            first, started = await start_run(
                connection, schema, december, requested_by="sup-1", latest=latest
            )
        assert started == "started"
        await connection.execute(
            f"UPDATE {schema}.jobs SET status = 'failed', error = 'database away' WHERE name = $1",
            first.name,
        )
        async with connection.transaction():
            second, started = await start_run(
                connection, schema, january, requested_by="sup-1", latest=latest
            )
        assert started == "started"
        with pytest.raises(RunRefused, match=f"{second.name} is still going"):
            async with connection.transaction():
                await start_run(connection, schema, december, requested_by="sup-1", latest=latest)
        assert (await jobs.status(connection, schema, first.name)).status == "failed"  # type: ignore[union-attr]

        await connection.execute(
            f"UPDATE {schema}.jobs SET status = 'completed' WHERE name = $1", second.name
        )
        async with connection.transaction():
            again, what = await start_run(
                connection, schema, december, requested_by="sup-1", latest=latest
            )
        assert (again.name, again.status, what) == (first.name, "running", "resumed")
        with pytest.raises(PeriodNotAllowed):
            await start_run(connection, schema, Month(2027, 3), requested_by="sup-1", latest=latest)


async def test_a_bank_file_that_is_not_the_one_begun_is_written_again(
    database: Database, tmp_path: Path
) -> None:
    schema = f"payments_{uuid.uuid4().hex[:8]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    await seed(database, schema, 1000)
    payment_run = PaymentRun(
        bank_dir=tmp_path, debtor=Debtor("DOST", SEEDED_IBAN, None), chunk=500, file_chunk=100
    )
    kinds: dict[str, JobKind] = {KIND: payment_run, LANE_KIND: payment_run.lane}
    async with database.pool.acquire() as connection:
        run, _ = await jobs.submit(
            connection, schema, name="run", kind=KIND, params={"period": PERIOD}
        )
    stop = asyncio.Event()
    first = asyncio.create_task(JobRunner(database, schema, kinds).run_job(run.name, stop))
    async with asyncio.timeout(60):  # some transfers written
        while not (await _checkpoint(database, schema, run.name)).get("after_instruction"):
            await asyncio.sleep(0.01)
    stop.set()
    await first
    partial = payment_run.file_path(Month.parse(PERIOD), run.name).with_suffix(".xml.partial")
    partial.write_bytes(b"<?xml version='1.0'?><Document>another host's copy</Document>")

    await JobRunner(database, schema, kinds).run_job(run.name)
    finished = await jobs.status(database.pool, schema, run.name)
    assert finished is not None
    assert finished.status == "completed", finished
    assert finished.result is not None
    written = (tmp_path / str(finished.result["bank_file"])).read_bytes()
    assert written.count(b"<CdtTrfTxInf>") == 1000
    schema_of(PAIN_001).assertValid(etree.fromstring(written))


async def _checkpoint(database: Database, schema: str, name: str) -> dict[str, object]:
    found = await database.pool.fetchval(
        f"SELECT checkpoint FROM {schema}.jobs WHERE name = $1", name
    )
    return dict(found or {})
