"""A payment run killed halfway (SIGKILL), killed while writing its bank file, and a run
with two payments replicas at once: each entitlement is paid exactly once, and the bank
file holds each instruction exactly once."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from lxml import etree

from chassis import jobs
from chassis.auth import Role
from chassis.database import Database
from chassis.settings import ChassisSettings
from deploy.local.processes import free_port
from services.payments.iso20022.xsd import PAIN_001, schema
from tests.integration.applications import bearer
from tests.integration.payments.seeding import payments_schema, seed_entitlements

pytestmark = pytest.mark.integration
ENTITLEMENTS = 600
PERIOD = "2026-12"
RUN_ID = f"payment-run-{PERIOD}"


class Replicas:
    """Payments services of one schema, each a process of its own."""

    def __init__(self, settings: ChassisSettings, schema_name: str, bank_dir: Path) -> None:
        self.settings = settings
        self.schema = schema_name
        self.bank_dir = bank_dir
        self.processes: list[tuple[subprocess.Popen[bytes], str]] = []
        self.environment: dict[str, str] = {}  # more settings for the next ones started

    def start(self) -> str:
        port = free_port()
        env = {
            **os.environ,
            "DATABASE_URL": self.settings.database_url,
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.kafka_bootstrap_servers,
            "KAFKA_ENABLE_IDEMPOTENCE": str(self.settings.kafka_enable_idempotence).lower(),
            "DOST_STATE_DIR": str(self.settings.state_dir),
            "PAYMENTS_SCHEMA_NAME": self.schema,
            "PAYMENTS_PORT": str(port),
            "PAYMENTS_RUN_CHUNK": "20",
            "PAYMENTS_BANK_DIR": str(self.bank_dir),
            "KAFKA_SESSION_TIMEOUT_MS": "2000",
            "KAFKA_HEARTBEAT_INTERVAL_MS": "500",
            "JOB_LEASE_SECONDS": "5",
            **self.environment,
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "services.payments"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://127.0.0.1:{port}"
        self.processes.append((process, url))
        return url

    def stop_all(self) -> None:
        for process, _ in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


@pytest.fixture
def bank_dir(tmp_path: Path) -> Path:
    return tmp_path / "bank"


@pytest.fixture
async def seeded(database: Database) -> tuple[str, list[str]]:
    schema_name = await payments_schema(database)
    return schema_name, await seed_entitlements(database, schema_name, ENTITLEMENTS)


@pytest.fixture
def replicas(
    settings: ChassisSettings, seeded: tuple[str, list[str]], bank_dir: Path
) -> Iterator[Replicas]:
    started = Replicas(settings, seeded[0], bank_dir)
    yield started
    started.stop_all()


async def healthy(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=2) as client, asyncio.timeout(90):
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.2)


async def start_run(settings: ChassisSettings, url: str) -> None:
    async with httpx.AsyncClient(
        base_url=url, headers=bearer(settings, Role.SUPERVISOR, subject="sup-1"), timeout=10
    ) as supervisor:
        started = await supervisor.post("/v1/payment-runs", json={"period": PERIOD})
        assert started.status_code == 202, started.text


async def run_state(database: Database, schema_name: str) -> jobs.JobStatus:
    job = await jobs.status(database.pool, schema_name, RUN_ID)
    assert job is not None
    return job


async def until(database: Database, schema_name: str, *, done: int = 0, status: str = "") -> None:
    async with asyncio.timeout(180):
        while True:
            job = await jobs.status(database.pool, schema_name, RUN_ID)
            if job is not None and job.done >= done and (not status or job.status == status):
                assert job.status != "failed", job.error
                return
            await asyncio.sleep(0.05)


async def paid_exactly_once(
    database: Database, schema_name: str, case_ids: list[str], bank_dir: Path
) -> None:
    rows = await database.pool.fetch(
        f"SELECT entitlement_id, count(*) AS n FROM {schema_name}.payment_instructions"
        " WHERE period = $1 GROUP BY entitlement_id",
        PERIOD,
    )
    counts = {row["entitlement_id"]: row["n"] for row in rows}
    assert set(case_ids) <= set(counts)
    assert {counts[case_id] for case_id in case_ids} == {1}
    assert set(counts.values()) == {1}
    events = await database.pool.fetchval(
        f"SELECT count(*) FROM {schema_name}.events"
        " WHERE event_type = 'payments.PaymentInstructionIssued'"
    )
    assert events == len(counts)
    document = etree.parse(str(bank_dir / f"pain001-{PERIOD}.xml"))
    schema(PAIN_001).assertValid(document)
    namespaces = {"p": document.getroot().nsmap[None]}
    in_file = [element.text or "" for element in document.findall(".//p:EndToEndId", namespaces)]
    stored = await database.pool.fetch(
        f"SELECT instruction_id FROM {schema_name}.payment_instructions WHERE period = $1",
        PERIOD,
    )
    assert sorted(in_file) == sorted(row["instruction_id"] for row in stored)
    assert document.findtext(".//p:GrpHdr/p:NbOfTxs", namespaces=namespaces) == str(len(in_file))


async def test_a_run_killed_halfway_is_finished_after_a_restart_paying_each_once(
    database: Database,
    settings: ChassisSettings,
    seeded: tuple[str, list[str]],
    replicas: Replicas,
    bank_dir: Path,
) -> None:
    schema_name, case_ids = seeded
    url = replicas.start()
    await healthy(url)
    await start_run(settings, url)
    await until(database, schema_name, done=ENTITLEMENTS // 3)
    killed, _ = replicas.processes[0]
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    halfway = await run_state(database, schema_name)
    assert halfway.status == "running"
    assert 0 < halfway.done < (halfway.total or 0)

    await healthy(replicas.start())
    await until(database, schema_name, status="completed")
    await paid_exactly_once(database, schema_name, case_ids, bank_dir)


def partial_files(bank_dir: Path) -> list[Path]:
    return list(bank_dir.glob("*.partial"))


async def test_a_run_killed_while_writing_its_bank_file_finishes_the_file_after_a_restart(
    database: Database,
    settings: ChassisSettings,
    seeded: tuple[str, list[str]],
    replicas: Replicas,
    bank_dir: Path,
) -> None:
    schema_name, case_ids = seeded
    replicas.environment["PAYMENTS_RUN_FILE_CHUNK"] = "7"  # many small steps to be killed in
    url = replicas.start()
    await healthy(url)
    await start_run(settings, url)
    async with asyncio.timeout(180):
        while True:  # some transfers are in the file, not all
            checkpoint = await database.pool.fetchval(
                f"SELECT checkpoint FROM {schema_name}.jobs WHERE name = $1", RUN_ID
            )
            if checkpoint and checkpoint.get("after_instruction"):
                break
            await asyncio.sleep(0.01)
    killed, _ = replicas.processes[0]
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    halfway = await run_state(database, schema_name)
    assert halfway.status == "running"
    assert partial_files(bank_dir)
    assert not (bank_dir / f"pain001-{PERIOD}.xml").exists()

    await healthy(replicas.start())
    await until(database, schema_name, status="completed")
    await paid_exactly_once(database, schema_name, case_ids, bank_dir)
    assert not partial_files(bank_dir)


async def test_two_replicas_run_one_payment_run_and_pay_each_entitlement_once(
    database: Database,
    settings: ChassisSettings,
    seeded: tuple[str, list[str]],
    replicas: Replicas,
    bank_dir: Path,
) -> None:
    schema_name, case_ids = seeded
    first, second = replicas.start(), replicas.start()
    await asyncio.gather(healthy(first), healthy(second))
    await asyncio.gather(start_run(settings, first), start_run(settings, second))
    await until(database, schema_name, status="completed")
    await paid_exactly_once(database, schema_name, case_ids, bank_dir)
    run = await run_state(database, schema_name)
    assert run.done == run.total
