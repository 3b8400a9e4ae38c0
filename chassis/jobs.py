"""Resumable jobs: named, long pieces of work (a payment run, a read-model rebuild) done in
chunks by one leader at a time, restartable after a kill without redoing a committed chunk.

A job is a row in `<schema>.jobs`: its kind, parameters, status, progress and checkpoint.
The service's :class:`JobRunner` picks up the jobs of the kinds it knows; one runner (of
all the service's replicas) leads a job, elected by a lease on the job's name. Each chunk
runs in one transaction: the kind's :meth:`JobKind.step` does its writes, and in the same
transaction the checkpoint and progress move on, under a share lock on the lease row that
a successor's takeover must wait for. So a chunk commits with its checkpoint or not at all,
and a leader that lost its lease cannot commit another one (fencing). A runner killed
mid-chunk leaves the chunk uncommitted; the next leader starts from the last checkpoint.

Submitting is idempotent by name: submitting `payment-run:2026-12` twice gives one job.

A job may split its work into parts: its step submits them (:func:`submit` with `parent`)
in its transaction and then answers `waiting` until they are done (:func:`parts`). Each
part is a job of its own with its own lease and checkpoints, so parts go side by side in
different processes: the parent's leader leads its parts (`parts_at_once` at a time, one
by default), and the other replicas' runners take the parts nobody leads. A parent's
progress counts its parts'.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from chassis.database import Connection, Database, Queryable, checked_schema
from chassis.leases import Lease
from chassis.locks import lock_until_commit
from chassis.telemetry import meter
from chassis.unit_of_work import UnitOfWork, unit_of_work

log = logging.getLogger(__name__)
_chunks = meter("dost.chassis.jobs").create_counter(
    "dost_job_chunks", description="Job chunks committed, by kind"
)

PENDING, RUNNING, COMPLETED, FAILED = "pending", "running", "completed", "failed"


class LeaseLost(Exception):
    """Another runner took the job over: this one's chunk must not commit."""


class JobFailed(Exception):
    """Raised by a step that can never succeed (its message says why): the job fails at
    once, without retries."""


@dataclass(frozen=True)
class JobStep:
    """What one chunk did: where to go on from, how many items it did, how many there are
    in all (when known), and whether the job is done (with its result)."""

    checkpoint: Any
    done: int = 0
    total: int | None = None
    finished: bool = False
    result: Mapping[str, Any] | None = None
    waiting: bool = False  # for its parts: the runner leads them and asks again shortly


_AGAIN = JobStep(checkpoint=None)  # a failed chunk to be tried again


class JobKind(Protocol):
    """A kind of job: does one chunk from a checkpoint, in the given unit of work."""

    kind: str

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        """Do the next chunk after `checkpoint` (None at the start) and say what was done.
        `params` are the job's, plus its name under `job_name`. Must finish well within
        the runner's lease (a few seconds)."""
        ...


@dataclass(frozen=True)
class JobStatus:
    """A job as an operator sees it."""

    name: str
    kind: str
    status: str
    params: dict[str, Any]
    done: int
    total: int | None
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    parent: str | None = None


async def submit(
    connection: Queryable,
    schema: str,
    *,
    name: str,
    kind: str,
    params: Mapping[str, Any],
    parent: str | None = None,
) -> tuple[JobStatus, bool]:
    """Create the job `name` (a part of `parent`, if given) unless it exists; returns it
    and whether it was created now."""
    created = await connection.fetchval(
        f"INSERT INTO {checked_schema(schema)}.jobs (name, kind, params, status, parent)"
        " VALUES ($1, $2, $3::jsonb, 'pending', $4) ON CONFLICT (name) DO NOTHING"
        " RETURNING true",
        name,
        kind,
        dict(params),
        parent,
    )
    found = await status(connection, schema, name)
    assert found is not None
    return found, bool(created)


async def submit_unless_running(
    connection: Connection,
    schema: str,
    *,
    name: str,
    kind: str,
    params: Mapping[str, Any],
) -> tuple[JobStatus, bool]:
    """The open (pending or running) job of `kind` if there is one, else a new job `name`;
    and whether it was created now. Takes a lock on the kind for the rest of the caller's
    transaction, so two callers at once do not start two."""
    await lock_until_commit(connection, f"jobs:{checked_schema(schema)}:{kind}")
    name_open = await connection.fetchval(
        f"SELECT name FROM {schema}.jobs WHERE kind = $1 AND status IN ('pending', 'running')"
        " ORDER BY created_at LIMIT 1",
        kind,
    )
    if name_open is not None:
        found = await status(connection, schema, name_open)
        assert found is not None
        return found, False
    return await submit(connection, schema, name=name, kind=kind, params=params)


