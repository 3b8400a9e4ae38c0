"""Kafka records in both CloudEvents content modes, and poison that must be a contract error.

`contracts.decode_record` is looked up at call time so that, run against code without it,
each test fails on its own instead of the whole module failing to import.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from cloudevents.http import CloudEvent as SdkCloudEvent
from cloudevents.kafka import KafkaMessage, from_structured, to_binary, to_structured
from pydantic import ValidationError

import contracts
from contracts import (
    CloudEvent,
    InvalidEventData,
    NotACloudEvent,
    UnknownEventType,
    decode,
    encode,
    new_cloud_event,
)
from contracts.intake import ApplicationSubmitted, SubmitApplication
from tests.integration.applications import application

SUBMIT = "dost.intake.SubmitApplication.v1"
CLOUDEVENTS_JSON = b"application/cloudevents+json; charset=UTF-8"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
DEEP = 100_000


def _sdk_command(**attributes: str) -> SdkCloudEvent:
    return SdkCloudEvent(
        {
            "type": SUBMIT,
            "source": "urn:dost:ses",
            "id": "ses-cmd-1",
            "subject": "ses-case-1",
            "time": "2026-03-01T10:00:00+04:00",
            "datacontenttype": "application/json",
            "correlationid": "ses-corr-1",
            **attributes,
        },
        application(),
    )


def _read(
    value: bytes | str | None, headers: dict[str, bytes] | list[tuple[str, bytes]]
) -> CloudEvent:
    """Decode a record; `value` may be text because the SDK's KafkaMessage allows it."""
    raw = value.encode() if isinstance(value, str) else value
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    envelope: CloudEvent = contracts.decode_record(raw, pairs)
    return envelope


def _binary(**attributes: str) -> KafkaMessage:
    return to_binary(_sdk_command(**attributes))


def _structured_document(**changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(to_structured(_sdk_command()).value)
    document.update(changes)
    return document


def _submitted() -> ApplicationSubmitted:
    return ApplicationSubmitted.model_validate(
        {
            "case_id": "case-1",
            "application": application(),
            "submitted_at": "2026-03-01T10:00:00+04:00",
            "channel": "kafka",
            "submitted_by": "urn:dost:ses",
        }
    )


def _errors(raised: pytest.ExceptionInfo[Any]) -> dict[str, str]:
    return {error.loc: error.kind for error in raised.value.errors}


def _error_pairs(raised: pytest.ExceptionInfo[Any]) -> set[tuple[str, str]]:
    """Every (loc, kind); a field may also break its contract's own rules, listed beside."""
    return {(error.loc, error.kind) for error in raised.value.errors}


# --- both content modes, with the CNCF SDK on the other side -------------------------------


def _assert_is_the_sdk_command(event: CloudEvent) -> None:
    assert (event.id, event.source, event.type) == ("ses-cmd-1", "urn:dost:ses", SUBMIT)
    assert (event.subject, event.correlationid) == ("ses-case-1", "ses-corr-1")
    assert event.time == datetime(2026, 3, 1, 6, 0, tzinfo=UTC)
    assert isinstance(event.data, SubmitApplication)
    assert event.data.applicant.full_name == "Aysel Mammadova"
    assert event.data.applicant.birth_date == date(1958, 3, 14)


def test_binary_mode_command_from_the_cloudevents_sdk_decodes_to_the_typed_envelope() -> None:
    message = _binary()
    assert "ce_specversion" in message.headers
    assert message.headers["content-type"] == b"application/json"
    _assert_is_the_sdk_command(_read(message.value, message.headers))


def test_structured_mode_command_from_the_cloudevents_sdk_decodes_to_the_typed_envelope() -> None:
    # The SDK labels a structured record with the data's content type (application/json),
    # not the event format's; with no ce_specversion header it is still structured mode.
    message = to_structured(_sdk_command())
    _assert_is_the_sdk_command(_read(message.value, message.headers))


def test_binary_mode_content_type_may_be_absent_or_a_json_type_in_utf_8() -> None:
    message = _binary()
    headers = {name: value for name, value in message.headers.items() if name != "content-type"}
    assert _read(message.value, headers).id == "ses-cmd-1"
    for content_type in (b"application/json; charset=utf-8", b"application/vnd.ses+json"):
        assert _read(message.value, {**headers, "content-type": content_type}).id == "ses-cmd-1"


def test_binary_mode_ignores_unknown_extension_attributes() -> None:
    message = _binary(partner="ro-anofm", dataschema="urn:schema")
    assert "ce_partner" in message.headers
    _assert_is_the_sdk_command(_read(message.value, message.headers))


def test_cloudevents_content_type_means_structured_mode_even_with_ce_headers() -> None:
    # The binding lets a structured record carry the binary-mode headers as well.
    message = to_structured(_sdk_command())
    headers = {**_binary().headers, "content-type": CLOUDEVENTS_JSON}
    _assert_is_the_sdk_command(_read(message.value, headers))


def test_structured_record_with_a_stray_ce_type_header_is_still_structured() -> None:
    event = new_cloud_event(_submitted(), source="urn:dost:intake", subject="case-1")
    headers = [("content-type", CLOUDEVENTS_JSON), ("ce_type", event.type.encode())]
    assert _read(encode(event), headers) == decode(encode(event))
    assert _read(encode(event), []) == decode(encode(event))


def test_what_the_platform_publishes_is_read_by_the_sdk_and_by_us() -> None:
    event = new_cloud_event(
        _submitted(),
        source="urn:dost:intake",
        subject="case-1",
        time=datetime(2026, 3, 1, 6, 0, tzinfo=UTC),
        correlationid="ses-cmd-1",
        causationid="ses-cmd-1",
        traceparent=TRACEPARENT,
    )
    headers = {"content-type": CLOUDEVENTS_JSON, "traceparent": TRACEPARENT.encode()}
    value = encode(event)

    sdk_event = from_structured(KafkaMessage(headers=headers, key=b"case-1", value=value))

    assert sdk_event["specversion"] == "1.0"
    assert (sdk_event["id"], sdk_event["source"]) == (event.id, "urn:dost:intake")
    assert (sdk_event["type"], sdk_event["subject"]) == (event.type, "case-1")
    assert datetime.fromisoformat(sdk_event["time"]) == event.time
    assert sdk_event["correlationid"] == sdk_event["causationid"] == "ses-cmd-1"
    assert sdk_event["traceparent"] == TRACEPARENT
    assert sdk_event.get_data() == json.loads(value)["data"]
    assert _read(value, headers) == event


# --- records that are not CloudEvents we can read -------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [b"application/avro", b"text/plain", b"application/json; charset=latin-1"],
)
def test_binary_mode_data_that_is_not_json_in_utf_8_is_not_a_cloudevent(
    content_type: bytes,
) -> None:
    message = _binary()
    with pytest.raises(NotACloudEvent) as raised:
        _read(message.value, {**message.headers, "content-type": content_type})
    assert _errors(raised) == {"datacontenttype": "unsupported_content_type"}


