"""The CloudEvents 1.0 envelope (structured JSON mode) every event and command travels in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

TYPE_NAME_PATTERN = r"^dost\.[a-z][a-z_]*\.[A-Z][A-Za-z]+\.v[1-9][0-9]*$"


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope; `data` holds the event's own model once decoded."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = Field("1.0", description="CloudEvents specification version.")
    id: str = Field(
        min_length=1,
        max_length=200,
        description="Unique id of this event; for commands it is also the idempotency key.",
    )
    source: str = Field(
        min_length=1, max_length=500, description="URI-reference of the system that produced it."
    )
    type: str = Field(
        pattern=r"^[A-Za-z0-9._-]+$",
        max_length=200,
        description="Event type name, `dost.<context>.<Name>.v<major>`.",
    )
    subject: str | None = Field(
        None, max_length=200, description="The case id, where the event belongs to one case."
    )
    time: AwareDatetime = Field(description="When the fact happened (RFC 3339, with offset).")
    datacontenttype: Literal["application/json"] = Field(
        "application/json", description="Always application/json."
    )
    data: Any = Field(description="The event's payload; its schema is given by `type`.")
    correlationid: str | None = Field(
        None, max_length=200, description="Id of the request or command that started this chain."
    )
    causationid: str | None = Field(
        None, max_length=200, description="Id of the event or command that directly caused this."
    )
    traceparent: str | None = Field(
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
