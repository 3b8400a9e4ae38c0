"""One intake service for the session, on the real database and broker."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chassis.auth import Role, mint_local_token
from chassis.settings import ChassisSettings
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from tests.running_service import serving

APPLICATION: dict[str, Any] = {
    "benefit": "old_age_pension",
    "center_id": "baku-yasamal",
    "applicant": {
        "national_id": "5ZK7PQM",
        "full_name": "Aysel Mammadova",
        "birth_date": "1958-03-14",
        "phone": "+994501234567",
        "email": "aysel@example.az",
        "language": "az",
        "bank_account": "AZ21NABZ00000000137010001944",
    },
    "facts": {"insurance_years": 31},
}


def application(**changes: Any) -> dict[str, Any]:
    """The DOMAIN.md example application, with top-level `changes`."""
    body = copy.deepcopy(APPLICATION)
    body.update(changes)
    return body


@pytest.fixture(scope="session")
async def intake_url(settings: ChassisSettings) -> AsyncIterator[str]:
    intake_settings = IntakeSettings(**settings.model_dump(by_alias=True), schema_name="intake")
    async with serving(create_app(intake_settings)) as base_url:
        yield base_url


def bearer(settings: ChassisSettings, *roles: Role, subject: str = "clerk-1") -> dict[str, str]:
    token = mint_local_token(settings.state_dir, roles=roles, subject=subject)
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def clerk(intake_url: str, settings: ChassisSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=intake_url, headers=bearer(settings, Role.CLERK), timeout=10
    ) as client:
        yield client
