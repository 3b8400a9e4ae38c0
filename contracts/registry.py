"""One registry from CloudEvent type name to pydantic model, and the codec built on it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.envelope import TYPE_NAME_PATTERN, CloudEvent
from contracts.errors import (
    FieldError,
    InvalidEventData,
    NotACloudEvent,
    UnknownEventType,
    dotted_path,
    field_errors_from_pydantic,
)

MAX_DATA_DEPTH = 64
"""How deep arrays and objects may nest inside `data`; no contract comes near, and deeper
input only costs the consumer stack and time."""
_NUL_IN_VALUE = "must not contain the NUL character (U+0000)"
_NUL_IN_KEY = "field name must not contain the NUL character (U+0000)"


class EventData(BaseModel):
    """Base of every event and command payload: strict about unknown fields, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_type: ClassVar[str]
    topic: ClassVar[str]


_REGISTRY: dict[str, type[EventData]] = {}
ModelT = TypeVar("ModelT", bound=type[EventData])


def event_model(type_name: str, *, topic: str) -> Callable[[ModelT], ModelT]:
    """Class decorator: register `type_name` (dost.<context>.<Name>.v<major>) on `topic`."""
    if not re.fullmatch(TYPE_NAME_PATTERN, type_name):
        raise ValueError(f"type name {type_name!r} is not dost.<context>.<Name>.v<major>")

    def register(model: ModelT) -> ModelT:
        if type_name in _REGISTRY and _REGISTRY[type_name] is not model:
            raise ValueError(f"type name {type_name!r} is registered twice")
        model.event_type = type_name
        model.topic = topic
        _REGISTRY[type_name] = model
        return model

    return register


def registered_types() -> dict[str, type[EventData]]:
    """Every registered type name and its model (a copy)."""
    _load_all_contracts()
    return dict(_REGISTRY)


def model_for(type_name: str) -> type[EventData]:
    """The model registered for `type_name`; :class:`UnknownEventType` if there is none."""
    _load_all_contracts()
    try:
        return _REGISTRY[type_name]
    except KeyError:
        raise UnknownEventType(detail=f"no contract is registered for type {type_name!r}") from None


def encode(event: CloudEvent) -> bytes:
    """Serialise an envelope to structured-mode JSON bytes (money as decimal strings).

    Absent optional CloudEvent attributes are left out; inside `data`, nulls are kept."""
    document = event.model_dump(mode="json")
    envelope = {name: value for name, value in document.items() if value is not None}
    envelope["data"] = document["data"]
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode()


def decode(raw: bytes | str) -> CloudEvent:
    """Structured-mode bytes (a CloudEvents JSON document) to an envelope whose `data` is the
    registered model instance. For Kafka records use :func:`contracts.decode_record`, which
    reads binary content mode too.

    Raises :class:`NotACloudEvent`, :class:`UnknownEventType` or :class:`InvalidEventData`.
    """
    return decode_document(parse_json(raw))


def parse_json(raw: bytes | str, *, what: str = "body") -> Any:
    """JSON text to Python values, or :class:`NotACloudEvent` saying why `what` is not JSON.

    Text nested too deeply for the parser, which raises RecursionError, is one of the reasons;
    so is an integer too long to convert, which raises a plain ValueError."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise NotACloudEvent(detail=f"{what} is too deeply nested to parse") from None
    except ValueError as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise NotACloudEvent(detail=f"{what} is not JSON: {error}") from None


def decode_document(document: Any) -> CloudEvent:
    """A parsed CloudEvents document (attributes and `data` in one object, whichever content
    mode carried it) to an envelope whose `data` is the registered model instance.

    Every rule is checked here, so both content modes obey the same ones:
    :class:`NotACloudEvent` when the envelope breaks CloudEvents 1.0 (an attribute missing,
    malformed or holding a control character, one error per attribute), when there is no
    `data`, or when `data` nests arrays and objects more than :data:`MAX_DATA_DEPTH` deep;
    :class:`UnknownEventType` when no model is registered for `type`;
    :class:`InvalidEventData` listing every field of `data` that breaks its model or holds
    U+0000 (in a value or in a key), which PostgreSQL cannot store.
    """
    if not isinstance(document, dict):
        raise NotACloudEvent(detail="body is JSON but not an object")
    if "specversion" not in document:
        raise NotACloudEvent(detail="specversion is missing: not a CloudEvents document")
    try:
        envelope = CloudEvent.model_validate(document)
    except ValidationError as error:
        raise NotACloudEvent(
            detail="the envelope does not satisfy CloudEvents 1.0",
            errors=field_errors_from_pydantic(error.errors()),
        ) from None
    if "data" not in document:
        raise NotACloudEvent(detail="the envelope has no data")
    model = model_for(envelope.type)
    errors = _nul_characters(envelope.data)
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as error:
        errors += field_errors_from_pydantic(error.errors(), prefix=("data",))
    if errors:
        raise InvalidEventData(
            detail=f"data does not satisfy {envelope.type}", errors=errors, envelope=envelope
        )
    return envelope.model_copy(update={"data": data})


def envelope_schema(model: type[EventData]) -> dict[str, Any]:
    """JSON Schema of the full envelope carrying `model` as data, with `type` fixed."""
    schema = CloudEvent.model_json_schema()
    data_schema = model.model_json_schema(ref_template="#/$defs/{model}")
    defs = data_schema.pop("$defs", {})
    schema["properties"]["data"] = data_schema
    schema["properties"]["type"] = {"const": model.event_type, "type": "string"}
    schema["title"] = model.event_type
    schema["required"] = sorted({*schema.get("required", []), "data", "type"})
    if defs:
        schema["$defs"] = defs
    return schema


def _nul_characters(data: Any) -> list[FieldError]:
    """Every place in `data` holding U+0000, in document order; :class:`NotACloudEvent` if
    arrays and objects nest deeper than :data:`MAX_DATA_DEPTH` (walked without recursion)."""
    found: list[FieldError] = []
    pending: list[tuple[Any, tuple[str | int, ...]]] = [(data, ("data",))]
    while pending:
        value, path = pending.pop()
        if isinstance(value, str) and "\x00" in value:
            found.append(FieldError(dotted_path(path), _NUL_IN_VALUE, "nul_character"))
        if not isinstance(value, dict | list):
            continue
        if len(path) > MAX_DATA_DEPTH:
            raise NotACloudEvent(detail=f"data nests more than {MAX_DATA_DEPTH} levels deep")
        members = list(value.items()) if isinstance(value, dict) else list(enumerate(value))
        for name, _ in members:
            if isinstance(name, str) and "\x00" in name:
                found.append(FieldError(dotted_path((*path, name)), _NUL_IN_KEY, "nul_character"))
        pending.extend((member, (*path, name)) for name, member in reversed(members))
    return found


def _load_all_contracts() -> None:
    # Importing the modules registers their models; done lazily so this module stays small.
    from contracts import (  # noqa: F401
        bank,
        civil_registry,
        eligibility,
        intake,
        notifications,
        payments,
    )
