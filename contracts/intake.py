"""Intake's command and events (topics `dost.intake.commands.v1`, `dost.intake.events.v1`)."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.application import ApplicationBody
from contracts.registry import EventData, event_model
from contracts.topics import INTAKE_COMMANDS, INTAKE_EVENTS
from contracts.types import PlainText


@event_model("dost.intake.SubmitApplication.v1", topic=INTAKE_COMMANDS)
class SubmitApplication(ApplicationBody, EventData):
    """Another system asks for an application to be opened; the CloudEvent id is the
    idempotency key. Same body as `POST /v1/applications`."""


@event_model("dost.intake.ApplicationSubmitted.v1", topic=INTAKE_EVENTS)
class ApplicationSubmitted(EventData):
    """A case was opened for an application."""

    case_id: str = Field(description="The new case's id (also the CloudEvent subject).")
    application: ApplicationBody = Field(description="The application as accepted.")
    submitted_at: AwareDatetime = Field(description="When intake accepted it.")
    channel: Literal["http", "kafka"] = Field(description="How it arrived.")
    submitted_by: str = Field(description="Clerk's subject, or the sending system's source.")


@event_model("dost.intake.ApplicationWithdrawn.v1", topic=INTAKE_EVENTS)
class ApplicationWithdrawn(EventData):
    """The applicant withdrew before a decision."""

    case_id: str
    withdrawn_at: AwareDatetime
    withdrawn_by: str = Field(description="Subject of the clerk who recorded it.")
    reason: PlainText | None = Field(None, max_length=500)


class RejectedField(BaseModel):
    """One reason a submission was rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    loc: str = Field(description="Dotted path of the bad field, e.g. `applicant.national_id`.")
    msg: str = Field(description="What is wrong, in plain words.")
    type: str = Field(description="Machine-readable error kind.")


@event_model("dost.intake.SubmissionRejected.v1", topic=INTAKE_EVENTS)
class SubmissionRejected(EventData):
    """A SubmitApplication command could not be accepted; tells the sender every error."""

    command_id: str = Field(description="The rejected command's CloudEvent id.")
    source_system: str = Field(description="The rejected command's CloudEvent source.")
    errors: list[RejectedField] = Field(min_length=1)
    rejected_at: AwareDatetime
