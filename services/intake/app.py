"""Wiring: build the runtime and the app from settings; nothing else."""

from pathlib import Path

from fastapi import FastAPI

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from contracts.intake import ApplicationSubmitted, ApplicationWithdrawn, SubmissionRejected
from services.intake import DESCRIPTION, api, consumers, projections
from services.intake.settings import IntakeSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    runtime = ServiceRuntime(
        name="intake", schema=settings.schema_name, settings=settings, migrations=[MIGRATIONS]
    )
    consumers.register(runtime)
    runtime.run_jobs_of(projections.TrackerRebuild(settings.kafka_bootstrap_servers))
    runtime.document_events(ApplicationSubmitted, ApplicationWithdrawn, SubmissionRejected)
    return create_service_app(
        runtime, title="DOST intake", description=DESCRIPTION, routers=[api.router]
    )
