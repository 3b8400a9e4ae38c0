"""What the civil registry reports (topic `dost.registry.events.v1`)."""

from __future__ import annotations

from datetime import date

from pydantic import Field

from contracts.registry import EventData, event_model
from contracts.topics import REGISTRY_EVENTS
from contracts.types import NationalId


@event_model("dost.registry.PersonDied.v1", topic=REGISTRY_EVENTS)
class PersonDied(EventData):
    """The registry recorded a death."""

    national_id: NationalId
    date_of_death: date = Field(description="Date of death as registered.")
