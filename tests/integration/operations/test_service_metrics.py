"""What each service's /metrics tells an operator: handling latency and counts by event
type, dead letters open, the outbox backlog, consumer lag per partition, a job's progress."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest

from chassis.database import Database
from tests.integration.applications import application
from tests.integration.conftest import RunningService
from tests.integration.lifecycle.helpers import case_status, person, submit

pytestmark = pytest.mark.integration


async def scrape_until(url: str, *patterns: str, timeout: float = 30) -> str:
    """The service's metrics once every pattern is in them."""
    async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(timeout):
        while True:
            text = (await client.get(f"{url}/metrics")).text
            if all(re.search(pattern, text, re.MULTILINE) for pattern in patterns):
                return text
            await asyncio.sleep(0.5)


async def test_metrics_show_handling_by_type_backlogs_and_lag(
    clerk: httpx.AsyncClient,
    intake_service: RunningService,
    eligibility_service: RunningService,
) -> None:
    case_id = await submit(clerk, person(application()))
    await case_status(clerk, case_id, "approved")
    decisions = f'subscription="{eligibility_service.schema}.applications"'
    text = await scrape_until(
        eligibility_service.url,
        rf'^dost_event_handling_seconds_bucket\{{.*{decisions}.*type="dost.intake.ApplicationSubmitted.v1"',
        rf'^dost_events_handled_total\{{.*{decisions}.*type="dost.intake.ApplicationSubmitted.v1"',
        rf'^dost_outbox_backlog\{{.*schema="{eligibility_service.schema}"',
        rf"^dost_dead_letters_open\{{.*{decisions}",
        rf'^dost_consumer_lag\{{.*partition="\d".*{decisions}.*topic="dost.intake.events.v1"',
    )
    handled = re.search(
        rf'^dost_events_handled_total\{{.*{decisions}.*type="dost.intake.ApplicationSubmitted.v1"'
        r".*\} (\d+(?:\.\d+)?)$",
        text,
        re.MULTILINE,
    )
    assert handled is not None
    assert float(handled.group(1)) >= 1


async def test_a_running_jobs_progress_is_a_gauge(
    payments_service: RunningService, database: Database
) -> None:
    """Progress of a running job (a payment run, a rebuild) is published while it runs. The
    job here is of a kind no runner of the service takes, so it stays as written."""
    name = f"gauge-{uuid.uuid4().hex[:8]}"
    await database.pool.execute(
        f"INSERT INTO {payments_service.schema}.jobs (name, kind, params, status, done, total)"
        " VALUES ($1, 'progress-probe', '{}'::jsonb, 'running', 1234, 5000)",
        name,
    )
    try:
        await scrape_until(
            payments_service.url,
            rf'^dost_job_done\{{.*job="{name}".*\}} 1234(\.0)?$',
            rf'^dost_job_total\{{.*job="{name}".*\}} 5000(\.0)?$',
        )
        await database.pool.execute(
            f"UPDATE {payments_service.schema}.jobs SET status = 'completed' WHERE name = $1",
            name,
        )
        async with httpx.AsyncClient(timeout=5) as client, asyncio.timeout(30):
            while name in (await client.get(f"{payments_service.url}/metrics")).text:
                await asyncio.sleep(0.5)  # a finished job leaves the gauge
    finally:
        await database.pool.execute(
            f"DELETE FROM {payments_service.schema}.jobs WHERE name = $1", name
        )
