"""The monthly payment run: a resumable job of the chassis that pays every active
entitlement what is due for a period, then writes the bank file.

Scale: a million entitlements, split by id into lanes (parts of the job: with two
replicas, each leads one, so both processes compute; alone, a replica leads them one after
the other), each lane in chunks of a few thousand, each chunk one short transaction
(its rows locked, so a settlement of the same entitlement waits a moment; the event
store's ordering lock held only for the chunk's insert and commit). Nothing is held in
memory beyond a chunk. Exactly once: what a chunk issues commits with its lane's
checkpoint, and an entitlement only ever pays months not yet covered, so a run repeated,
run twice at once (one job per period, one leader per lane) or restarted after a kill
issues nothing twice and misses nothing.

Phases: `issue` (the lanes; the run waits for them), then `file` (the pain.001 bank file,
streamed from the instructions of this run in chunks, resumable at the byte offset of the
last chunk), then done.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from chassis import jobs
from chassis.database import Connection
from chassis.jobs import JobFailed, JobStatus, JobStep
from chassis.locks import lock_until_commit
from chassis.telemetry import current_traceparent
from chassis.unit_of_work import UnitOfWork
from contracts.application import agency_today
from contracts.periods import Month
from services.payments import projections
from services.payments.domain.entitlement import Entitlement, PaymentInstructionIssued
from services.payments.domain.errors import PeriodNotAllowed, RunRefused
from services.payments.handlers.entitlements import instruction_record, public_events, save
from services.payments.iso20022.pain001 import (
    CreditTransfer,
    Debtor,
    FileHeader,
    Pain001File,
    PartialFileMismatch,
)

KIND = "payment-run"
LANE_KIND = "payment-run-lane"
NAME_LENGTH = 140  # the longest name a pain.001 creditor may have


def run_id_of(period: Month) -> str:
    return f"payment-run-{period}"


def latest_payable(months_ahead: int) -> Month:
    """The latest month a run may pay now: this month (in Asia/Baku) and `months_ahead`."""
    return Month.of(agency_today()).plus(months_ahead)


async def start_run(
    connection: Connection, schema: str, period: Month, *, requested_by: str, latest: Month
) -> tuple[JobStatus, str]:
    """The run of `period` and what became of it now: `started`, `found` (started before,
    running or completed) or `resumed` (it had failed: it goes on from its checkpoints,
    so what it already issued reaches its bank file). Refused (:class:`RunRefused`) while
    another period's run is going, and for a period after `latest` (paying months ahead
    by mistake is not undone by the next run)."""
    if period > latest:
        raise PeriodNotAllowed(f"{period} is after {latest}, the latest month a run may pay")
    await lock_until_commit(connection, f"payments:{schema}:runs")
    run_id = run_id_of(period)
    existing = await jobs.status(connection, schema, run_id)
    if existing is not None and existing.status != jobs.FAILED:
        return existing, "found"
    going = await connection.fetchval(  # another run, or a lane of one (even of a failed one)
        f"SELECT coalesce(parent, name) FROM {schema}.jobs WHERE kind = ANY($1::text[])"
        " AND status IN ('pending', 'running') AND coalesce(parent, name) <> $2 LIMIT 1",
        [KIND, LANE_KIND],
        run_id,
    )
    if going is not None:
        raise RunRefused(f"the run {going} is still going; start {period} when it is done")
    if existing is not None:
        await jobs.resume(connection, schema, run_id)
        resumed = await jobs.status(connection, schema, run_id)
        assert resumed is not None
        return resumed, "resumed"
    job, _ = await jobs.submit(
        connection,
        schema,
        name=run_id,
        kind=KIND,
        params={"period": str(period), "requested_by": requested_by},
    )
    return job, "started"


class PaymentRun:
    """The `payment-run` job kind: splits the run into lanes, waits for them, writes the
    bank file. Its lanes are run by :attr:`lane` (register both)."""

    kind = KIND

    def __init__(
        self,
        *,
        bank_dir: Path,
        debtor: Debtor,
        chunk: int = 2000,
        file_chunk: int = 20000,
        lanes: int = 2,
    ) -> None:
        self.bank_dir = bank_dir
        self.debtor = debtor
        self.chunk = chunk
        self.file_chunk = file_chunk
        self.lanes = lanes
        self.lane = PaymentRunLane(chunk=chunk)

    def file_path(self, period: Month, run_id: str) -> Path:
        """`pain001-2026-12.xml` for the run of a month (another run: named after itself)."""
        return self.bank_dir / f"pain001-{period if run_id == run_id_of(period) else run_id}.xml"

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        period = Month.parse(str(params["period"]))
        run_id = str(params["job_name"])
        if checkpoint is None:
            return await self._start(work, period, run_id)
        if checkpoint["phase"] == "issue":
            return await self._await_lanes(work, run_id, checkpoint)
        return await self._write_file(work, period, run_id, checkpoint)

    async def _start(self, work: UnitOfWork, period: Month, run_id: str) -> JobStep:
        """Count the active entitlements and split them by id into lanes of about equal
        size (one when there are few)."""
        total = int(
            await work.connection.fetchval(
                f"SELECT count(*) FROM {work.schema}.entitlements WHERE status = 'active'"
            )
        )
        lanes = max(1, min(self.lanes, total // self.chunk))
        bounds: list[str | None] = [""]
        for lane in range(1, lanes):
            bounds.append(
                await work.connection.fetchval(
                    f"SELECT entitlement_id FROM {work.schema}.entitlements"
                    " WHERE status = 'active' ORDER BY entitlement_id OFFSET $1 LIMIT 1",
                    total * lane // lanes,
                )
            )
        bounds.append(None)
        for lane in range(lanes):
            await jobs.submit(
                work.connection,
                work.schema,
                name=f"{run_id}/lane-{lane + 1}",
                kind=LANE_KIND,
                params={
                    "period": str(period),
                    "run_id": run_id,
                    "after": bounds[lane],
                    "upto": bounds[lane + 1],
                },
                parent=run_id,
            )
        return JobStep(checkpoint={"phase": "issue"}, total=total, waiting=True)

    async def _await_lanes(
        self, work: UnitOfWork, run_id: str, checkpoint: dict[str, Any]
    ) -> JobStep:
        lanes = await jobs.parts(work.connection, work.schema, run_id)
        if not lanes:
            raise JobFailed(f"{run_id} has no lanes")
        for lane in lanes:
            if lane.status == jobs.FAILED:
                raise JobFailed(f"{lane.name} failed: {lane.error}")
        if any(lane.status != jobs.COMPLETED for lane in lanes):
            return JobStep(checkpoint=checkpoint, waiting=True)
        return JobStep(
            checkpoint={
                "phase": "file",
                "paid": sum(int((lane.result or {})["paid"]) for lane in lanes),
                "expired": sum(int((lane.result or {})["expired"]) for lane in lanes),
            }
        )

    async def _write_file(
        self, work: UnitOfWork, period: Month, run_id: str, checkpoint: dict[str, Any]
    ) -> JobStep:
        count, total = await projections.run_totals(work.connection, work.schema, run_id)
        if count == 0:  # nothing to pay this time: no bank file (it would have no transfer)
            return JobStep(
                checkpoint={**checkpoint, "phase": "done"},
                finished=True,
                result=self._result(checkpoint, count, total, None),
            )
        bank_file = Pain001File(
            self.file_path(period, run_id),
            FileHeader(
                message_id=run_id[:35],
                created_at=datetime.now(UTC),
                payment_information_id=run_id[:35],
                requested_execution_date=agency_today(),
                debtor=self.debtor,
                number_of_transactions=count,
                control_sum=total,
            ),
        )
        state = dict(checkpoint)
        if "offset" in state and not (
            bank_file.partial_path.exists() or bank_file.final_path.exists()
        ):
            # Taken over by a replica that does not see the file begun (the bank folder
            # was not shared, or was cleaned): the file is written again from the start.
            del state["offset"]
        if "offset" not in state:
            self.bank_dir.mkdir(parents=True, exist_ok=True)
            state["offset"], state["after_instruction"] = bank_file.start(), ""
            return JobStep(checkpoint=state)
        try:
            return await self._append_to_file(work, bank_file, run_id, state, count, total)
        except PartialFileMismatch:
            # Not the partial file this checkpoint was written to (taken over by a replica
            # with another copy of the bank folder): the file is written again.
            del state["offset"]
            return JobStep(checkpoint=state)

    async def _append_to_file(
        self,
        work: UnitOfWork,
        bank_file: Pain001File,
        run_id: str,
        state: dict[str, Any],
        count: int,
        total: Decimal,
    ) -> JobStep:
        rows = await work.connection.fetch(
            f"SELECT instruction_id, amount, iban, payee_name, period"
            f" FROM {work.schema}.payment_instructions WHERE run_id = $1 AND instruction_id > $2"
            " ORDER BY instruction_id LIMIT $3",
            run_id,
            state["after_instruction"],
            self.file_chunk,
        )
        if rows:
            state["offset"] = bank_file.append(
                int(state["offset"]),
                (
                    CreditTransfer(
                        end_to_end_id=row["instruction_id"],
                        amount=row["amount"],
                        creditor_name=row["payee_name"][:NAME_LENGTH],
                        creditor_iban=row["iban"],
                        remittance=f"DOST {row['period']} {row['instruction_id']}",
                    )
                    for row in rows
                ),
            )
            state["after_instruction"] = rows[-1]["instruction_id"]
        if len(rows) == self.file_chunk:
            return JobStep(checkpoint=state)
        path = bank_file.finish(int(state["offset"]))
        return JobStep(
            checkpoint={**state, "phase": "done"},
            finished=True,
            result=self._result(state, count, total, path.name),
        )

    @staticmethod
    def _result(
        state: Mapping[str, Any], count: int, total: Decimal, bank_file: str | None
    ) -> dict[str, Any]:
        return {
            "instructions": count,
            "total_amount": str(total),
            "entitlements_paid": state["paid"],
            "entitlements_ended": state["expired"],
            "bank_file": bank_file,
        }


class PaymentRunLane:
    """The `payment-run-lane` job kind: pays the active entitlements of one id range
    (after `after`, up to and including `upto`), a chunk per step."""

    kind = LANE_KIND

    def __init__(self, *, chunk: int = 2000) -> None:
        self.chunk = chunk

    async def step(self, work: UnitOfWork, params: Mapping[str, Any], checkpoint: Any) -> JobStep:
        period = Month.parse(str(params["period"]))
        run_id = str(params["run_id"])
        state = checkpoint or {"after": params["after"], "paid": 0, "expired": 0}
        now = datetime.now(UTC)
        chunk = await projections.payable_chunk(
            work.connection, work.schema, state["after"], params["upto"], self.chunk
        )
        paid = expired = 0
        for entitlement in chunk:
            if entitlement.expire_if_over(period, now):
                expired += 1
            elif entitlement.issue_payment(period, run_id, now):
                paid += 1
        traceparent = current_traceparent()

        def publishing(entitlement: Entitlement, event: Any, event_id: str) -> list[Any]:
            if isinstance(event, PaymentInstructionIssued):
                return [
                    instruction_record(
                        entitlement,
                        event,
                        event_id,
                        correlation_id=run_id,
                        traceparent=traceparent,
                    )
                ]
            return list(public_events(entitlement, event, event_id))

        await save(
            work,
            [entitlement for entitlement in chunk if entitlement.pending],
            correlation_id=run_id,
            causation_id=run_id,
            check_now=False,  # the rows are locked at their version; the commit checks too
            publishing=publishing,
        )
        state = {
            "after": chunk[-1].entitlement_id if chunk else state["after"],
            "paid": state["paid"] + paid,
            "expired": state["expired"] + expired,
        }
        finished = len(chunk) < self.chunk
        return JobStep(
            checkpoint=state,
            done=len(chunk),
            finished=finished,
            result={"paid": state["paid"], "expired": state["expired"]} if finished else None,
        )
