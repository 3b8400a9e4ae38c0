"""What crosses a service boundary: CloudEvents envelopes, event and command models, topics.

Every event and command travels as a CloudEvents 1.0 structured-mode JSON document whose
`type` is `dost.<context>.<Name>.v<major>`. The :mod:`contracts.registry` maps each type
name to its pydantic model; :func:`decode` turns bytes into a typed envelope or raises a
:class:`ContractError` that says what was wrong.
"""

from contracts.envelope import CloudEvent, new_cloud_event
from contracts.errors import (
    ContractError,
    InvalidEventData,
    NotACloudEvent,
    UnknownEventType,
)
from contracts.registry import EventData, decode, encode, event_model, registered_types

__all__ = [
    "CloudEvent",
    "ContractError",
    "EventData",
    "InvalidEventData",
    "NotACloudEvent",
    "UnknownEventType",
    "decode",
    "encode",
    "event_model",
    "new_cloud_event",
    "registered_types",
]
