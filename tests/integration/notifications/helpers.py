"""A notifications service of the test's own (its own schema), with a local SMS gateway and
SMTP server of its own, and ways to follow what reached them."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from chassis.auth import Role
from chassis.database import Database
from chassis.settings import ChassisSettings
from deploy.local.mail_server import MailSink, start_mail_server
from deploy.local.processes import free_port
from deploy.local.sms_gateway import SmsSink, create_gateway
from services.notifications.app import create_app
from services.notifications.settings import NotificationsSettings
from tests.integration.applications import application, bearer
from tests.running_service import serving

GATEWAY_TOKEN = "test-gateway-token"


@dataclass
class Sinks:
    """The local SMS gateway and SMTP server a notifications service sends to."""

    sms: SmsSink
    sms_url: str
    mail: MailSink
    smtp_port: int

    def texts_to(self, phone: str) -> list[dict[str, Any]]:
        return [message for message in self.sms.messages() if message["to"] == phone]

    def emails_to(self, address: str) -> list[dict[str, Any]]:
        return [message for message in self.mail.messages() if address in message["to"]]


@contextlib.asynccontextmanager
async def message_sinks(directory: Path) -> AsyncIterator[Sinks]:
    """The gateway served in this event loop, the SMTP server in a thread of its own."""
    sms = SmsSink(directory / "sms.jsonl", token=GATEWAY_TOKEN)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_gateway(sms), host="127.0.0.1", port=port, log_config=None, access_log=False
        )
    )
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign, assignment]
    task = asyncio.create_task(server.serve())
    controller, mail = start_mail_server(directory / "email.jsonl", port=free_port())
    try:
        async with asyncio.timeout(15):
            while not server.started:
                await asyncio.sleep(0.05)
        yield Sinks(sms, f"http://127.0.0.1:{port}/v1/messages", mail, controller.port)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=15)
        controller.stop()


def notifications_settings(
    settings: ChassisSettings, sinks: Sinks, schema: str, **overrides: Any
) -> NotificationsSettings:
    """Fast retries, no quiet hours and no rate limit to speak of, unless overridden."""
    values: dict[str, Any] = {
        "schema_name": schema,
        "sms_gateway_url": sinks.sms_url,
        "sms_gateway_token": GATEWAY_TOKEN,
        "smtp_port": sinks.smtp_port,
        "quiet_hours": "00:00-00:00",
        "max_attempts": 3,
        "retry_base_s": 0.2,
        "retry_cap_s": 0.5,
        "sms_per_second": 500,
        "emails_per_second": 500,
        "dispatch_interval_s": 0.1,
        "sending_lease_s": 10,
        **overrides,
    }
    return NotificationsSettings(**settings.model_dump(by_alias=True), **values)


@dataclass
class Notifications:
    url: str
    schema: str
    sinks: Sinks
    auditor: httpx.AsyncClient
    supervisor: httpx.AsyncClient
    citizen: httpx.AsyncClient  # no token at all

    async def messages(self, case_id: str) -> list[dict[str, Any]]:
        answer = await self.auditor.get("/v1/messages", params={"case_id": case_id})
        assert answer.status_code == 200, answer.text
        found: list[dict[str, Any]] = answer.json()
        return found

    async def until_messages(
        self,
        case_id: str,
        done: Callable[[list[dict[str, Any]]], bool],
        timeout: float = 60,
    ) -> list[dict[str, Any]]:
        """The case's messages once `done` holds for them."""
        async with asyncio.timeout(timeout):
            while not done(found := await self.messages(case_id)):
                await asyncio.sleep(0.2)
        return found


@contextlib.asynccontextmanager
async def notifications_service(
    settings: ChassisSettings, directory: Path, **overrides: Any
) -> AsyncIterator[Notifications]:
    schema = f"notifications_{uuid.uuid4().hex[:8]}"
    async with message_sinks(directory) as sinks:
        app = create_app(notifications_settings(settings, sinks, schema, **overrides))
        async with (
            serving(app) as url,
            httpx.AsyncClient(
                base_url=url, headers=bearer(settings, Role.AUDITOR, subject="aud-1"), timeout=10
            ) as auditor,
            httpx.AsyncClient(
                base_url=url, headers=bearer(settings, Role.SUPERVISOR, subject="sup-1"), timeout=10
            ) as supervisor,
            httpx.AsyncClient(base_url=url, timeout=10) as citizen,
        ):
            yield Notifications(url, schema, sinks, auditor, supervisor, citizen)


def citizen(language: str = "en", **changes: Any) -> dict[str, Any]:
    """An application by a person of their own, reachable at a phone and address of their
    own (so the sinks can be read per test)."""
    body = application(**changes)
    applicant = body["applicant"]
    applicant["national_id"] = uuid.uuid4().hex[:7].upper()
    applicant["phone"] = "+99450" + str(uuid.uuid4().int)[:7]
    applicant["email"] = f"citizen-{uuid.uuid4().hex[:10]}@example.az"
    applicant["language"] = language
    return body


def all_sent(kinds: set[str]) -> Callable[[list[dict[str, Any]]], bool]:
    """True once a message of every kind in `kinds` is sent on both channels."""

    def done(messages: list[dict[str, Any]]) -> bool:
        sent = {(m["kind"], m["channel"]) for m in messages if m["status"] == "sent"}
        return all((kind, channel) in sent for kind in kinds for channel in ("sms", "email"))

    return done


async def delivery_rows(database: Database, schema: str, case_id: str) -> list[dict[str, Any]]:
    rows = await database.pool.fetch(
        f"SELECT * FROM {schema}.deliveries WHERE case_id = $1 ORDER BY created_at", case_id
    )
    return [dict(row) for row in rows]
