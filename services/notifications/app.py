"""Wiring: build the runtime and the app from settings; nothing else."""

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from chassis.http import create_service_app
from chassis.runtime import ServiceRuntime
from contracts.notifications import NotificationFailed, NotificationSent
from services.notifications import DESCRIPTION, api, consumers
from services.notifications.channels.sms_gateway import SmsGateway
from services.notifications.channels.smtp import SmtpMailer
from services.notifications.domain.delivery import RetryPolicy
from services.notifications.handlers.citizens import Planning
from services.notifications.handlers.dispatch import Dispatcher, limiter
from services.notifications.rendering import Renderer
from services.notifications.settings import NotificationsSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def create_app(settings: NotificationsSettings | None = None) -> FastAPI:
    settings = settings or NotificationsSettings()
    runtime = ServiceRuntime(
        name="notifications",
        schema=settings.schema_name,
        settings=settings,
        migrations=[MIGRATIONS],
    )
    renderer = Renderer()
    feedback_key = settings.feedback_signing_key()
    planning = Planning(
        renderer=renderer,
        quiet_hours=settings.quiet,
        feedback_url=settings.feedback_url,
        feedback_key=feedback_key,
        feedback_valid=timedelta(days=settings.feedback_valid_days),
        stale_after=timedelta(hours=settings.stale_after_hours),
    )
    consumers.register(runtime, planning)
    token = settings.sms_gateway_token
    dispatcher = Dispatcher(
        database=runtime.database,
        schema=runtime.schema,
        channels={
            "sms": SmsGateway(
                settings.sms_gateway_url,
                token=token.get_secret_value() if token else None,
                sender=settings.sms_sender,
                timeout=settings.sms_timeout_s,
            ),
            "email": SmtpMailer(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.mail_from,
                message_id_domain=settings.message_id_domain,
                username=settings.smtp_username,
                password=(
                    settings.smtp_password.get_secret_value() if settings.smtp_password else None
                ),
                tls=settings.smtp_tls,
                ca_file=str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
                timeout=settings.smtp_timeout_s,
            ),
        },
        limiters={
            "sms": limiter(settings.sms_per_second),
            "email": limiter(settings.emails_per_second),
        },
        retry=RetryPolicy(
            max_attempts=settings.max_attempts,
            base=timedelta(seconds=settings.retry_base_s),
            cap=timedelta(seconds=settings.retry_cap_s),
        ),
        quiet_hours=settings.quiet,
        batch=settings.dispatch_batch,
        interval=settings.dispatch_interval_s,
        claim_for=timedelta(seconds=settings.sending_lease_s),
    )
    runtime.run_alongside("dispatcher", dispatcher.run)
    runtime.document_events(NotificationSent, NotificationFailed)
    app = create_service_app(
        runtime, title="DOST notifications", description=DESCRIPTION, routers=[api.router]
    )
    app.state.renderer = renderer
    app.state.feedback_key = feedback_key
    return app
