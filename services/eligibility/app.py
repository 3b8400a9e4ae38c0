"""Wiring: build the runtime and the app from settings; nothing else."""

from pathlib import Path

from fastapi import FastAPI

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from contracts.eligibility import (
    EligibilityDecided,
    ReferredForReview,
    ReviewCompleted,
    WithdrawalRejected,
)
from services.eligibility import DESCRIPTION, api, consumers, projections
from services.eligibility.settings import EligibilitySettings, load_policy_book

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: EligibilitySettings | None = None) -> FastAPI:
    settings = settings or EligibilitySettings()
    book, _ = load_policy_book(settings.policy_dir)  # a bad policy file stops the service here
    runtime = ServiceRuntime(
        name="eligibility",
        schema=settings.schema_name,
        settings=settings,
        migrations=[MIGRATIONS],
    )
    consumers.register(runtime, book)
    runtime.run_jobs_of(projections.ReadModelRebuild())
    runtime.document_events(
        EligibilityDecided, ReferredForReview, ReviewCompleted, WithdrawalRejected
    )
    return create_service_app(
        runtime,
        title="DOST eligibility",
        description=DESCRIPTION,
        routers=[api.router, api.operations],
    )