def _status_query(schema: str, where: str) -> str:
    table = f"{checked_schema(schema)}.jobs"
    return (
        f"SELECT name, kind, status, params, total, result, error, created_at, started_at,"
        f" finished_at, parent, done + coalesce((SELECT sum(part.done) FROM {table} AS part"
        f" WHERE part.parent = job.name), 0)::bigint AS done FROM {table} AS job WHERE {where}"
    )


async def status(connection: Queryable, schema: str, name: str) -> JobStatus | None:
    """The job called `name` (its progress with its parts'), or None."""
    row = await connection.fetchrow(_status_query(schema, "name = $1"), name)
    return JobStatus(**dict(row)) if row is not None else None


async def parts(connection: Queryable, schema: str, parent: str) -> list[JobStatus]:
    """The parts of the job `parent`, by name."""
    rows = await connection.fetch(_status_query(schema, "parent = $1 ORDER BY name"), parent)
    return [JobStatus(**dict(row)) for row in rows]


async def resume(connection: Queryable, schema: str, name: str) -> bool:
    """Let a failed job (and its failed parts) run again from their last checkpoints; True
    if it was failed."""
    result = await connection.execute(
        f"UPDATE {checked_schema(schema)}.jobs SET status = 'running', attempts = 0,"
        " error = NULL, finished_at = NULL, updated_at = now()"
        " WHERE (name = $1 OR parent = $1) AND status = 'failed'",
        name,
    )
    return result != "UPDATE 0"