def test_structured_mode_in_another_event_format_is_not_a_cloudevent() -> None:
    message = to_structured(_sdk_command())
    for content_type in (b"application/cloudevents+avro", b"application/cloudevents-batch+json"):
        with pytest.raises(NotACloudEvent, match="event format"):
            _read(message.value, {"content-type": content_type})


def test_binary_mode_without_ce_id_is_not_a_cloudevent_naming_id() -> None:
    message = _binary()
    del message.headers["ce_id"]
    with pytest.raises(NotACloudEvent) as raised:
        _read(message.value, message.headers)
    assert _errors(raised) == {"id": "missing"}


def test_binary_mode_without_a_value_has_no_data() -> None:
    message = _binary()
    with pytest.raises(NotACloudEvent) as raised:
        _read(None, message.headers)
    assert _errors(raised) == {"data": "missing"}
    with pytest.raises(NotACloudEvent, match="not JSON"):
        _read(b"", message.headers)


def test_binary_mode_attribute_header_that_is_not_utf_8_or_is_ambiguous_names_it() -> None:
    message = _binary()
    pairs = list({**message.headers, "ce_source": b"\xff\xfe"}.items())
    with pytest.raises(NotACloudEvent) as raised:
        _read(message.value, [*pairs, ("ce_id", b"another-id")])
    assert _errors(raised) == {"source": "header_not_utf8", "id": "duplicate_header"}


def test_binary_mode_unknown_type_is_an_unknown_event_type() -> None:
    message = _binary(type="dost.intake.SubmitSomething.v1")
    with pytest.raises(UnknownEventType):
        _read(message.value, message.headers)


def test_binary_mode_invalid_data_names_every_bad_field_and_keeps_the_envelope() -> None:
    body = application()
    body["applicant"]["national_id"] = "bad"
    body["facts"] = {"insurance_years": 31, "extra": 1}
    message = _binary()
    with pytest.raises(InvalidEventData) as raised:
        _read(json.dumps(body).encode(), message.headers)
    assert set(_errors(raised)) == {"data.applicant.national_id", "data.facts.extra"}
    assert (raised.value.envelope.id, raised.value.envelope.source) == (
        "ses-cmd-1",
        "urn:dost:ses",
    )


# --- poison: nesting, control characters, NUL -----------------------------------------------


def test_deeply_nested_data_is_not_a_cloudevent_in_either_mode() -> None:
    deep = "[" * DEEP + "]" * DEEP
    document = json.dumps(_structured_document(data=None)).replace(
        '"data": null', f'"data": {deep}'
    )
    with pytest.raises(NotACloudEvent, match="nested"):
        decode(document)
    message = _binary()
    with pytest.raises(NotACloudEvent, match="nested"):
        _read(deep.encode(), message.headers)


