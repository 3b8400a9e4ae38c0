"""A monthly payment run over many active entitlements: wall time, instructions per second
and peak memory of every process involved (the payments processes and PostgreSQL's).

    .venv/bin/python -m bench.payment_run [--entitlements 1000000] [--chunk 2000]
                                          [--lanes 2] [--replicas 2]

Seeds the entitlements with COPY and analyses them (not measured), then runs the
`payment-run` job to the end (issuing one instruction per entitlement and writing the
pain.001 file) and reports. The run goes as in the deployment: `--replicas` payments
processes, each with its job runner; whichever leads the run leads a lane, the others take
the other lanes. Memory is the peak of the summed proportional set size (PSS: shared pages
such as PostgreSQL's buffers counted once) of those processes and every PostgreSQL
process, sampled four times a second. Uses DATABASE_URL if set, else starts an embedded
PostgreSQL for the run, configured as a database server for this work would be
(SERVER_SETTINGS). Goal on the 2-core machine: 1,000,000 entitlements in <= 60 s and
<= 1 GiB. Figures: bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from chassis import bulk, jobs
from chassis.database import Database, migrate
from chassis.event_types import event_types
from chassis.jobs import JobRunner
from deploy.local.postgres import LocalPostgres
from deploy.local.processes import free_port
from services.payments.app import MIGRATIONS
from services.payments.domain.entitlement import MONTHLY, Entitlement, ScheduledAmount
from services.payments.handlers.payment_run import KIND, LANE_KIND, PaymentRun, run_id_of
from services.payments.iso20022.pain001 import Debtor

SCHEDULE = (
    ScheduledAmount(date(2026, 1, 1), Decimal("316.00"), "2026"),
    ScheduledAmount(date(2027, 1, 1), Decimal("330.00"), "2027"),
)
PERIOD = "2026-12"
DEBTOR = Debtor("DOST", "AZ05NABZ00000000137010000001", "NABZAZ2X")
# The embedded server's settings for the run: buffers for the working set of a run, and
# checkpoints spaced out (the defaults are for a laptop: 128 MB, 1 GB of WAL).
SERVER_SETTINGS = {"shared_buffers": "512MB", "max_wal_size": "8GB"}


@dataclass(frozen=True)
class Figures:
    entitlements: int
    instructions: int
    seconds: float
    runner_peak_mib: float
    peak_pss_mib: float
    file_mib: float

    @property
    def per_second(self) -> float:
        return self.instructions / self.seconds


async def seed(database: Database, schema: str, count: int) -> None:
    """`count` active pensions from 2026-11, written with COPY: their stream's first event
    and their row, exactly as granting them would write them."""
    template = Entitlement.grant(
        case_id="template",
        national_id="5ZK7PQM",
        payee_name="Aysel Məmmədova",
        benefit="old_age_pension",
        payment=MONTHLY,
        start_date=date(2026, 11, 1),
        end_date=None,
        schedule=SCHEDULE,
        lump_sum=None,
        iban="AZ21NABZ00000000137010001944",
        at=datetime.now(UTC),
    )
    granted = event_types.to_new_event(template.pending[0])
    data = json.dumps(granted.data)
    schedule = [
        {
            "effective_from": s.effective_from.isoformat(),
            "amount": str(s.amount),
            "policy_version": s.policy_version,
        }
        for s in SCHEDULE
    ]
    for first in range(0, count, 50_000):
        ids = [str(uuid.uuid4()) for _ in range(min(50_000, count - first))]
        async with database.pool.acquire() as connection, connection.transaction():
            await bulk.copy_into(
                connection,
                f"{schema}.events",
                [
                    "stream_id",
                    "version",
                    "event_id",
                    "event_type",
                    "schema_version",
                    "data",
                    "metadata",
                ],
                (
                    (
                        f"entitlement-{case_id}",
                        1,
                        uuid.uuid4(),
                        granted.event_type,
                        1,
                        json.loads(data.replace("template", case_id)),
                        {},
                    )
                    for case_id in ids
                ),
            )
            await bulk.copy_into(
                connection,
                f"{schema}.entitlements",
                [
                    "entitlement_id",
                    "case_id",
                    "national_id",
                    "payee_name",
                    "benefit",
                    "payment",
                    "status",
                    "start_date",
                    "schedule",
                    "iban",
                    "covered",
                    "issued",
                    "returns",
                    "version",
                    "updated_at",
                ],
                (
                    (
                        case_id,
                        case_id,
                        "5ZK7PQM",
                        "Aysel Məmmədova",
                        "old_age_pension",
                        MONTHLY,
                        "active",
                        date(2026, 11, 1),
                        schedule,
                        "AZ21NABZ00000000137010001944",
                        [],
                        0,
                        0,
                        1,
                        datetime.now(UTC),
                    )
                    for case_id in ids
                ),
            )


async def measure(
    dsn: str,
    count: int,
    chunk: int,
    bank_dir: Path,
    postgres_pids: list[int],
    lanes: int = 2,
    replicas: int = 2,
) -> Figures:
    """Seed `count` entitlements, run the payment run with `replicas` payments processes
    (this one and the others started as replicas' job runners would be: any may lead),
    and measure it."""
    database = Database(dsn, min_size=2, max_size=4 + lanes)
    await database.open()
    schema = f"bench_pay_{uuid.uuid4().hex[:8]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    await seed(database, schema, count)
    async with database.pool.acquire() as connection:
        await connection.execute(f"VACUUM ANALYZE {schema}.entitlements")
        await connection.execute(f"VACUUM ANALYZE {schema}.events")
    others = [
        await _start_replica(dsn, schema, chunk, bank_dir, lanes) for _ in range(replicas - 1)
    ]
    runner_pids = [os.getpid(), *(process.pid for process in others)]
    sampler = MemorySampler(runner_pids, postgres_pids)
    run = PaymentRun(bank_dir=bank_dir, debtor=DEBTOR, chunk=chunk, lanes=lanes)
    runner = JobRunner(
        database, schema, {KIND: run, LANE_KIND: run.lane}, lease_seconds=60, poll_interval=0.2
    )
    sampler.start()
    started = time.perf_counter()
    try:
        async with database.pool.acquire() as connection:
            await jobs.submit(
                connection, schema, name=run_id_of_period(), kind=KIND, params={"period": PERIOD}
            )
        stop = asyncio.Event()
        running = asyncio.create_task(runner.run(stop))  # whichever replica leads it
        async with asyncio.timeout(3600):
            while True:
                job = await jobs.status(database.pool, schema, run_id_of_period())
                if job is not None and job.status in (jobs.COMPLETED, jobs.FAILED):
                    break
                await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
        stop.set()
        await running
    finally:
        sampler.stop()
        runners_peak = sum(_peak_rss_mib(pid) for pid in runner_pids)
        for process in others:
            process.terminate()
            await process.wait()
    job = await jobs.status(database.pool, schema, run_id_of_period())
    async with database.pool.acquire() as connection:
        await connection.execute(f"DROP SCHEMA {schema} CASCADE")
    await database.close()
    assert job is not None
    assert job.status == "completed", job
    assert job.result is not None
    bank_file = bank_dir / str(job.result["bank_file"])
    return Figures(
        entitlements=count,
        instructions=int(job.result["instructions"]),
        seconds=seconds,
        runner_peak_mib=runners_peak,
        peak_pss_mib=sampler.peak_mib,
        file_mib=bank_file.stat().st_size / 2**20,
    )


async def _start_replica(
    dsn: str, schema: str, chunk: int, bank_dir: Path, lanes: int
) -> asyncio.subprocess.Process:
    """Another payments process's job runner, ready when it says so."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.payment_run",
        "--replica-of",
        schema,
        "--chunk",
        str(chunk),
        "--bank-dir",
        str(bank_dir),
        "--lanes",
        str(lanes),
        env={**os.environ, "DATABASE_URL": dsn},
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    async with asyncio.timeout(60):
        assert await process.stdout.readline() == b"ready\n"
    return process


async def serve_as_replica(dsn: str, schema: str, chunk: int, bank_dir: Path, lanes: int) -> None:
    """Run payment runs' jobs in `schema` until SIGTERM, as a payments replica does."""
    database = Database(dsn, min_size=1, max_size=4)
    await database.open()
    run = PaymentRun(bank_dir=bank_dir, debtor=DEBTOR, chunk=chunk, lanes=lanes)
    runner = JobRunner(
        database, schema, {KIND: run, LANE_KIND: run.lane}, lease_seconds=60, poll_interval=0.2
    )
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    try:
        await runner.run(stop)
    finally:
        await database.close()


def _peak_rss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def run_id_of_period() -> str:
    from contracts.periods import Month

    return run_id_of(Month.parse(PERIOD))


class MemorySampler:
    """The peak, over the run, of the summed PSS of some processes and their children."""

    def __init__(self, pids: list[int], roots: list[int], interval: float = 0.25) -> None:
        self.pids, self.roots, self.interval = pids, roots, interval
        self.peak_mib = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            pids = self.pids + _with_children(self.roots)
            self.peak_mib = max(self.peak_mib, sum(_pss_mib(pid) for pid in pids))
            self._stop.wait(self.interval)


def _with_children(roots: list[int]) -> list[int]:
    """Each process and the ones it forked (a PostgreSQL server and its backends)."""
    found: list[int] = []
    for root in roots:
        found.append(root)
        children = Path(f"/proc/{root}/task/{root}/children")
        with contextlib.suppress(OSError):
            found += [int(pid) for pid in children.read_text().split()]
    return found


def _pss_mib(pid: int) -> float:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(argv: list[str] | None = None) -> Figures | None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entitlements", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--lanes", type=int, default=2, help="id ranges paid side by side")
    parser.add_argument("--replicas", type=int, default=2, help="payments processes")
    parser.add_argument("--replica-of", help=argparse.SUPPRESS)  # a replica's runner
    parser.add_argument("--bank-dir", help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    server = None
    dsn = os.environ.get("DATABASE_URL")
    if arguments.replica_of:
        assert dsn is not None
        asyncio.run(
            serve_as_replica(
                dsn,
                arguments.replica_of,
                arguments.chunk,
                Path(arguments.bank_dir),
                arguments.lanes,
            )
        )
        return None
    workspace = Path(tempfile.mkdtemp(prefix="dost-bench-"))
    if not dsn:
        server = LocalPostgres(workspace / "data", port=free_port(), settings=SERVER_SETTINGS)
        dsn = server.start(fresh=True)
    try:
        pids = [server.process.pid] if server is not None and server.process is not None else []
        figures = asyncio.run(
            measure(
                dsn,
                arguments.entitlements,
                arguments.chunk,
                workspace / "bank",
                pids,
                arguments.lanes,
                arguments.replicas,
            )
        )
    finally:
        if server is not None:
            server.stop()
    print(f"entitlements      {figures.entitlements:>12,}")
    print(f"instructions      {figures.instructions:>12,}")
    print(f"wall time         {figures.seconds:>12.1f} s")
    print(f"instructions/s    {figures.per_second:>12,.0f}")
    print(f"peak RSS runners  {figures.runner_peak_mib:>12,.0f} MiB (each process's peak, summed)")
    print(f"peak memory       {figures.peak_pss_mib:>12,.0f} MiB (PSS: runners and PostgreSQL)")
    print(f"pain.001 file     {figures.file_mib:>12,.0f} MiB")
    return figures


if __name__ == "__main__":
    main()
