"""Value types shared by contracts: money, identifiers, dates, text, languages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError

Money = Annotated[
    Decimal,
    Field(max_digits=12, decimal_places=2, ge=Decimal("0"), description="AZN, two decimal places."),
]

NationalId = Annotated[
    str,
    StringConstraints(pattern=r"^[0-9A-Z]{7}$"),
    Field(description="Personal identification code (FIN): 7 digits or upper-case Latin letters."),
]

PhoneNumber = Annotated[
    str,
    StringConstraints(pattern=r"^\+[1-9][0-9]{7,14}$"),
    Field(description="E.164 phone number, e.g. +994501234567."),
]


def _check_iban(value: str) -> str:
    compact = value.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}", compact):
        raise ValueError("is not an IBAN (country code, check digits, account)")
    rearranged = compact[4:] + compact[:4]
    digits = "".join(str(int(char, 36)) for char in rearranged)
    if int(digits) % 97 != 1:
        raise ValueError("IBAN check digits do not match (ISO 13616 mod-97)")
    return compact


Iban = Annotated[
    str,
    AfterValidator(_check_iban),
    Field(description="IBAN passing the ISO 13616 mod-97 check; stored without spaces."),
]


EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2100, 12, 31)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _written_as_iso_date(value: object) -> object:
    # Only a calendar date, never a datetime or a timestamp that happens to fall on midnight.
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise PydanticCustomError("date_type", "Input should be a date written YYYY-MM-DD")


def _plausible(value: date) -> date:
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise PydanticCustomError(
            "date_out_of_range",
            f"must be between {EARLIEST_DATE.isoformat()} and {LATEST_DATE.isoformat()}",
        )
    return value


# A date written YYYY-MM-DD (never a datetime or a timestamp), 1900-01-01 to 2100-12-31.
CalendarDate = Annotated[date, BeforeValidator(_written_as_iso_date), AfterValidator(_plausible)]

# Unicode category Cc: C0 (U+0000-U+001F), DEL (U+007F) and C1 (U+0080-U+009F).
_CONTROL_EXCEPT_LINE_BREAKS = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_TEXT_CONTROL = re.compile(f"[{_CONTROL_EXCEPT_LINE_BREAKS}]")
_LINE_CONTROL = re.compile(f"[{_CONTROL}]")


@dataclass(frozen=True)
class _SchemaPattern:
    """Documents, in the JSON Schema only, the pattern a validator enforces."""

    pattern: str

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema: dict[str, Any] = handler(schema)
        json_schema["pattern"] = self.pattern
        return json_schema


def _without_control_characters(text: str) -> str:
    if _TEXT_CONTROL.search(text):
        raise PydanticCustomError("control_characters", "must not contain control characters")
    return text


def _on_one_line(text: str) -> str:
    if _LINE_CONTROL.search(text):
        raise PydanticCustomError(
            "control_characters", "must not contain control characters or line breaks"
        )
    return text


def _stripped_not_blank(text: str) -> str:
    stripped = text.strip()
    if not stripped:
        raise PydanticCustomError("blank", "must not be blank")
    return stripped


# Free text that may span lines (notes, reasons): tab, CR and LF are the only control
# characters it may hold; a NUL would not even fit in a PostgreSQL text column.
PlainText = Annotated[
    str,
    AfterValidator(_without_control_characters),
    _SchemaPattern(f"^[^{_CONTROL_EXCEPT_LINE_BREAKS}]*$"),
]

# Text on one line (names, labels): no control character at all, line breaks included.
SingleLineText = Annotated[str, AfterValidator(_on_one_line), _SchemaPattern(f"^[^{_CONTROL}]*$")]

# A person's name: one line, surrounding whitespace stripped, never blank.
PersonName = Annotated[SingleLineText, AfterValidator(_stripped_not_blank)]


class Language(StrEnum):
    """Languages the agency writes to citizens in."""

    AZ = "az"
    RU = "ru"
    EN = "en"


class Benefit(StrEnum):
    """The benefits a citizen can apply for."""

    OLD_AGE_PENSION = "old_age_pension"
    DISABILITY_BENEFIT = "disability_benefit"
    UNEMPLOYMENT_BENEFIT = "unemployment_benefit"
    TARGETED_SOCIAL_ASSISTANCE = "targeted_social_assistance"
    CHILDBIRTH_ALLOWANCE = "childbirth_allowance"

    @property
    def is_monthly(self) -> bool:
        return self is not Benefit.CHILDBIRTH_ALLOWANCE