def test_deeply_nested_document_is_not_a_cloudevent() -> None:
    with pytest.raises(NotACloudEvent, match="nested"):
        decode("[" * DEEP + "]" * DEEP)
    with pytest.raises(NotACloudEvent, match="nested"):
        decode('{"specversion": "1.0", "extension": ' + '{"a": ' * DEEP + "1" + "}" * DEEP + "}")


def test_data_nested_past_the_limit_is_refused_before_its_model_sees_it() -> None:
    # Parseable, but deeper than any contract: refused as poison, not answered field by field.
    body = application(facts={"insurance_years": json.loads("[" * 100 + "]" * 100)})
    with pytest.raises(NotACloudEvent, match="levels deep"):
        decode(json.dumps(_structured_document(data=body)))


def test_integer_too_long_to_convert_is_not_a_cloudevent() -> None:
    document = json.dumps(_structured_document()).replace(
        '"insurance_years": 31', f'"insurance_years": {"9" * 5000}'
    )
    with pytest.raises(NotACloudEvent, match="not JSON"):
        decode(document)


ATTRIBUTES_WITH_TEXT = ["id", "source", "subject", "correlationid", "causationid", "traceparent"]
CONTROL_CHARACTERS = ["\x00", "\n", "\x1b", "\x7f"]


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
@pytest.mark.parametrize("attribute", ATTRIBUTES_WITH_TEXT)
def test_control_character_in_an_attribute_is_not_a_cloudevent_in_structured_mode(
    attribute: str, character: str
) -> None:
    document = _structured_document(**{attribute: f"abc{character}def"})
    with pytest.raises(NotACloudEvent) as raised:
        decode(json.dumps(document))
    assert _errors(raised) == {attribute: "control_character"}
    with pytest.raises(NotACloudEvent):
        _read(json.dumps(document).encode(), {"content-type": CLOUDEVENTS_JSON})


@pytest.mark.parametrize("character", CONTROL_CHARACTERS)
@pytest.mark.parametrize("attribute", ATTRIBUTES_WITH_TEXT)
def test_control_character_in_an_attribute_is_not_a_cloudevent_in_binary_mode(
    attribute: str, character: str
) -> None:
    message = _binary()
    headers = {**message.headers, f"ce_{attribute}": f"abc{character}def".encode()}
    with pytest.raises(NotACloudEvent) as raised:
        _read(message.value, headers)
    assert _errors(raised) == {attribute: "control_character"}


def test_envelope_with_a_control_character_cannot_be_built_either() -> None:
    # What the platform publishes must be readable by its own consumers.
    with pytest.raises(ValidationError):
        new_cloud_event(_submitted(), source="urn:dost:intake", subject="case\n1")


def test_nul_in_a_data_value_is_invalid_data_naming_the_field_in_either_mode() -> None:
    body = application()
    body["applicant"]["full_name"] = "Aysel\x00Mammadova"
    with pytest.raises(InvalidEventData) as raised:
        decode(json.dumps(_structured_document(data=body)))
    assert ("data.applicant.full_name", "nul_character") in _error_pairs(raised)
    assert raised.value.envelope.id == "ses-cmd-1"
    with pytest.raises(InvalidEventData) as raised:
        _read(json.dumps(body).encode(), _binary().headers)
    assert ("data.applicant.full_name", "nul_character") in _error_pairs(raised)


def test_nul_in_a_data_key_is_invalid_data_with_a_printable_path() -> None:
    body = application()
    body["applicant"]["nick\x00name"] = "Aysel"
    with pytest.raises(InvalidEventData) as raised:
        decode(json.dumps(_structured_document(data=body)))
    assert ("data.applicant.nick\\u0000name", "nul_character") in _error_pairs(raised)
    assert ("data.applicant.nick\\u0000name", "extra_forbidden") in _error_pairs(raised)
    assert all("\x00" not in f"{error.loc}{error.msg}" for error in raised.value.errors)


def test_nul_errors_come_with_the_model_errors_and_list_positions_as_numbers() -> None:
    # Only U+0000 is refused in data generically: a line break in a note is the note's business.
    review = {
        "case_id": "case-1",
        "outcome": "maybe",
        "reasons": ["deceased", "already\x00receiving"],
        "note": "Line one.\nLine two.",
        "reviewed_by": "caseworker-1",
        "reviewed_at": "2026-03-01T10:00:00+04:00",
    }
    document = _structured_document(type="dost.eligibility.ReviewCompleted.v1", data=review)
    with pytest.raises(InvalidEventData) as raised:
        decode(json.dumps(document))
    assert ("data.reasons.1", "nul_character") in _error_pairs(raised)
    assert ("data.outcome", "literal_error") in _error_pairs(raised)
    assert "data.note" not in _errors(raised)
