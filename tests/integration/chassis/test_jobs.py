"""Resumable jobs against a real PostgreSQL: one leader, checkpoints that commit with their
chunk, and a restart after a kill or a freeze that redoes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator

import pytest

from chassis import jobs
from chassis.database import Database
from chassis.jobs import JobRunner
from chassis.leases import Lease
from chassis.settings import ChassisSettings
from tests.job_worker import Counting, Split

pytestmark = pytest.mark.integration


@pytest.fixture
async def items_table(database: Database, schema: str) -> str:
    await database.pool.execute(f"CREATE TABLE {schema}.job_items (item integer PRIMARY KEY)")
    return f"{schema}.job_items"


async def _items(database: Database, table: str) -> list[int]:
    return [row["item"] for row in await database.pool.fetch(f"SELECT item FROM {table}")]


async def _job(database: Database, schema: str, name: str) -> jobs.JobStatus:
    found = await jobs.status(database.pool, schema, name)
    assert found is not None
    return found


@contextlib.asynccontextmanager
async def running(runner: JobRunner) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def _until(
    database: Database, schema: str, name: str, *, done_at_least: int = 0, status: str | None = None
) -> jobs.JobStatus:
    async with asyncio.timeout(60):
        while True:
            job = await _job(database, schema, name)
            if job.done >= done_at_least and (status is None or job.status == status):
                return job
            await asyncio.sleep(0.05)


async def test_submitting_twice_gives_one_job_that_runs_to_completion(
    database: Database, schema: str, items_table: str
) -> None:
    first, created = await jobs.submit(
        database.pool, schema, name="count:1", kind="count", params={"items": 50, "chunk": 7}
    )
    again, created_again = await jobs.submit(
        database.pool, schema, name="count:1", kind="count", params={"items": 999, "chunk": 1}
    )
    assert (created, created_again) == (True, False)
    assert (first.status, again.params) == ("pending", {"items": 50, "chunk": 7})
    async with running(JobRunner(database, schema, {"count": Counting()}, poll_interval=0.05)):
        done = await _until(database, schema, "count:1", status="completed")
    assert (done.done, done.total, done.result, done.error) == (50, 50, {"items": 50}, None)
    assert done.finished_at is not None
    assert sorted(await _items(database, items_table)) == list(range(50))


async def test_two_runners_never_do_a_chunk_twice(
    database: Database, schema: str, items_table: str
) -> None:
    await jobs.submit(
        database.pool, schema, name="count:2", kind="count", params={"items": 400, "chunk": 5}
    )
    kinds = {"count": Counting(pause=0.005)}
    async with (
        running(JobRunner(database, schema, kinds, poll_interval=0.01)),
        running(JobRunner(database, schema, kinds, poll_interval=0.01)),
    ):
        done = await _until(database, schema, "count:2", status="completed")
    assert (done.done, done.error) == (400, None)
    assert sorted(await _items(database, items_table)) == list(range(400))


class _Workers:
    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []

    def start(
        self, settings: ChassisSettings, schema: str, *arguments: str
    ) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.job_worker", "--schema", schema, *arguments],
            env={**os.environ, "DATABASE_URL": settings.database_url},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait(timeout=10)


@pytest.fixture
def workers() -> Iterator[_Workers]:
    started = _Workers()
    yield started
    started.stop_all()


async def test_a_runner_killed_mid_job_is_followed_by_one_that_redoes_nothing(
    database: Database, schema: str, items_table: str, settings: ChassisSettings, workers: _Workers
) -> None:
    await jobs.submit(
        database.pool, schema, name="count:3", kind="count", params={"items": 300, "chunk": 10}
    )
    killed = workers.start(settings, schema, "--pause", "0.05")
    await _until(database, schema, "count:3", done_at_least=50)
    killed.send_signal(signal.SIGKILL)
    killed.wait(timeout=10)
    left = await _job(database, schema, "count:3")
    assert 50 <= left.done < 300
    assert len(await _items(database, items_table)) == left.done  # chunk and checkpoint agree
    async with running(JobRunner(database, schema, {"count": Counting()}, poll_interval=0.05)):
        done = await _until(database, schema, "count:3", status="completed")
    assert (done.done, done.error) == (300, None)
    assert sorted(await _items(database, items_table)) == list(range(300))


async def test_a_frozen_runner_loses_the_job_and_cannot_commit_when_it_wakes(
    database: Database, schema: str, items_table: str, settings: ChassisSettings, workers: _Workers
) -> None:
    await jobs.submit(
        database.pool, schema, name="count:4", kind="count", params={"items": 200, "chunk": 10}
    )
    frozen = workers.start(settings, schema, "--pause", "0.2", "--lease", "2")
    await _until(database, schema, "count:4", done_at_least=20)
    frozen.send_signal(signal.SIGSTOP)  # most likely in the middle of a chunk
    runner = JobRunner(database, schema, {"count": Counting()}, lease_seconds=2, poll_interval=0.1)
    async with running(runner):
        done = await _until(database, schema, "count:4", status="completed")
    # Woken, the frozen runner finishes what it was doing, then stops on SIGTERM: once it
    # has exited, whatever it tried has either committed or not.
    frozen.send_signal(signal.SIGCONT)
    frozen.send_signal(signal.SIGTERM)
    frozen.wait(timeout=30)
    assert (done.done, done.error) == (200, None)
    assert sorted(await _items(database, items_table)) == list(range(200))
    assert (await _job(database, schema, "count:4")).done == 200


async def test_a_chunk_that_keeps_failing_fails_the_job_and_resume_goes_on_from_its_checkpoint(
    database: Database, schema: str, items_table: str
) -> None:
    await jobs.submit(
        database.pool, schema, name="count:5", kind="count", params={"items": 30, "chunk": 10}
    )
    await database.pool.execute(f"INSERT INTO {items_table} (item) VALUES (15)")  # in the way
    runner = JobRunner(database, schema, {"count": Counting()}, poll_interval=0.05, max_attempts=2)
    async with running(runner):
        failed = await _until(database, schema, "count:5", status="failed")
    assert failed.done == 10
    assert failed.error is not None
    assert "UniqueViolation" in failed.error
    await database.pool.execute(f"DELETE FROM {items_table} WHERE item = 15")
    assert await jobs.resume(database.pool, schema, "count:5")
    async with running(runner):
        done = await _until(database, schema, "count:5", status="completed")
    assert done.done == 30
    assert sorted(await _items(database, items_table)) == list(range(30))


async def test_a_job_split_in_parts_has_them_led_by_two_runners_and_ends_after_them(
    database: Database, schema: str, items_table: str
) -> None:
    await jobs.submit(
        database.pool,
        schema,
        name="split:1",
        kind="split",
        params={"items": 400, "parts": 2, "chunk": 5},
    )
    leader, helper = Counting(pause=0.01), Counting(pause=0.01)
    async with running(
        JobRunner(database, schema, {"split": Split(), "count": leader}, poll_interval=0.01)
    ):
        await _until(database, schema, "split:1", done_at_least=20)
        async with running(JobRunner(database, schema, {"count": helper}, poll_interval=0.01)):
            progress = [0]
            while (job := await _job(database, schema, "split:1")).status != "completed":
                assert progress[-1] <= job.done <= 400  # the parts' progress, summed
                progress.append(job.done)
                await asyncio.sleep(0.02)
            assert len(set(progress)) > 3

    parts = await jobs.parts(database.pool, schema, "split:1")
    assert [(part.name, part.status, part.done) for part in parts] == [
        ("split:1/part-0", "completed", 200),
        ("split:1/part-1", "completed", 200),
    ]
    assert (job.done, job.total, job.result) == (400, 400, {"parts": 2})
    # The leader of the job led one part at a time; the other runner took the other.
    assert leader.stepped
    assert helper.stepped
    assert leader.stepped.isdisjoint(helper.stepped)
    assert sorted(await _items(database, items_table)) == list(range(400))


async def test_one_runner_alone_leads_the_parts_one_after_the_other(
    database: Database, schema: str, items_table: str
) -> None:
    await jobs.submit(
        database.pool,
        schema,
        name="split:2",
        kind="split",
        params={"items": 90, "parts": 3, "chunk": 7},
    )
    counting = Counting()
    async with running(
        JobRunner(database, schema, {"split": Split(), "count": counting}, poll_interval=0.05)
    ):
        done = await _until(database, schema, "split:2", status="completed")
    assert (done.done, done.result) == (90, {"parts": 3})
    assert counting.stepped == {"split:2/part-0", "split:2/part-1", "split:2/part-2"}
    assert sorted(await _items(database, items_table)) == list(range(90))


async def test_a_failed_part_fails_the_job_and_resume_runs_both_on(
    database: Database, schema: str, items_table: str
) -> None:
    await jobs.submit(
        database.pool,
        schema,
        name="split:3",
        kind="split",
        params={"items": 60, "parts": 2, "chunk": 10},
    )
    await database.pool.execute(f"INSERT INTO {items_table} (item) VALUES (45)")  # in part 1
    runner = JobRunner(
        database,
        schema,
        {"split": Split(), "count": Counting()},
        poll_interval=0.05,
        max_attempts=2,
    )
    async with running(runner):
        failed = await _until(database, schema, "split:3", status="failed")
    assert failed.error == "split:3/part-1 failed"
    statuses = {
        part.name: part.status for part in await jobs.parts(database.pool, schema, "split:3")
    }
    assert statuses == {"split:3/part-0": "completed", "split:3/part-1": "failed"}

    await database.pool.execute(f"DELETE FROM {items_table} WHERE item = 45")
    assert await jobs.resume(database.pool, schema, "split:3")
    async with running(runner):
        done = await _until(database, schema, "split:3", status="completed")
    assert done.done == 60
    assert sorted(await _items(database, items_table)) == list(range(60))


async def test_a_finished_job_stays_finished_for_a_runner_that_comes_late(
    database: Database, schema: str, items_table: str
) -> None:
    # (A runner lists the open jobs, another one finishes a job, then the first gets the
    # lease: it must not open the job again and step it past its end.)
    await jobs.submit(
        database.pool, schema, name="count:6", kind="count", params={"items": 10, "chunk": 10}
    )
    await JobRunner(database, schema, {"count": Counting()}).run_job("count:6")
    finished = await _job(database, schema, "count:6")
    assert finished.status == "completed"

    late = Counting()
    await JobRunner(database, schema, {"count": late}).run_job("count:6")
    assert late.stepped == set()
    assert await _job(database, schema, "count:6") == finished


async def test_a_part_another_runner_holds_is_passed_over_for_the_next_one(
    database: Database, schema: str, items_table: str
) -> None:
    await jobs.submit(
        database.pool,
        schema,
        name="split:4",
        kind="split",
        params={"items": 90, "parts": 3, "chunk": 10},
    )
    async with database.pool.acquire() as elsewhere:  # another runner, leading part-0
        held = Lease(schema, "job:split:4/part-0", ttl_seconds=60)
        assert await held.acquire(elsewhere)
        counting = Counting()
        runner = JobRunner(
            database, schema, {"split": Split(), "count": counting}, poll_interval=0.05
        )
        async with running(runner):
            async with asyncio.timeout(30):
                while {
                    part.name
                    for part in await jobs.parts(database.pool, schema, "split:4")
                    if part.status == "completed"
                } != {"split:4/part-1", "split:4/part-2"}:
                    await asyncio.sleep(0.05)
            assert "split:4/part-0" not in counting.stepped
            await held.release(elsewhere)
            done = await _until(database, schema, "split:4", status="completed")
    assert done.done == 90
    assert sorted(await _items(database, items_table)) == list(range(90))
