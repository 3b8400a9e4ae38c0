"""The CloudEvents codec, the registry, and schema compatibility."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from typing import Any

import pytest

from contracts import (
    InvalidEventData,
    NotACloudEvent,
    UnknownEventType,
    decode,
    encode,
    new_cloud_event,
    registered_types,
)
from contracts.civil_registry import PersonDied
from contracts.compatibility import breaking_changes, committed_schemas, current_schemas, render
from contracts.registry import event_model
from contracts.topics import ALL_TOPICS


def _death_document() -> dict[str, Any]:
    event = new_cloud_event(
        PersonDied(national_id="5ZK7PQM", date_of_death=date(2026, 3, 1)),
        source="urn:registry",
        subject="case-1",
        correlationid="c-1",
    )
    document: dict[str, Any] = json.loads(encode(event))
    return document


def test_encoded_event_decodes_to_the_registered_model() -> None:
    document = _death_document()
    assert document["specversion"] == "1.0"
    assert document["type"] == "dost.registry.PersonDied.v1"
    assert document["datacontenttype"] == "application/json"
    event = decode(json.dumps(document).encode())
    assert isinstance(event.data, PersonDied)
    assert event.data.date_of_death == date(2026, 3, 1)
    assert (event.subject, event.correlationid) == ("case-1", "c-1")


@pytest.mark.parametrize("raw", [b"", b"\xff\xfe", b"[1, 2]", b"{not json", b"42"])
def test_bytes_that_are_not_a_json_object_raise_not_a_cloudevent(raw: bytes) -> None:
    with pytest.raises(NotACloudEvent):
        decode(raw)


@pytest.mark.parametrize("missing", ["id", "source", "type", "time", "specversion", "data"])
def test_envelope_without_a_required_attribute_is_not_a_cloudevent(missing: str) -> None:
    document = _death_document()
    del document[missing]
    with pytest.raises(NotACloudEvent) as raised:
        decode(json.dumps(document))
    assert missing in str(raised.value)


def test_naive_time_is_rejected() -> None:
    document = _death_document()
    document["time"] = "2026-01-01T10:00:00"
    with pytest.raises(NotACloudEvent):
        decode(json.dumps(document))


def test_unknown_type_raises_unknown_event_type() -> None:
    document = _death_document()
    document["type"] = "dost.registry.PersonBorn.v1"
    with pytest.raises(UnknownEventType) as raised:
        decode(json.dumps(document))
    assert "dost.registry.PersonBorn.v1" in str(raised.value)


def test_invalid_data_names_every_bad_field() -> None:
    document = _death_document()
    document["data"] = {"national_id": "bad", "date_of_death": "yesterday", "extra": 1}
    with pytest.raises(InvalidEventData) as raised:
        decode(json.dumps(document))
    assert {error.loc for error in raised.value.errors} == {
        "data.national_id",
        "data.date_of_death",
        "data.extra",
    }


def test_every_type_name_follows_the_convention_and_has_a_public_topic() -> None:
    for name, model in registered_types().items():
        context = name.split(".")[1]
        assert name.startswith("dost.")
        assert name.split(".")[-1].startswith("v")
        assert model.topic in ALL_TOPICS
        assert f".{context}." in model.topic


def test_registering_a_malformed_type_name_fails() -> None:
    with pytest.raises(ValueError, match="not dost"):
        event_model("PersonDied", topic="x")


def test_committed_schemas_are_current() -> None:
    """Run `make schemas` (dost contracts export) after a compatible change."""
    current = {name: render(schema) for name, schema in current_schemas().items()}
    committed = {name: render(schema) for name, schema in committed_schemas().items()}
    assert committed == current


def test_no_committed_schema_changed_incompatibly_without_a_new_major_version() -> None:
    current = current_schemas()
    for name, committed in committed_schemas().items():
        assert name in current, f"{name} was removed; keep publishing it or retire it explicitly"
        assert breaking_changes(committed, current[name]) == [], name


def _schema() -> dict[str, Any]:
    return copy.deepcopy(current_schemas()["dost.registry.PersonDied.v1"])


def test_removed_or_renamed_field_is_breaking() -> None:
    changed = _schema()
    data = changed["properties"]["data"]
    data["properties"]["person_id"] = data["properties"].pop("national_id")
    data["required"] = ["person_id", "date_of_death"]
    problems = breaking_changes(_schema(), changed)
    assert "data.national_id: field removed or renamed" in problems
    assert "data.person_id: new required field" in problems


def test_changed_type_is_breaking() -> None:
    changed = _schema()
    changed["properties"]["data"]["properties"]["date_of_death"] = {"type": "integer"}
    assert any("date_of_death: type changed" in p for p in breaking_changes(_schema(), changed))


def test_new_required_field_is_breaking_but_new_optional_field_is_not() -> None:
    optional = _schema()
    optional["properties"]["data"]["properties"]["place"] = {"type": "string"}
    assert breaking_changes(_schema(), optional) == []
    required = copy.deepcopy(optional)
    required["properties"]["data"]["required"].append("place")
    assert breaking_changes(_schema(), required) == ["data.place: new required field"]


def test_published_schemas_tell_senders_that_text_refuses_control_characters() -> None:
    schemas = current_schemas()
    applicant = schemas["dost.intake.SubmitApplication.v1"]["$defs"]["Applicant"]
    name_pattern = re.compile(applicant["properties"]["full_name"]["pattern"])
    assert name_pattern.match("Aysel Mammadova")
    assert not name_pattern.match("Aysel\nMammadova")
    withdrawn = schemas["dost.intake.ApplicationWithdrawn.v1"]["properties"]["data"]
    (text, _null) = withdrawn["properties"]["reason"]["anyOf"]
    reason_pattern = re.compile(text["pattern"])
    assert reason_pattern.match("moved abroad\r\nto Georgia\t(2026)")
    assert not reason_pattern.match("moved\x00abroad")
