"""The services' AsyncAPI documents: committed under docs/asyncapi/ exactly as generated,
valid AsyncAPI 3.0.0 with every reference resolving, and saying what an outside system
needs: CloudEvents envelopes with their data schemas, the key, the correlation id, the
dead-letter channels and headers, topic names as channel ids."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft7Validator

from deploy.asyncapi_docs import DOCS, rendered, service_documents

SCHEMA = DOCS / "schema" / "asyncapi-3.0.0.json"
SERVICES = ("intake", "eligibility", "payments", "notifications")


@cache
def documents() -> dict[str, dict[str, Any]]:
    return service_documents()


@pytest.mark.parametrize("name", SERVICES)
def test_the_committed_document_is_the_generated_one(name: str) -> None:
    committed = (DOCS / f"{name}.json").read_text(encoding="utf-8")
    assert committed == rendered(documents()[name]), f"run `make schemas` ({name})"


@pytest.mark.parametrize("name", SERVICES)
def test_the_document_is_valid_asyncapi_and_every_reference_resolves(name: str) -> None:
    document = json.loads((DOCS / f"{name}.json").read_text(encoding="utf-8"))
    errors = list(Draft7Validator(json.loads(SCHEMA.read_text())).iter_errors(document))
    assert not errors, [f"{list(e.path)}: {e.message[:200]}" for e in errors[:5]]
    for reference in _references(document):
        _resolve(document, reference)


def _references(node: Any) -> list[str]:
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.append(value)
            else:
                found += _references(value)
    elif isinstance(node, list):
        for item in node:
            found += _references(item)
    return found


def _resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    node: Any = document
    for part in reference[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict), f"{reference} does not resolve"
        assert part in node, f"{reference} does not resolve"
        node = node[part]
    return node


def receives(document: dict[str, Any], topic: str) -> set[str]:
    """The message titles the service's receive operations take from `topic`."""
    titles = set()
    for operation in document["operations"].values():
        if (
            operation["action"] == "receive"
            and operation["channel"]["$ref"] == f"#/channels/{topic}"
        ):
            for reference in operation["messages"]:
                message = _resolve(document, _resolve(document, reference["$ref"])["$ref"])
                titles.add(message["title"])
    return titles


def test_consumed_commands_and_registry_events_are_described_with_their_data() -> None:
    intake, payments = documents()["intake"], documents()["payments"]
    assert "dost.intake.SubmitApplication.v1" in receives(intake, "dost.intake.commands.v1")
    assert "dost.registry.PersonDied.v1" in receives(payments, "dost.registry.events.v1")
    died = payments["components"]["schemas"]["dost.registry.PersonDied.v1"]
    assert set(died["properties"]["data"]["properties"]) == {"national_id", "date_of_death"}
    submit = intake["components"]["schemas"]["dost.intake.SubmitApplication.v1"]
    assert {"benefit", "applicant", "facts"} <= set(submit["properties"]["data"]["properties"])


@pytest.mark.parametrize("name", SERVICES)
def test_every_message_is_a_cloudevent_keyed_by_case_with_a_correlation_id_in_it(name: str) -> None:
    document = documents()[name]
    for message_id, message in document["components"]["messages"].items():
        key = message["bindings"]["kafka"]["key"]
        assert key["type"] == "string", message_id
        if message_id == "DeadLetter":
            continue
        assert message["contentType"] == "application/cloudevents+json"
        assert message["correlationId"]["location"] == "$message.payload#/correlationid"
        envelope = _resolve(document, message["payload"]["$ref"])
        assert {
            "specversion",
            "id",
            "source",
            "type",
            "subject",
            "correlationid",
            "causationid",
            "data",
        } <= set(envelope["properties"]), message_id
        assert envelope["properties"]["type"]["const"] == message_id


@pytest.mark.parametrize("name", SERVICES)
def test_channels_are_topics_and_every_consumed_one_has_its_dead_letters(name: str) -> None:
    document = documents()[name]
    for channel_id, channel in document["channels"].items():
        assert channel["address"] == channel_id
    consumed = {
        operation["channel"]["$ref"].removeprefix("#/channels/")
        for operation in document["operations"].values()
        if operation["action"] == "receive"
    }
    assert consumed
    for topic in consumed:
        dlq = document["channels"][f"{topic}.dlq"]
        assert "DeadLetter" in dlq["messages"]
    headers = document["components"]["messages"]["DeadLetter"]["headers"]["properties"]
    assert {
        "dlq-reason",
        "dlq-error",
        "dlq-subscription",
        "dlq-source-topic",
        "dlq-source-partition",
        "dlq-source-offset",
    } == set(headers)
    assert "blocked_by_earlier_dead_letter" in headers["dlq-reason"]["enum"]
    assert "## What is refused, and how" in document["info"]["description"]


@pytest.mark.parametrize(
    ("name", "topic", "event"),
    [
        ("payments", "dost.payments.events.v1", "dost.payments.PaymentInstructionIssued.v1"),
        ("notifications", "dost.notifications.events.v1", "dost.notifications.NotificationSent.v1"),
        ("intake", "dost.intake.events.v1", "dost.intake.SubmissionRejected.v1"),
        ("eligibility", "dost.eligibility.events.v1", "dost.eligibility.EligibilityDecided.v1"),
    ],
)
def test_what_each_service_publishes_is_a_send_operation(name: str, topic: str, event: str) -> None:
    document = documents()[name]
    operation = document["operations"][f"send.{topic}"]
    assert operation["action"] == "send"
    assert f"#/channels/{topic}/messages/{event}" in [m["$ref"] for m in operation["messages"]]


def test_the_schema_is_vendored_with_its_notice() -> None:
    assert json.loads(SCHEMA.read_text())["title"] == "AsyncAPI 3.0.0 schema."
    assert "Apache License 2.0" in (SCHEMA.parent / "NOTICE.md").read_text()
    assert Path(DOCS / "intake.json").exists()
