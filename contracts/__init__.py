"""What crosses a service boundary: CloudEvents envelopes, event and command models, topics.

Every event and command the platform publishes is a CloudEvents 1.0 structured-mode JSON
document whose `type` is `dost.<context>.<Name>.v<major>`. The :mod:`contracts.registry` maps
each type name to its pydantic model; :func:`decode_record` turns a Kafka record, in
structured or binary content mode, into a typed envelope (:func:`decode` does so for a
structured-mode document alone) or raises a :class:`ContractError` that says what was wrong.
"""

from contracts.envelope import CloudEvent, new_cloud_event
from contracts.errors import (
    ContractError,
    InvalidEventData,
    NotACloudEvent,
    UnknownEventType,
)
from contracts.kafka_binding import decode_record
from contracts.registry import EventData, decode, encode, event_model, registered_types

__all__ = [
    "CloudEvent",
    "ContractError",
    "EventData",
    "InvalidEventData",
    "NotACloudEvent",
    "UnknownEventType",
    "decode",
    "decode_record",
    "encode",
    "event_model",
    "new_cloud_event",
    "registered_types",
]
