"""The CloudEvents 1.0 envelope every event and command travels in.

String attributes never hold control characters, whether built here or decoded, so whatever
the platform publishes its own consumers can decode."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

TYPE_NAME_PATTERN = r"^dost\.[a-z][a-z_]*\.[A-Z][A-Za-z]+\.v[1-9][0-9]*$"
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


def _without_control_characters(value: str) -> str:
    # Attributes become inbox keys, log fields and Kafka headers: PostgreSQL text cannot hold
    # U+0000, and a line break or escape in an id forges log lines.
    if CONTROL_CHARACTERS.search(value):
        raise PydanticCustomError(
            "control_character", "must not contain control characters (U+0000-U+001F, U+007F)"
        )
    return value


AttributeText = Annotated[str, AfterValidator(_without_control_characters)]


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; `data` holds the event's own model once decoded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents specification version.")
    id: AttributeText = Field(
        min_length=1,
        max_length=200,
        description="Unique id of this event; for commands it is also the idempotency key.",
    )
    source: AttributeText = Field(
        min_length=1, max_length=500, description="URI-reference of the system that produced it."
    )
    type: AttributeText = Field(
        pattern=r"^[A-Za-z0-9._-]+$",
        max_length=200,
        description="Event type name, `dost.<context>.<Name>.v<major>`.",
    )
    subject: AttributeText | None = Field(
        None, max_length=200, description="The case id, where the event belongs to one case."
    )
    time: AwareDatetime = Field(description="When the fact happened (RFC 3339, with offset).")
    datacontenttype: Literal["application/json"] = Field(
        "application/json", description="Always application/json."
    )
    data: Any = Field(description="The event's payload; its schema is given by `type`.")
    correlationid: AttributeText | None = Field(
        None, max_length=200, description="Id of the request or command that started this chain."
    )
    causationid: AttributeText | None = Field(
        None, max_length=200, description="Id of the event or command that directly caused this."
    )
    traceparent: AttributeText | None = Field(
        None, max_length=100, description="W3C trace context of the span that produced it."
    )


def new_cloud_event(
    data: BaseModel,
    *,
    source: str,
    subject: str | None = None,
    event_id: str | None = None,
    time: datetime | None = None,
    correlationid: str | None = None,
    causationid: str | None = None,
    traceparent: str | None = None,
) -> CloudEvent:
    """Wrap a registered event model in an envelope; its type name comes from the model."""
    type_name: str = getattr(data, "event_type")  # noqa: B009 - class variable set by the registry
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        source=source,
        type=type_name,
        subject=subject,
        time=time or datetime.now(UTC),
        data=data,
        correlationid=correlationid,
        causationid=causationid,
        traceparent=traceparent,
    )
