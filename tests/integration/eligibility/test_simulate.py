"""`dost eligibility simulate` on a seeded history: what a proposed policy would change."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from chassis.database import Database, migrate
from chassis.settings import ChassisSettings
from chassis.unit_of_work import unit_of_work
from contracts import new_cloud_event
from contracts.application import ApplicationBody
from contracts.intake import ApplicationSubmitted
from services.eligibility.app import MIGRATIONS
from services.eligibility.handlers import decide_application
from services.eligibility.settings import DEFAULT_POLICY_DIR, load_policy_book
from tests.integration.applications import application

pytestmark = pytest.mark.integration
SUBMITTED_AT = datetime(2026, 6, 10, 9, 0, tzinfo=UTC)


def _submitted(body: dict[str, Any], born: str) -> Any:
    body["applicant"]["birth_date"] = born
    body["applicant"]["national_id"] = uuid.uuid4().hex[:7].upper()
    case_id = str(uuid.uuid4())
    data = ApplicationSubmitted(
        case_id=case_id,
        application=ApplicationBody.model_validate(body, context={"today": date(2026, 6, 10)}),
        submitted_at=SUBMITTED_AT,
        channel="http",
        submitted_by="clerk-1",
    )
    return new_cloud_event(data, source="urn:test", subject=case_id)


@pytest.fixture
async def seeded_schema(database: Database) -> str:
    schema = f"sim_{uuid.uuid4().hex[:10]}"
    async with database.pool.acquire() as connection:
        await migrate(connection, schema, [MIGRATIONS])
    book, _ = load_policy_book(DEFAULT_POLICY_DIR)
    history = [
        _submitted(application(facts={"insurance_years": 30}), "1962-01-01"),  # 64: rejected
        _submitted(application(facts={"insurance_years": 25}), "1950-01-01"),  # 280.00
        _submitted(application(facts={"insurance_years": 40}), "1955-05-05"),  # 370.00
        _submitted(
            application(
                benefit="unemployment_benefit",
                facts={
                    "registered_unemployed": True,
                    "insured_months_last_18": 12,
                    "average_monthly_wage": "1000.00",
                },
            ),
            "1990-01-01",
        ),  # 700.00 for six months
        _submitted(
            application(benefit="childbirth_allowance", facts={"child_birth_date": "2026-05-01"}),
            "1995-01-01",
        ),
    ]
    for event in history:
        async with unit_of_work(database, schema) as work:
            await decide_application(work, event, book, now=SUBMITTED_AT)
    return schema


def test_simulation_reports_changed_decisions_and_spending_per_benefit_and_writes_nothing(
    seeded_schema: str, settings: ChassisSettings, tmp_path: Path
) -> None:
    proposal = tmp_path / "proposal.toml"
    proposal.write_text(
        'version = "2026-proposal"\neffective_from = 2026-09-01\nextends = "2026"\n'
        '[old_age_pension]\nminimum_age = 63\nbase_amount = "300.00"\n'
    )
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "ELIGIBILITY_SCHEMA_NAME": seeded_schema,
        "DOST_STATE_DIR": str(settings.state_dir),
    }
    before = _count_rows(settings, seeded_schema)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "deploy",
            "eligibility",
            "simulate",
            "--policy",
            str(proposal),
            "--as-of",
            "2026-07-15",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()[2:]}
    # benefit, applications, changed, approved now->proposed, spending now, proposed, change
    assert lines["old_age_pension"] == [
        "old_age_pension",
        "3",
        "1",
        "2->3",
        "650.00",
        "1020.00",
        "+370.00",
    ]
    assert lines["unemployment_benefit"] == [
        "unemployment_benefit",
        "1",
        "0",
        "1->1",
        "700.00",
        "700.00",
        "+0.00",
    ]
    assert lines["childbirth_allowance"] == [
        "childbirth_allowance",
        "1",
        "0",
        "1->1",
        "0.00",
        "0.00",
        "+0.00",
    ]
    assert lines["total"] == ["total", "5", "1", "4->5", "1350.00", "1720.00", "+370.00"]
    assert _count_rows(settings, seeded_schema) == before


def test_simulation_refuses_a_bad_policy_file(
    seeded_schema: str, settings: ChassisSettings, tmp_path: Path
) -> None:
    proposal = tmp_path / "bad.toml"
    proposal.write_text(
        'version = "p"\neffective_from = 2026-09-01\nextends = "2026"\n[old_age_pension]\nbase_amount = 1.5\n'
    )
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "ELIGIBILITY_SCHEMA_NAME": seeded_schema,
    }
    result = subprocess.run(
        [sys.executable, "-m", "deploy", "eligibility", "simulate", "--policy", str(proposal)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "not floats" in result.stderr


def _count_rows(settings: ChassisSettings, schema: str) -> tuple[int, ...]:
    async def count() -> tuple[int, ...]:
        connection = await asyncpg.connect(settings.database_url)
        try:
            return tuple(
                [
                    await connection.fetchval(f"SELECT count(*) FROM {schema}.{table}")
                    for table in ("events", "outbox", "awards", "review_queue")
                ]
            )
        finally:
            await connection.close()

    return asyncio.run(count())
