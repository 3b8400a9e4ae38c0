"""Wiring: build the runtime and the app from settings; nothing else."""

from pathlib import Path

from fastapi import FastAPI

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from contracts.payments import (
    EntitlementGranted,
    EntitlementResumed,
    EntitlementSuspended,
    EntitlementTerminated,
    OverpaymentDetected,
    PaymentInstructionIssued,
    PaymentReturned,
    PaymentSettled,
)
from services.payments import DESCRIPTION, api, consumers
from services.payments.handlers.payment_run import PaymentRun
from services.payments.iso20022.pain001 import Debtor
from services.payments.settings import PaymentsSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: PaymentsSettings | None = None) -> FastAPI:
    settings = settings or PaymentsSettings()
    runtime = ServiceRuntime(
        name="payments", schema=settings.schema_name, settings=settings, migrations=[MIGRATIONS]
    )
    consumers.register(runtime)
    payment_run = PaymentRun(
        bank_dir=settings.bank_files,
        debtor=Debtor(settings.debtor_name, settings.debtor_iban, settings.debtor_bic),
        chunk=settings.run_chunk,
        file_chunk=settings.run_file_chunk,
        lanes=settings.run_lanes,
    )
    runtime.run_jobs_of(payment_run, payment_run.lane)
    runtime.document_events(
        EntitlementGranted,
        PaymentInstructionIssued,
        PaymentSettled,
        PaymentReturned,
        EntitlementSuspended,
        EntitlementResumed,
        EntitlementTerminated,
        OverpaymentDetected,
    )
    return create_service_app(
        runtime, title="DOST payments", description=DESCRIPTION, routers=[api.router]
    )
