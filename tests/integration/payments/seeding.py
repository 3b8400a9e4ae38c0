"""Entitlements granted straight through payments' handlers, for tests that need many."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal

from chassis.database import Database, migrate
from chassis.unit_of_work import unit_of_work
from services.payments.app import MIGRATIONS
from services.payments.domain.entitlement import MONTHLY, Entitlement, ScheduledAmount
from services.payments.handlers.entitlements import save

SCHEDULE = (
    ScheduledAmount(date(2026, 1, 1), Decimal("316.00"), "2026"),
    ScheduledAmount(date(2027, 1, 1), Decimal("330.00"), "2027"),
)


async def payments_schema(database: Database, name: str | None = None) -> str:
    schema = name or f"payments_{uuid.uuid4().hex[:8]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    return schema


async def seed_entitlements(
    database: Database, schema: str, count: int, *, start: date = date(2026, 11, 1)
) -> list[str]:
    """`count` active monthly pensions from `start`, in chunks; their case ids."""
    case_ids = []
    for first in range(0, count, 500):
        granted = []
        for _ in range(min(500, count - first)):
            case_id = str(uuid.uuid4())
            entitlement = Entitlement.grant(
                case_id=case_id,
                national_id=uuid.uuid4().hex[:7].upper(),
                payee_name="Aysel Məmmədova & Co",
                benefit="old_age_pension",
                payment=MONTHLY,
                start_date=start,
                end_date=None,
                schedule=SCHEDULE,
                lump_sum=None,
                iban="AZ21NABZ00000000137010001944",
                at=datetime.now(UTC),
            )
            granted.append(entitlement)
            case_ids.append(case_id)
        async with unit_of_work(database, schema) as work:
            await save(work, granted, correlation_id=None, causation_id=None, check_now=False)
    return case_ids
