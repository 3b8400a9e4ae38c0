"""Wiring: build the runtime and the app from settings; nothing else."""

from pathlib import Path

from fastapi import FastAPI

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from services.eligibility import DESCRIPTION
from services.eligibility.settings import EligibilitySettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: EligibilitySettings | None = None) -> FastAPI:
    settings = settings or EligibilitySettings()
    runtime = ServiceRuntime(name="eligibility", settings=settings, migrations=[MIGRATIONS])
    return create_service_app(
        runtime,
        title="DOST eligibility",
        description=DESCRIPTION,
    )
