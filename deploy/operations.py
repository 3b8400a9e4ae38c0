"""Operator commands on a running platform's database: `dost outbox status|retry`,
`dost dlq list|redrive|discard`, `dost rebuild`. They write requests (jobs) that the running
services carry out, and follow them."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

from chassis import dead_letters, jobs, outbox, redrive
from chassis.database import checked_schema, connect
from chassis.settings import ChassisSettings


async def _schemas_with_an_outbox(dsn: str) -> list[str]:
    connection = await connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = 'outbox'"
            " ORDER BY table_schema"
        )
    finally:
        await connection.close()
    return [row["table_schema"] for row in rows]


async def print_outbox_status(
    settings: ChassisSettings, schema: str | None, as_json: bool = False
) -> int:
    """Print, per schema, how many messages wait and since when, and each parked one."""
    schemas = (
        [checked_schema(schema)] if schema else await _schemas_with_an_outbox(settings.database_url)
    )
    connection = await connect(settings.database_url)
    try:
        now = datetime.now(UTC)
        if as_json:
            report = []
            for name in schemas:
                state = await outbox.status(connection, name)
                report.append(
                    {
                        "schema": name,
                        "queued": state.queued,
                        "oldest": state.oldest,
                        "parked": [vars(parked) for parked in state.parked],
                    }
                )
            print(json.dumps(report, indent=2, default=str))
            return 0
        for name in schemas:
            state = await outbox.status(connection, name)
            waiting = f"oldest {(now - state.oldest).total_seconds():.0f}s" if state.oldest else ""
            print(f"{name:<16} queued {state.queued:>8}  parked {len(state.parked):>6}  {waiting}")
            for parked in state.parked:
                print(
                    f"  parked #{parked.position} {parked.topic} key={parked.key or '-'}"
                    f" attempts={parked.attempts} retry_at={parked.retry_at.isoformat()}"
                    f"\n    {parked.last_error}"
                )
    finally:
        await connection.close()
    return 0


async def retry_outbox(settings: ChassisSettings, schema: str, position: int | None) -> int:
    """Make parked messages due now; the relay sends them on its next round."""
    connection = await connect(settings.database_url)
    try:
        count = await outbox.retry_parked(connection, checked_schema(schema), position)
    finally:
        await connection.close()
    print(f"{count} parked message(s) of {schema} will be sent again")
    return 0 if count or position is None else 1


async def print_dead_letters(
    settings: ChassisSettings, schema: str | None, subscription: str | None
) -> int:
    """Print the open dead letters (of one subscription, or all), oldest first."""
    schemas = (
        [_schema_of(subscription)]
        if subscription
        else (
            [checked_schema(schema)]
            if schema
            else await _schemas_with_an_outbox(settings.database_url)
        )
    )
    connection = await connect(settings.database_url)
    try:
        for name in schemas:
            after = 0
            while letters := await dead_letters.open_letters(
                connection, name, subscription=subscription, after_id=after, limit=500
            ):
                for letter in letters:
                    record = letter.record
                    print(
                        f"{name} #{letter.id} {letter.subscription} case={letter.subject or '-'}"
                        f" {letter.reason} {record.topic}[{record.partition}]@{record.offset}"
                        f" since {letter.dead_lettered_at.isoformat(timespec='seconds')}"
                        f" redrives={letter.redrive_attempts}\n    {letter.error[:300]}"
                    )
                after = letters[-1].id
    finally:
        await connection.close()
    return 0


async def redrive_dead_letters(
    settings: ChassisSettings,
    subscription: str,
    *,
    subject: str | None,
    letter_id: int | None,
    wait: bool,
) -> int:
    """Ask the service that owns `subscription` to redrive its dead letters (a job)."""
    schema = _schema_of(subscription)
    params: dict[str, object] = {"subscription": subscription}
    if subject:
        params["subject"] = subject
    if letter_id is not None:
        params["id"] = letter_id
    selection = subject or (f"#{letter_id}" if letter_id is not None else "all")
    name = f"{redrive.KIND}:{subscription}:{selection}:{datetime.now(UTC).isoformat()}"
    connection = await connect(settings.database_url)
    try:
        job, _ = await jobs.submit(connection, schema, name=name, kind=redrive.KIND, params=params)
    finally:
        await connection.close()
    print(f"redrive submitted: job {job.name} (the {schema} service runs it)")
    return await follow_job(settings, schema, job.name) if wait else 0


async def discard_dead_letter(settings: ChassisSettings, subscription: str, letter_id: int) -> int:
    """Give a dead letter up for good (it will not be redriven)."""
    connection = await connect(settings.database_url)
    try:
        found = await dead_letters.letter(connection, _schema_of(subscription), letter_id)
        if found is None or found.subscription != subscription:
            print(f"no dead letter {letter_id} in {subscription}")
            return 1
        discarded = await dead_letters.resolve(
            connection, _schema_of(subscription), letter_id, redrive.DISCARDED
        )
    finally:
        await connection.close()
    print(f"dead letter {letter_id} discarded" if discarded else f"{letter_id} was resolved")
    return 0


async def submit_rebuild(settings: ChassisSettings, schema: str, kind: str, wait: bool) -> int:
    """Start (or find the running) rebuild of kind `kind` in `schema`, and follow it."""
    connection = await connect(settings.database_url)
    try:
        async with connection.transaction():
            job, created = await jobs.submit_unless_running(
                connection,
                checked_schema(schema),
                name=f"{kind}:{datetime.now(UTC).isoformat(timespec='seconds')}",
                kind=kind,
                params={"requested_by": "dost rebuild"},
            )
    finally:
        await connection.close()
    print(f"{'started' if created else 'already running'}: job {job.name}")
    return await follow_job(settings, schema, job.name) if wait else 0


async def follow_job(
    settings: ChassisSettings, schema: str, name: str, *, poll: float = 0.5, width: int = 30
) -> int:
    """Show a job's progress on one line until it ends; 0 if it completed."""
    connection = await connect(settings.database_url)
    try:
        while True:
            job = await jobs.status(connection, checked_schema(schema), name)
            if job is None:
                print(f"no job {name}")
                return 1
            total = job.total or 0
            filled = int(width * job.done / total) if total else 0
            bar = "#" * min(filled, width) + "." * (width - min(filled, width))
            print(f"\r[{bar}] {job.done}/{total or '?'} {job.status:<9}", end="", flush=True)
            if job.status in (jobs.COMPLETED, jobs.FAILED):
                print()
                if job.status == jobs.FAILED:
                    print(f"failed: {job.error}")
                    return 1
                print(f"result: {job.result}")
                return 0
            await asyncio.sleep(poll)
    finally:
        await connection.close()


