"""What the journey reads back from the services' stores (and the broker's offsets) once it
has driven them: whether anything is still on its way, the figures of the summary, and the
facts the invariants are checked on. Read-only."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import asyncpg

from chassis.consumer_lag import consumer_lag
from services.eligibility.settings import EligibilitySettings
from services.intake.settings import IntakeSettings
from services.notifications.settings import NotificationsSettings
from services.payments.settings import PaymentsSettings


@dataclass(frozen=True)
class Schemas:
    intake: str
    eligibility: str
    payments: str
    notifications: str

    @classmethod
    def configured(cls) -> Schemas:
        return cls(
            IntakeSettings().schema_name,
            EligibilitySettings().schema_name,
            PaymentsSettings().schema_name,
            NotificationsSettings().schema_name,
        )

    def all(self) -> tuple[str, ...]:
        return (self.intake, self.eligibility, self.payments, self.notifications)


async def in_flight(
    database_url: str, bootstrap_servers: str, schemas: Schemas, groups: dict[str, list[str]]
) -> int:
    """Outbox rows not yet sent, records not yet consumed, messages being sent or due now
    (an SMS waiting for the end of the quiet hours is not due)."""
    lag = await consumer_lag(bootstrap_servers, groups)  # first: see the note in Journey
    connection = await asyncpg.connect(database_url)
    try:
        waiting = 0
        for schema in schemas.all():
            waiting += await connection.fetchval(f"SELECT count(*) FROM {schema}.outbox")
        waiting += await connection.fetchval(
            f"SELECT count(*) FROM {schemas.notifications}.deliveries"
            " WHERE status = 'sending' OR (status = 'pending' AND not_before <= now())"
        )
    finally:
        await connection.close()
    return int(waiting) + sum(p.lag for p in lag)


@dataclass
class Figures:
    """The journey's outcome as the stores tell it."""

    cases: Counter[tuple[str, str]] = field(default_factory=Counter)  # (benefit, status)
    monthly_amounts: dict[str, Decimal] = field(default_factory=dict)  # benefit -> AZN a month
    lump_sums: Decimal = Decimal("0.00")
    instructions: Counter[str] = field(default_factory=Counter)  # status -> count
    instruction_amounts: dict[str, Decimal] = field(default_factory=dict)
    messages: Counter[tuple[str, str, str]] = field(
        default_factory=Counter
    )  # channel, lang, status
    satisfaction: list[tuple[str, int, int, Decimal | None]] = field(default_factory=list)
    first_message_s: list[float] = field(default_factory=list)
    duplicate_instructions: list[tuple[str, str]] = field(default_factory=list)
    duplicate_deliveries: list[str] = field(default_factory=list)
    sent: set[str] = field(default_factory=set)  # notification ids recorded as sent
    open_dead_letters: list[tuple[str, str, str]] = field(default_factory=list)
    outbox_rows: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)  # case id -> tracker status
    cases_of: dict[str, list[str]] = field(default_factory=dict)  # national id -> case ids

    def percentile(self, share: float) -> float | None:
        if not self.first_message_s:
            return None
        if len(self.first_message_s) == 1:
            return self.first_message_s[0]
        cuts = statistics.quantiles(self.first_message_s, n=100, method="inclusive")
        return cuts[int(share * 100) - 1]


async def figures(database_url: str, schemas: Schemas, today: date) -> Figures:
    found = Figures()
    connection = await asyncpg.connect(database_url)
    try:
        for row in await connection.fetch(
            f"SELECT case_id, national_id, benefit, status FROM {schemas.intake}.tracker_cases"
        ):
            found.cases[(row["benefit"], row["status"])] += 1
            found.statuses[row["case_id"]] = row["status"]
            found.cases_of.setdefault(row["national_id"], []).append(row["case_id"])
        for row in await connection.fetch(
            f"SELECT benefit, payment, schedule, lump_sum FROM {schemas.payments}.entitlements"
            " WHERE status = 'active'"
        ):
            if row["payment"] == "lump_sum":
                found.lump_sums += row["lump_sum"] or Decimal("0")
                continue
            amount = _amount_in_force(json.loads(row["schedule"]), today)
            found.monthly_amounts[row["benefit"]] = (
                found.monthly_amounts.get(row["benefit"], Decimal("0.00")) + amount
            )
        for row in await connection.fetch(
            f"SELECT status, count(*) AS n, sum(amount) AS total"
            f" FROM {schemas.payments}.payment_instructions GROUP BY status"
        ):
            found.instructions[row["status"]] = row["n"]
            found.instruction_amounts[row["status"]] = row["total"]
        found.duplicate_instructions = [
            (row["entitlement_id"], row["period"])
            for row in await connection.fetch(
                f"SELECT entitlement_id, period FROM {schemas.payments}.payment_instructions"
                " GROUP BY entitlement_id, period HAVING count(*) > 1"
            )
        ]
        for row in await connection.fetch(
            f"SELECT channel, language, status, count(*) AS n"
            f" FROM {schemas.notifications}.deliveries GROUP BY channel, language, status"
        ):
            found.messages[(row["channel"], row["language"], row["status"])] = row["n"]
        found.sent = {
            row["notification_id"]
            for row in await connection.fetch(
                f"SELECT notification_id FROM {schemas.notifications}.deliveries"
                " WHERE status = 'sent'"
            )
        }
        found.duplicate_deliveries = [
            row["event_id"]
            for row in await connection.fetch(
                f"SELECT event_id FROM {schemas.notifications}.deliveries"
                " GROUP BY event_id, channel HAVING count(*) > 1"
            )
        ]
        found.satisfaction = [
            (row["center_id"], row["responses"], row["satisfied"], _share(row))
            for row in await connection.fetch(
                "SELECT center_id, count(*) AS responses,"
                " count(*) FILTER (WHERE rating >= 4) AS satisfied"
                f" FROM {schemas.notifications}.feedback GROUP BY center_id ORDER BY center_id"
            )
        ]
        found.first_message_s = [
            float(row["seconds"])
            for row in await connection.fetch(
                "SELECT extract(epoch FROM min(d.finished_at) - t.submitted_at) AS seconds"
                f" FROM {schemas.notifications}.deliveries d"
                f" JOIN {schemas.intake}.tracker_cases t USING (case_id)"
                " WHERE d.status = 'sent' GROUP BY d.case_id, t.submitted_at"
            )
        ]
        for schema in schemas.all():
            found.outbox_rows[schema] = await connection.fetchval(
                f"SELECT count(*) FROM {schema}.outbox"
            )
            found.open_dead_letters += [
                (schema, row["subscription"], row["reason"])
                for row in await connection.fetch(
                    f"SELECT subscription, reason FROM {schema}.dead_letters"
                    " WHERE resolved_at IS NULL ORDER BY id"
                )
            ]
    finally:
        await connection.close()
    return found


def _amount_in_force(schedule: list[dict[str, Any]], today: date) -> Decimal:
    in_force = [s for s in schedule if date.fromisoformat(s["effective_from"]) <= today]
    chosen = max(in_force or schedule[:1], key=lambda s: s["effective_from"])
    return Decimal(chosen["amount"])


def _share(row: Any) -> Decimal | None:
    from services.notifications.domain.satisfaction import satisfied_share

    return satisfied_share(row["satisfied"], row["responses"])
