"""Wiring: build the runtime and the app from settings; nothing else."""

from pathlib import Path

from fastapi import FastAPI

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from services.payments import DESCRIPTION
from services.payments.settings import PaymentsSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    runtime = ServiceRuntime(name="payments", settings=settings, migrations=[MIGRATIONS])
    return create_service_app(
        runtime,
        title="DOST payments",
        description=DESCRIPTION,
    )
