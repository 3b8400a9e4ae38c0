"""The services' AsyncAPI documents as committed under docs/asyncapi/ (`make schemas`), so
an outside institution can integrate from them without running anything."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI

DOCS = Path(__file__).resolve().parents[1] / "docs" / "asyncapi"


def service_documents() -> dict[str, dict[str, Any]]:
    """Each service's document, built from its app as it would serve it at /asyncapi."""
    from chassis.http import service_asyncapi
    from services.eligibility.app import create_app as eligibility
    from services.eligibility.settings import EligibilitySettings
    from services.intake.app import create_app as intake
    from services.intake.settings import IntakeSettings
    from services.notifications.app import create_app as notifications
    from services.notifications.settings import NotificationsSettings
    from services.payments.app import create_app as payments
    from services.payments.settings import PaymentsSettings

    documents = {}
    with tempfile.TemporaryDirectory() as state:  # (building an app may make local keys)
        apps: dict[str, FastAPI] = {
            "intake": intake(IntakeSettings(DOST_STATE_DIR=state)),
            "eligibility": eligibility(EligibilitySettings(DOST_STATE_DIR=state)),
            "payments": payments(PaymentsSettings(DOST_STATE_DIR=state)),
            "notifications": notifications(NotificationsSettings(DOST_STATE_DIR=state)),
        }
        for name, app in apps.items():
            documents[name] = service_asyncapi(
                app.state.runtime, title=app.title, description=app.description
            )
    return documents


def consumer_groups(documents: dict[str, dict[str, Any]] | None = None) -> dict[str, list[str]]:
    """Every consumer group of the platform and the topics it reads, as the services'
    AsyncAPI documents (built with this environment's schema names) declare them."""
    groups: dict[str, list[str]] = {}
    for document in (documents or service_documents()).values():
        for operation in document["operations"].values():
            if operation["action"] == "receive":
                (group,) = operation["bindings"]["kafka"]["groupId"]["enum"]
                topic = operation["channel"]["$ref"].removeprefix("#/channels/")
                groups.setdefault(group, []).append(topic)
    return groups


def rendered(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def export(directory: Path = DOCS) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, document in service_documents().items():
        path = directory / f"{name}.json"
        path.write_text(rendered(document), encoding="utf-8")
        written.append(path)
    return written
