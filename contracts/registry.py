"""One registry from CloudEvent type name to pydantic model, and the codec built on it."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from contracts.envelope import TYPE_NAME_PATTERN, CloudEvent
from contracts.errors import (
    InvalidEventData,
    NotACloudEvent,
    UnknownEventType,
    field_errors_from_pydantic,
)


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
    """Bytes to an envelope whose `data` is the registered model instance.

    Raises :class:`NotACloudEvent`, :class:`UnknownEventType` or :class:`InvalidEventData`.
    """
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise NotACloudEvent(detail=f"body is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise NotACloudEvent(detail="body is JSON but not an object")
    if "specversion" not in document:
        raise NotACloudEvent(detail="specversion is missing: not a CloudEvents document")
    try:
        envelope = CloudEvent.model_validate(document)
    except ValidationError as error:
        raise NotACloudEvent(
            detail="body is not a CloudEvents 1.0 structured-mode document",
            errors=field_errors_from_pydantic(error.errors()),
        ) from None
    if "data" not in document:
        raise NotACloudEvent(detail="the envelope has no data")
    model = model_for(envelope.type)
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as error:
        raise InvalidEventData(
            detail=f"data does not satisfy {envelope.type}",
            errors=field_errors_from_pydantic(error.errors(), prefix=("data",)),
            envelope=envelope,
        ) from None
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


def _load_all_contracts() -> None:
    # Importing the modules registers their models; done lazily so this module stays small.
    from contracts import bank, civil_registry, eligibility, intake  # noqa: F401
