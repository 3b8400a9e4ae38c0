"""Wiring: build the runtime and the app from settings; nothing else."""

from pathlib import Path

from fastapi import FastAPI

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from services.notifications import DESCRIPTION
from services.notifications.settings import NotificationsSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    runtime = ServiceRuntime(name="notifications", settings=settings, migrations=[MIGRATIONS])
    return create_service_app(
        runtime,
        title="DOST notifications",
        description=DESCRIPTION,
    )