def _schema_of(subscription: str) -> str:
    """A subscription is named `<schema>.<name>`: the service that owns it."""
    return checked_schema(subscription.partition(".")[0])


async def start_payment_run(settings: ChassisSettings, schema: str, period: str, wait: bool) -> int:
    """Start the payment run of `period` (or find the one started before, resuming it if it
    failed) and follow it."""
    from contracts.periods import Month
    from services.payments.domain.errors import PeriodNotAllowed, RunRefused
    from services.payments.handlers.payment_run import latest_payable, start_run
    from services.payments.settings import PaymentsSettings

    months_ahead = PaymentsSettings().run_months_ahead
    connection = await connect(settings.database_url)
    try:
        async with connection.transaction():
            job, what = await start_run(
                connection,
                checked_schema(schema),
                Month.parse(period),
                requested_by="dost",
                latest=latest_payable(months_ahead),
            )
    except (PeriodNotAllowed, RunRefused) as error:
        print(f"refused: {error}")
        return 1
    finally:
        await connection.close()
    print(f"{what} payment run {job.name} ({job.status})")
    return await follow_job(settings, schema, job.name) if wait else 0


async def import_statement(settings: ChassisSettings, document: bytes) -> int:
    """Read a camt.054 debit notification and publish what the bank says of each
    instruction on the settlements topic, as the bank's own system would. Importing the
    same file again publishes the same events (same ids): nothing happens twice."""
    from aiokafka import AIOKafkaProducer

    from contracts import encode, new_cloud_event
    from contracts.bank import PaymentReturned, PaymentSettled
    from services.payments.iso20022.camt054 import (
        InvalidStatement,
        Return,
        read_debit_notification,
    )

    try:
        entries = read_debit_notification(document)
    except InvalidStatement as error:
        print(f"not imported: {error}")
        return 1
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=settings.kafka_enable_idempotence,
    )
    await producer.start()
    try:
        for entry in entries:
            if isinstance(entry, Return):
                data: PaymentSettled | PaymentReturned = PaymentReturned(
                    instruction_id=entry.end_to_end_id, reason=entry.reason
                )
                event_id, time = f"{entry.end_to_end_id}:returned", entry.returned_at
            else:
                data = PaymentSettled(
                    instruction_id=entry.end_to_end_id, settled_at=entry.booked_at
                )
                event_id, time = f"{entry.end_to_end_id}:settled", entry.booked_at
            event = new_cloud_event(
                data, source="urn:dost:bank-statement", event_id=event_id, time=time
            )
            await producer.send_and_wait(
                data.topic, encode(event), key=entry.end_to_end_id.encode()
            )
    finally:
        await producer.stop()
    settled = sum(1 for entry in entries if not isinstance(entry, Return))
    print(f"published {settled} settlement(s) and {len(entries) - settled} return(s)")
    return 0
