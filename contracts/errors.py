"""Typed errors raised when bytes cannot be turned into a known, valid event."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.envelope import CONTROL_CHARACTERS


@dataclass(frozen=True)
class FieldError:
    """One bad field: where it is (dotted path), what is wrong, and a machine-readable kind."""

    loc: str
    msg: str
    kind: str

    def as_dict(self) -> dict[str, str]:
        return {"loc": self.loc, "msg": self.msg, "type": self.kind}


def dotted_path(parts: Iterable[str | int]) -> str:
    """A field's location as `data.applicant.full_name` (list positions as numbers).

    Control characters in a part (a sender's object key may hold any) are written as
    `\\uXXXX` escapes, so the path can go into logs, headers and PostgreSQL text."""
    return printable(".".join(str(part) for part in parts))


def printable(text: str) -> str:
    """`text` with every control character (U+0000-U+001F, U+007F) as a `\\uXXXX` escape."""
    return CONTROL_CHARACTERS.sub(lambda found: f"\\u{ord(found.group()):04x}", text)


def field_errors_from_pydantic(
    errors: list[Any], prefix: tuple[str | int, ...] = ()
) -> list[FieldError]:
    """Convert pydantic's `ValidationError.errors()` into :class:`FieldError` values.

    The offending input value is deliberately dropped: it may be personal data.
    """
    converted = []
    for error in errors:
        loc = dotted_path((*prefix, *error["loc"]))
        converted.append(
            FieldError(loc=loc or "body", msg=printable(error["msg"]), kind=error["type"])
        )
    return converted


@dataclass
class ContractError(Exception):
    """Base of every decoding error: `reason` is a short code, `detail` explains it."""

    detail: str
    errors: list[FieldError] = field(default_factory=list)
    reason: str = "contract_error"

    def __str__(self) -> str:
        if not self.errors:
            return f"{self.reason}: {self.detail}"
        fields = "; ".join(f"{e.loc}: {e.msg}" for e in self.errors)
        return f"{self.reason}: {self.detail} ({fields})"


@dataclass
class NotACloudEvent(ContractError):
    """The record is not a CloudEvent we can read: not JSON, nested too deeply, an unsupported
    content type or event format, or an envelope that breaks CloudEvents 1.0 (in either
    content mode)."""

    reason: str = "not_a_cloudevent"


@dataclass
class UnknownEventType(ContractError):
    """A well-formed CloudEvent whose `type` no model in the registry answers to."""

    reason: str = "unknown_event_type"


@dataclass
class InvalidEventData(ContractError):
    """A known event type whose `data` does not satisfy its model. `envelope` is the
    CloudEvent as received (its `data` undecoded), so a rejection can name the sender."""

    reason: str = "invalid_event_data"
    envelope: Any = None
