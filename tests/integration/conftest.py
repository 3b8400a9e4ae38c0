"""The services, each once for the session, on the real database and broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from chassis.auth import Role
from chassis.settings import ChassisSettings
from services.eligibility.app import create_app as create_eligibility
from services.eligibility.settings import EligibilitySettings
from services.intake.app import create_app as create_intake
from services.intake.settings import IntakeSettings
from tests.integration.applications import bearer
from tests.running_service import serving


@pytest.fixture(scope="session")
async def intake_url(settings: ChassisSettings) -> AsyncIterator[str]:
    intake_settings = IntakeSettings(**settings.model_dump(by_alias=True), schema_name="intake")
    async with serving(create_intake(intake_settings)) as base_url:
        yield base_url


@pytest.fixture(scope="session")
async def eligibility_url(settings: ChassisSettings) -> AsyncIterator[str]:
    eligibility_settings = EligibilitySettings(
        **settings.model_dump(by_alias=True), schema_name="eligibility"
    )
    async with serving(create_eligibility(eligibility_settings)) as base_url:
        yield base_url


@pytest.fixture
async def clerk(intake_url: str, settings: ChassisSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.CLERK), timeout=10
    ) as client:
        yield client
