"""The operator's `dost` commands against the real services: a case's whole story,
consumer lag, read models rebuilt and their status. Run as an operator runs them: the
`dost` command in a process of its own, pointed at the platform's database and broker."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest

from chassis.settings import ChassisSettings
from contracts.application import agency_today
from tests.integration.applications import application
from tests.integration.conftest import RunningService
from tests.integration.lifecycle.helpers import case_status, person, submit

pytestmark = pytest.mark.integration


async def dost(
    settings: ChassisSettings, intake_schema: str, *arguments: str, **schemas: str
) -> Completed:
    """Run `dost` in a process of its own, without blocking this event loop (the services
    under test run in it)."""
    env = {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "DOST_STATE_DIR": str(settings.state_dir),
        "INTAKE_SCHEMA_NAME": intake_schema,
        **{f"{service.upper()}_SCHEMA_NAME": name for service, name in schemas.items()},
        "COLUMNS": "200",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploy",
        *arguments,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(120):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return Completed(process.returncode or 0, out.decode(), err.decode())


@dataclass(frozen=True)
class Completed:
    returncode: int
    stdout: str
    stderr: str


def as_json(result: Completed) -> Any:
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


async def test_case_show_tells_the_whole_story_with_the_rules_of_the_decision(
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    intake_service: RunningService,
    eligibility_service: RunningService,
) -> None:
    case_id = await submit(clerk, person(application(facts={"insurance_years": 10})))
    await case_status(clerk, case_id, "rejected")
    story = as_json(await dost(settings, intake_service.schema, "case", "show", case_id, "--json"))
    assert story["status"] == "rejected"
    events = [entry["event"] for entry in story["timeline"]]
    assert events[0] == "dost.intake.ApplicationSubmitted.v1"
    assert "dost.eligibility.EligibilityDecided.v1" in events
    (decided,) = [e for e in story["timeline"] if e["event"].endswith("EligibilityDecided.v1")]
    assert decided["data"]["reasons"] == ["insufficient_insurance_record"]
    table = await dost(settings, intake_service.schema, "case", "show", case_id)
    assert table.returncode == 0, table.stderr
    for words in (
        "Timeline",
        "ApplicationSubmitted",
        "clerk-1",
        "reasons: insufficient_insurance_record",
        "Rules of the decision",
        "minimum_insurance_years",
    ):
        assert words in table.stdout, words
    missing = await dost(settings, intake_service.schema, "case", "show", "no-such-case")
    assert missing.returncode == 1
    assert "no case no-such-case" in missing.stdout


async def test_consumers_lag_lists_every_group_and_partition(
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    intake_service: RunningService,
    eligibility_service: RunningService,
) -> None:
    case_id = await submit(clerk, person(application()))
    await case_status(clerk, case_id, "approved")
    lags = as_json(
        await dost(
            settings,
            intake_service.schema,
            "consumers",
            "lag",
            "--json",
            eligibility=eligibility_service.schema,
        )
    )
    groups = {lag["group"] for lag in lags}
    assert f"{intake_service.schema}.tracker" in groups
    assert f"{eligibility_service.schema}.applications" in groups
    for lag in lags:
        assert lag["lag"] == max(0, lag["end"] - lag["committed"])
        assert lag["committed"] <= lag["end"] or lag["lag"] == 0
    table = await dost(
        settings, intake_service.schema, "consumers", "lag", eligibility=eligibility_service.schema
    )
    assert table.returncode == 0, table.stderr
    assert f"{eligibility_service.schema}.applications" in table.stdout
    assert "total lag:" in table.stdout


async def test_a_read_model_is_rebuilt_while_the_service_runs_and_its_status_shows_it(
    settings: ChassisSettings, intake_service: RunningService
) -> None:
    rebuilt = await dost(
        settings,
        intake_service.schema,
        "projections",
        "rebuild",
        "tracker",
        "--schema",
        intake_service.schema,
    )
    assert rebuilt.returncode == 0, rebuilt.stdout + rebuilt.stderr
    assert "result:" in rebuilt.stdout
    status = as_json(await dost(settings, intake_service.schema, "projections", "status", "--json"))
    (ours,) = [r for r in status["rebuilds"] if r["schema"] == intake_service.schema]
    assert (ours["kind"], ours["status"]) == ("tracker-rebuild", "completed")
    assert ours["done"] == ours["total"]
    table = await dost(settings, intake_service.schema, "projections", "status")
    assert "tracker-rebuild" in table.stdout


async def test_case_show_prints_free_text_as_it_was_written(
    clerk: httpx.AsyncClient,
    settings: ChassisSettings,
    intake_service: RunningService,
) -> None:
    assessed = (agency_today() - timedelta(days=20)).isoformat()
    body = application(  # referred to a caseworker: nothing decides it before the withdrawal
        benefit="disability_benefit", facts={"disability_group": 2, "assessment_date": assessed}
    )
    case_id = await submit(clerk, person(body))
    reason = "moved [/x] abroad [red]really[/red]"
    withdrawn = await clerk.post(f"/v1/applications/{case_id}/withdraw", json={"reason": reason})
    assert withdrawn.status_code in (200, 202), withdrawn.text
    await case_status(clerk, case_id, "withdrawn")
    shown = await dost(settings, intake_service.schema, "case", "show", case_id)
    assert shown.returncode == 0, shown.stderr
    assert reason in shown.stdout
