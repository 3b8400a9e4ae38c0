"""The services, each once for the session, on the real database and broker.

Each service runs in a schema of its own, named afresh for the session, and its consumer
groups are named after that schema: no test depends on what an earlier session, or an
earlier file of this one, left behind. The services share the real topics, though: once
eligibility runs, it decides every application intake publishes, so tests that use intake
alone must hold whether or not eligibility runs in the same session."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from chassis.auth import Role
from chassis.settings import ChassisSettings
from services.eligibility.app import create_app as create_eligibility
from services.eligibility.settings import EligibilitySettings
from services.intake.app import create_app as create_intake
from services.intake.settings import IntakeSettings
from services.payments.app import create_app as create_payments
from services.payments.settings import PaymentsSettings
from tests.integration.applications import bearer
from tests.running_service import serving


@dataclass(frozen=True)
class RunningService:
    """A service serving for the session: its base URL and its PostgreSQL schema."""

    url: str
    schema: str


def _schema(service: str) -> str:
    return f"{service}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
async def intake_service(settings: ChassisSettings) -> AsyncIterator[RunningService]:
    schema = _schema("intake")
    intake_settings = IntakeSettings(**settings.model_dump(by_alias=True), schema_name=schema)
    async with serving(create_intake(intake_settings)) as base_url:
        yield RunningService(base_url, schema)


@pytest.fixture(scope="session")
async def eligibility_service(settings: ChassisSettings) -> AsyncIterator[RunningService]:
    schema = _schema("eligibility")
    eligibility_settings = EligibilitySettings(
        **settings.model_dump(by_alias=True), schema_name=schema
    )
    async with serving(create_eligibility(eligibility_settings)) as base_url:
        yield RunningService(base_url, schema)


@pytest.fixture(scope="session")
async def payments_service(settings: ChassisSettings) -> AsyncIterator[RunningService]:
    schema = _schema("payments")
    payments_settings = PaymentsSettings(
        **settings.model_dump(by_alias=True),
        schema_name=schema,
        bank_dir=settings.state_dir / f"bank-{schema}",
        run_chunk=50,
    )
    async with serving(create_payments(payments_settings)) as base_url:
        yield RunningService(base_url, schema)


@pytest.fixture(scope="session")
def payments_url(payments_service: RunningService) -> str:
    return payments_service.url


@pytest.fixture(scope="session")
def payments_schema(payments_service: RunningService) -> str:
    return payments_service.schema


@pytest.fixture(scope="session")
def intake_url(intake_service: RunningService) -> str:
    return intake_service.url


@pytest.fixture(scope="session")
def intake_schema(intake_service: RunningService) -> str:
    return intake_service.schema


@pytest.fixture(scope="session")
def eligibility_url(eligibility_service: RunningService) -> str:
    return eligibility_service.url


@pytest.fixture(scope="session")
def eligibility_schema(eligibility_service: RunningService) -> str:
    return eligibility_service.schema


@pytest.fixture
async def clerk(intake_url: str, settings: ChassisSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.CLERK), timeout=10
    ) as client:
        yield client


@pytest.fixture
async def caseworker(
    eligibility_url: str, settings: ChassisSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """A caseworker (who submitted nothing) on the eligibility service."""
    async with httpx.AsyncClient(
        base_url=eligibility_url,
        headers=bearer(settings, Role.CASEWORKER, subject="caseworker-1"),
        timeout=10,
    ) as client:
        yield client