class JobRunner:
    """Runs the jobs of the kinds it knows, one chunk at a time, as long as it leads them."""

    def __init__(
        self,
        database: Database,
        schema: str,
        kinds: Mapping[str, JobKind],
        *,
        lease_seconds: float = 30.0,
        poll_interval: float = 1.0,
        max_attempts: int = 5,
        parts_at_once: int = 1,
    ) -> None:
        self.database = database
        self.schema = checked_schema(schema)
        self.kinds = dict(kinds)
        self.lease_seconds = lease_seconds
        self.poll_interval = poll_interval
        self.max_attempts = max_attempts
        # How many parts of a job this runner leads at once. Python computes on one core:
        # parts go faster spread over processes (replicas) than interleaved in one, so by
        # default a runner leaves the other parts to the other replicas' runners, and
        # leads them itself one after the other if nobody else does.
        self.parts_at_once = parts_at_once

    async def run(self, stop: asyncio.Event) -> None:
        """Look for work until `stop` is set; a failure never ends the runner."""
        while not stop.is_set():
            try:
                for name in await self._runnable():
                    if stop.is_set():
                        break
                    await self.run_job(name, stop)
            except Exception:  # logged; the runner goes on with the next poll
                log.exception("job runner of %s failed; going on", self.schema)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.poll_interval)

    async def _runnable(self) -> list[str]:
        if not self.kinds:
            return []
        rows = await self.database.pool.fetch(
            f"SELECT name FROM {self.schema}.jobs WHERE status IN ('pending', 'running')"
            " AND kind = ANY($1::text[]) ORDER BY created_at",
            list(self.kinds),
        )
        return [row["name"] for row in rows]

    async def run_job(
        self, name: str, stop: asyncio.Event | None = None, *, lease: Lease | None = None
    ) -> None:
        """Lead the job `name` to its end (or until the lease is lost, or `stop`), and its
        parts while it waits for them. (`lease`: the job's, already acquired.)"""
        stop = stop or asyncio.Event()
        if lease is None:
            lease = await self._acquire(name)
            if lease is None:
                return  # another runner leads it
        parts_stop = asyncio.Event()
        leading: dict[str, asyncio.Task[None]] = {}
        try:
            while not stop.is_set():
                async with self.database.pool.acquire() as connection:
                    if not await lease.renew(connection):
                        log.warning("job %s: lease lost", name)
                        return
                step = await self._chunk(name, lease)
                if step is None or step.finished:
                    return
                if step.waiting:
                    await self._lead_parts(name, leading, parts_stop)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=min(self.poll_interval, 0.2))
        finally:
            parts_stop.set()
            await asyncio.gather(*leading.values(), return_exceptions=True)
            with contextlib.suppress(Exception):
                async with self.database.pool.acquire() as connection:
                    await lease.release(connection)

    async def _lead_parts(
        self, name: str, leading: dict[str, asyncio.Task[None]], stop: asyncio.Event
    ) -> None:
        """Lead open parts of `name` of a kind this runner knows, up to `parts_at_once`
        at a time: the first ones whose lease it gets (a part another runner leads is left
        to it, and the next one tried)."""
        for part in await parts(self.database.pool, self.schema, name):
            if sum(not task.done() for task in leading.values()) >= self.parts_at_once:
                return
            running = leading.get(part.name)
            if (
                part.kind in self.kinds
                and part.status in (PENDING, RUNNING)
                and (running is None or running.done())
                and (lease := await self._acquire(part.name)) is not None
            ):
                leading[part.name] = asyncio.create_task(self.run_job(part.name, stop, lease=lease))

    async def _acquire(self, name: str) -> Lease | None:
        """The lease of the job `name`, if this runner gets it."""
        lease = Lease(self.schema, f"job:{name}", self.lease_seconds)
        async with self.database.pool.acquire() as connection:
            return lease if await lease.acquire(connection) else None

    async def _chunk(self, name: str, lease: Lease) -> JobStep | None:
        """Run one chunk; what it did, or None if the job cannot go on (ended, taken
        over, failed, or a retry is due later)."""
        try:
            async with asyncio.timeout(max(lease.seconds_left() - 1.0, 0.5)):
                async with unit_of_work(self.database, self.schema) as work:
                    # A runner that freezes mid-chunk must not hold the lease row (and so
                    # its successor) hostage: the server ends such a transaction.
                    await work.connection.execute(
                        "SELECT set_config('idle_in_transaction_session_timeout', $1, true)",
                        str(int(self.lease_seconds * 1000)),
                    )
                    job = await self._lock(work.connection, name, lease)
                    if job is None or job["status"] not in (PENDING, RUNNING):
                        return None
                    kind = self.kinds[job["kind"]]
                    params = {**job["params"], "job_name": name}
                    step = await kind.step(work, params, job["checkpoint"])
                    await self._advance(work.connection, name, step)
            if not step.waiting:
                _chunks.add(1, {"kind": job["kind"]})
            return step
        except LeaseLost:
            log.warning("job %s: taken over by another runner", name)
            return None
        except JobFailed as error:
            return await self._failed(name, error, retry=False)
        except Exception as error:  # the chunk rolled back; retried, then the job fails
            return await self._failed(name, error)

    async def _lock(self, connection: Connection, name: str, lease: Lease) -> Any:
        """The job's row, once we know (and hold until commit) that the lease is ours."""
        ours = await connection.fetchval(
            f"SELECT true FROM {self.schema}.leases WHERE name = $1 AND holder = $2"
            " AND token = $3 FOR SHARE",
            lease.name,
            lease.holder,
            lease.token,
        )
        if not ours:
            raise LeaseLost(name)
        # Only an open job: one that another runner finished (or that failed) between our
        # looking for work and getting its lease must stay as it is.
        return await connection.fetchrow(
            f"UPDATE {self.schema}.jobs SET status = 'running',"
            " started_at = coalesce(started_at, now()), updated_at = now()"
            " WHERE name = $1 AND status IN ('pending', 'running')"
            " RETURNING kind, status, params, checkpoint",
            name,
        )

    async def _advance(self, connection: Connection, name: str, step: JobStep) -> None:
        await connection.execute(
            f"UPDATE {self.schema}.jobs SET checkpoint = $2::jsonb, done = done + $3,"
            " total = coalesce($4, total), attempts = 0, error = NULL, updated_at = now(),"
            " status = CASE WHEN $5 THEN 'completed' ELSE 'running' END,"
            " result = CASE WHEN $5 THEN $6::jsonb ELSE result END,"
            " finished_at = CASE WHEN $5 THEN now() ELSE NULL END"
            " WHERE name = $1",
            name,
            step.checkpoint,
            step.done,
            step.total,
            step.finished,
            dict(step.result) if step.result is not None else None,
        )

    async def _failed(self, name: str, error: Exception, *, retry: bool = True) -> JobStep | None:
        """Count a failed chunk; what to do next: try again (after a back-off), or stop."""
        description = (str(error) if not retry else f"{type(error).__name__}: {error}")[:2000]
        log.warning("job %s: chunk failed: %s", name, type(error).__name__)
        try:
            row = await self.database.pool.fetchrow(
                f"UPDATE {self.schema}.jobs SET attempts = attempts + 1, error = $2,"
                " updated_at = now(),"
                " status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END,"
                " finished_at = CASE WHEN attempts + 1 >= $3 THEN now() ELSE NULL END"
                " WHERE name = $1 RETURNING status, attempts",
                name,
                description,
                self.max_attempts if retry else 1,
            )
        except Exception:  # the database is away: try the chunk again later
            return None
        if row is None or row["status"] == FAILED:
            return None
        await asyncio.sleep(min(0.2 * 2 ** row["attempts"], 10.0))
        return _AGAIN
