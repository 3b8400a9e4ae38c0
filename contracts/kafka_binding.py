"""Kafka records to envelopes, in both content modes of the CloudEvents Kafka protocol binding.

Structured mode: the value is a CloudEvents JSON document (what the platform publishes, with
`content-type: application/cloudevents+json; charset=UTF-8`). Binary mode: the attributes
travel as `ce_<name>` headers, the `content-type` header is the media type of `data`, and
the value is `data` itself. Both end in :func:`contracts.registry.decode_document`, so a
rule holds in one mode exactly when it holds in the other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from contracts.envelope import CloudEvent
from contracts.errors import FieldError, NotACloudEvent, printable
from contracts.registry import decode_document, parse_json

CLOUDEVENTS_MEDIA_TYPE = "application/cloudevents"
"""A `content-type` starting with this (any case) means structured mode, per the binding."""
STRUCTURED_JSON_MEDIA_TYPE = "application/cloudevents+json"
JSON_MEDIA_TYPE = "application/json"

# Attributes read from `ce_` headers in binary mode: the envelope's own, minus `data` (the
# value) and `datacontenttype` (the `content-type` header). Other `ce_` headers are extension
# attributes no DOST contract uses; they are ignored, as the envelope has no place for them.
BINARY_MODE_ATTRIBUTES = tuple(
    name for name in CloudEvent.model_fields if name not in {"data", "datacontenttype"}
)

RecordHeaders = Sequence[tuple[str, bytes | None]]


def decode_record(value: bytes | None, headers: RecordHeaders = ()) -> CloudEvent:
    """A Kafka record (its value and headers) to an envelope whose `data` is the registered
    model instance, in whichever content mode the sender chose.

    The mode is read as the CloudEvents Kafka binding says: a `content-type` header starting
    with `application/cloudevents` means structured mode (only its `+json` event format is
    supported); otherwise a `ce_specversion` header means binary mode; a record with neither
    is read as structured mode, as records without headers always were. In structured mode
    no header is consulted beyond `content-type`. In binary mode `data` must be JSON: the
    `content-type` header is absent, `application/json` or a `+json` type, with no charset
    other than UTF-8.

    Raises :class:`NotACloudEvent`, :class:`UnknownEventType` or :class:`InvalidEventData`,
    like :func:`contracts.decode`.
    """
    content_type = _header(headers, "content-type")
    if content_type is not None and content_type.lower().startswith(CLOUDEVENTS_MEDIA_TYPE):
        return _decode_structured(value, content_type)
    if _header(headers, "ce_specversion") is not None:
        return _decode_binary(value, content_type, headers)
    return _decode_structured(value, None)


def _decode_structured(value: bytes | None, content_type: str | None) -> CloudEvent:
    if content_type is not None and _media_type(content_type) != STRUCTURED_JSON_MEDIA_TYPE:
        raise NotACloudEvent(
            detail=f"event format {printable(content_type)!r} is not supported:"
            f" only {STRUCTURED_JSON_MEDIA_TYPE} is"
        )
    if value is None:
        raise NotACloudEvent(detail="the record has no value")
    return decode_document(parse_json(value))


def _decode_binary(
    value: bytes | None, content_type: str | None, headers: RecordHeaders
) -> CloudEvent:
    _check_data_is_json(content_type)
    document: dict[str, Any] = {}
    errors: list[FieldError] = []
    for name in BINARY_MODE_ATTRIBUTES:
        try:
            text = _header(headers, f"ce_{name}")
        except NotACloudEvent as error:
            errors += error.errors
            continue
        if text is not None:
            document[name] = text
    if errors:
        raise NotACloudEvent(detail="binary-mode attribute headers are unreadable", errors=errors)
    document["datacontenttype"] = JSON_MEDIA_TYPE
    if value is not None:  # no value: an event without data, which decode_document refuses
        document["data"] = parse_json(value, what="data")
    return decode_document(document)


def _check_data_is_json(content_type: str | None) -> None:
    if content_type is None:
        return
    media_type, *parameters = (part.strip() for part in content_type.split(";"))
    charsets = [
        parameter.partition("=")[2].strip().strip('"').lower()
        for parameter in parameters
        if parameter.partition("=")[0].strip().lower() == "charset"
    ]
    is_json = media_type.lower() == JSON_MEDIA_TYPE or media_type.lower().endswith("+json")
    if not is_json or any(charset not in {"utf-8", "utf8"} for charset in charsets):
        raise NotACloudEvent(
            detail=f"content type {printable(content_type)!r} is not supported:"
            " the data of every DOST contract is JSON in UTF-8",
            errors=[
                FieldError(
                    "datacontenttype", "must be application/json", "unsupported_content_type"
                )
            ],
        )


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _header(headers: RecordHeaders, name: str) -> str | None:
    """The one value of header `name` (any case) as text; None when absent. A header repeated
    with different values, or not UTF-8, is a :class:`NotACloudEvent` naming the attribute."""
    values = {raw or b"" for key, raw in headers if key.lower() == name}
    attribute = "datacontenttype" if name == "content-type" else name.removeprefix("ce_")
    if len(values) > 1:
        raise NotACloudEvent(
            detail=f"header {name} appears more than once with different values",
            errors=[FieldError(attribute, f"header {name} is ambiguous", "duplicate_header")],
        )
    if not values:
        return None
    try:
        return values.pop().decode("utf-8")
    except UnicodeDecodeError:
        raise NotACloudEvent(
            detail=f"header {name} is not UTF-8",
            errors=[FieldError(attribute, f"header {name} is not UTF-8", "header_not_utf8")],
        ) from None
