"""Payments' read models: one row per entitlement, one per payment instruction.

The entitlement row is also how an Entitlement is loaded without replaying its stream (a
snapshot kept in the transaction of every event, so always at the stream's version): the
monthly run reads a million of them in chunks. :func:`save` writes the rows for what an
aggregate just recorded; a rebuild replays each stream and writes the rows again.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from chassis import bulk
from chassis.database import Connection, Queryable
from contracts.periods import Month
from services.payments.domain.entitlement import (
    Entitlement,
    EntitlementGranted,
    Instruction,
    MonthlyAmount,
    PaymentInstructionIssued,
    PaymentReturned,
    PaymentSettled,
    ScheduledAmount,
)

KEPT_INSTRUCTION_COLUMNS = "instruction_id, period, months, amount, status"
_ROW_COLUMNS = (
    "entitlement_id, case_id, national_id, payee_name, benefit, payment, status, start_date,"
    " end_date, ends_on, schedule, lump_sum, iban, covered, issued, returns, version"
)
# The same, with the schedule as its text: a run restores a million rows that share a few
# schedules, decoded once each (jsonb's text is canonical: equal schedules, equal text).
_SNAPSHOT_COLUMNS = _ROW_COLUMNS.replace("schedule", "schedule::text AS schedule")


def _lines_json(lines: Iterable[MonthlyAmount]) -> list[dict[str, str]]:
    return [{"month": str(line.month), "amount": str(line.amount)} for line in lines]


def _lines(raw: Sequence[dict[str, str]]) -> tuple[MonthlyAmount, ...]:
    return tuple(MonthlyAmount(Month.parse(line["month"]), Decimal(line["amount"])) for line in raw)


@functools.lru_cache(maxsize=1024)
def _schedule(text: str) -> tuple[ScheduledAmount, ...]:
    """An amount schedule as its row stores it (shared, see _SNAPSHOT_COLUMNS)."""
    return tuple(
        ScheduledAmount(
            date.fromisoformat(item["effective_from"]),
            Decimal(item["amount"]),
            item["policy_version"],
        )
        for item in json.loads(text)
    )


def restore(row: Any) -> Entitlement:
    """The entitlement as its row holds it (without its instructions: the monthly run
    needs none; :func:`load` adds them)."""
    return Entitlement(
        entitlement_id=row["entitlement_id"],
        case_id=row["case_id"],
        national_id=row["national_id"],
        payee_name=row["payee_name"],
        benefit=row["benefit"],
        payment=row["payment"],
        start_date=row["start_date"],
        end_date=row["end_date"],
        schedule=_schedule(row["schedule"]),
        lump_sum=row["lump_sum"],
        iban=row["iban"],
        status=row["status"],
        covered={Month.at(index) for index in row["covered"]},
        issued=row["issued"],
        returns=row["returns"],
        ends_on=row["ends_on"],
        version=row["version"],
    )


async def load(
    connection: Connection, schema: str, entitlement_id: str, *, for_update: bool = True
) -> Entitlement | None:
    """The entitlement with its recent instructions, its row locked until the transaction
    ends (so a payment run and a settlement of one entitlement take turns)."""
    row = await connection.fetchrow(
        f"SELECT {_SNAPSHOT_COLUMNS} FROM {schema}.entitlements WHERE entitlement_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        entitlement_id,
    )
    if row is None:
        return None
    entitlement = restore(row)
    instructions = await connection.fetch(
        f"SELECT {KEPT_INSTRUCTION_COLUMNS} FROM {schema}.payment_instructions"
        " WHERE entitlement_id = $1 ORDER BY issued_at",
        entitlement_id,
    )
    entitlement.instructions = {
        item["instruction_id"]: Instruction(
            Month.parse(item["period"]), _lines(item["months"]), item["amount"], item["status"]
        )
        for item in instructions
    }
    return entitlement


async def payable_chunk(
    connection: Connection, schema: str, after: str, upto: str | None, limit: int
) -> list[Entitlement]:
    """The next active entitlements after `after` (by id, up to `upto` if given), their
    rows locked."""
    query = f"SELECT {_SNAPSHOT_COLUMNS} FROM {schema}.entitlements"
    if upto is None:
        rows = await connection.fetch(
            f"{query} WHERE status = 'active' AND entitlement_id > $1"
            " ORDER BY entitlement_id LIMIT $2 FOR UPDATE",
            after,
            limit,
        )
    else:
        rows = await connection.fetch(
            f"{query} WHERE status = 'active' AND entitlement_id > $1 AND entitlement_id <= $3"
            " ORDER BY entitlement_id LIMIT $2 FOR UPDATE",
            after,
            limit,
            upto,
        )
    return [restore(row) for row in rows]


async def save(
    connection: Connection, schema: str, saved: Sequence[tuple[Entitlement, Sequence[Any]]]
) -> None:
    """Write the rows of entitlements that just recorded `events` (each after its save):
    the entitlement rows, new instructions (COPY), and instructions settled or returned."""
    if not saved:
        return
    granted = [e for e, events in saved if any(isinstance(x, EntitlementGranted) for x in events)]
    changed = [
        e for e, events in saved if not any(isinstance(x, EntitlementGranted) for x in events)
    ]
    await _insert(connection, schema, granted)
    await _update(connection, schema, changed)
    issued = [
        (entitlement, event)
        for entitlement, events in saved
        for event in events
        if isinstance(event, PaymentInstructionIssued)
    ]
    await bulk.copy_into(
        connection,
        f"{schema}.payment_instructions",
        [
            "instruction_id",
            "entitlement_id",
            "case_id",
            "run_id",
            "period",
            "months",
            "amount",
            "iban",
            "payee_name",
            "issued_at",
        ],
        (
            (
                event.instruction_id,
                entitlement.entitlement_id,
                entitlement.case_id,
                event.run_id,
                str(event.period),
                _lines_json(event.lines),
                event.amount,
                event.iban,
                entitlement.payee_name,
                event.issued_at,
            )
            for entitlement, event in issued
        ),
    )
    for _, events in saved:
        for event in events:
            if isinstance(event, PaymentSettled):
                await connection.execute(
                    f"UPDATE {schema}.payment_instructions SET status = 'settled',"
                    " settled_at = $2 WHERE instruction_id = $1",
                    event.instruction_id,
                    event.settled_at,
                )
            elif isinstance(event, PaymentReturned):
                await connection.execute(
                    f"UPDATE {schema}.payment_instructions SET status = 'returned',"
                    " returned_at = $2, return_reason = $3 WHERE instruction_id = $1",
                    event.instruction_id,
                    event.returned_at,
                    event.reason,
                )


async def _insert(connection: Connection, schema: str, entitlements: Sequence[Entitlement]) -> None:
    if not entitlements:
        return
    await bulk.copy_into(
        connection,
        f"{schema}.entitlements",
        [*(column.strip() for column in _ROW_COLUMNS.split(",")), "updated_at"],
        (
            (
                e.entitlement_id,
                e.case_id,
                e.national_id,
                e.payee_name,
                e.benefit,
                e.payment,
                e.status,
                e.start_date,
                e.end_date,
                e.ends_on,
                [
                    {
                        "effective_from": s.effective_from.isoformat(),
                        "amount": str(s.amount),
                        "policy_version": s.policy_version,
                    }
                    for s in e.schedule
                ],
                e.lump_sum,
                e.iban,
                sorted(month.index for month in e.covered),
                e.issued,
                e.returns,
                e.version,
                datetime.now(UTC),
            )
            for e in entitlements
        ),
    )


async def _update(connection: Connection, schema: str, entitlements: Sequence[Entitlement]) -> None:
    """What events change of an entitlement, and only that (so most updates are HOT: no
    indexed column changes, no index is touched)."""
    if not entitlements:
        return
    await connection.execute(
        f"UPDATE {schema}.entitlements AS e SET status = u.status, iban = u.iban,"
        " ends_on = u.ends_on, covered = u.covered::int[], issued = u.issued,"
        " returns = u.returns, version = u.version, updated_at = now()"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[], $6::int[],"
        " $7::int[], $8::int[]) AS u(id, status, iban, ends_on, covered, issued, returns, version)"
        " WHERE e.entitlement_id = u.id",
        [e.entitlement_id for e in entitlements],
        [e.status for e in entitlements],
        [e.iban for e in entitlements],
        [e.ends_on for e in entitlements],
        [_array_text(e.covered) for e in entitlements],
        [e.issued for e in entitlements],
        [e.returns for e in entitlements],
        [e.version for e in entitlements],
    )


def _array_text(months: Iterable[Month]) -> str:
    """Months as a PostgreSQL integer array literal (an array of arrays cannot be unnested
    row by row, so each row's array travels as text)."""
    return "{" + ",".join(str(index) for index in sorted(month.index for month in months)) + "}"


async def entitlement_of_instruction(
    connection: Queryable, schema: str, instruction_id: str
) -> str | None:
    """The entitlement that issued an instruction, if any."""
    found = await connection.fetchval(
        f"SELECT entitlement_id FROM {schema}.payment_instructions WHERE instruction_id = $1",
        instruction_id,
    )
    return str(found) if found is not None else None


async def record_death(
    connection: Queryable, schema: str, national_id: str, date_of_death: date
) -> None:
    """Keep a reported death (the first report of a person stands)."""
    await connection.execute(
        f"INSERT INTO {schema}.deaths (national_id, date_of_death) VALUES ($1, $2)"
        " ON CONFLICT (national_id) DO NOTHING",
        national_id,
        date_of_death,
    )


async def date_of_death(connection: Queryable, schema: str, national_id: str) -> date | None:
    """When the person died, if the registry reported it."""
    found = await connection.fetchval(
        f"SELECT date_of_death FROM {schema}.deaths WHERE national_id = $1", national_id
    )
    return found if isinstance(found, date) else None


async def entitlements_of_person(connection: Queryable, schema: str, national_id: str) -> list[str]:
    rows = await connection.fetch(
        f"SELECT entitlement_id FROM {schema}.entitlements WHERE national_id = $1"
        " ORDER BY entitlement_id",
        national_id,
    )
    return [row["entitlement_id"] for row in rows]


@dataclass(frozen=True)
class InstructionView:
    instruction_id: str
    run_id: str
    period: str
    months: list[dict[str, str]]
    amount: Decimal
    status: str
    issued_at: datetime
    settled_at: datetime | None
    returned_at: datetime | None
    return_reason: str | None


@dataclass(frozen=True)
class EntitlementView:
    entitlement_id: str
    case_id: str
    benefit: str
    payment: str
    status: str
    start_date: Any
    end_date: Any
    ends_on: Any
    schedule: list[dict[str, str]]
    lump_sum: Decimal | None
    returns: int
    instructions: list[InstructionView]


async def entitlement_view(
    connection: Queryable, schema: str, entitlement_id: str
) -> EntitlementView | None:
    """An entitlement with all its instructions and their settlement, for staff."""
    row = await connection.fetchrow(
        f"SELECT entitlement_id, case_id, benefit, payment, status, start_date, end_date,"
        f" ends_on, schedule, lump_sum, returns FROM {schema}.entitlements"
        " WHERE entitlement_id = $1",
        entitlement_id,
    )
    if row is None:
        return None
    instructions = await connection.fetch(
        f"SELECT instruction_id, run_id, period, months, amount, status, issued_at,"
        f" settled_at, returned_at, return_reason FROM {schema}.payment_instructions"
        " WHERE entitlement_id = $1 ORDER BY issued_at, instruction_id",
        entitlement_id,
    )
    return EntitlementView(
        **dict(row), instructions=[InstructionView(**dict(item)) for item in instructions]
    )


async def entitlement_ids_of_case(connection: Queryable, schema: str, case_id: str) -> list[str]:
    rows = await connection.fetch(
        f"SELECT entitlement_id FROM {schema}.entitlements WHERE case_id = $1", case_id
    )
    return [row["entitlement_id"] for row in rows]


async def run_totals(connection: Queryable, schema: str, run_id: str) -> tuple[int, Decimal]:
    """How many instructions a run issued, and their total amount."""
    row = await connection.fetchrow(
        f"SELECT count(*) AS count, coalesce(sum(amount), 0) AS total"
        f" FROM {schema}.payment_instructions WHERE run_id = $1",
        run_id,
    )
    assert row is not None
    return int(row["count"]), Decimal(row["total"])
