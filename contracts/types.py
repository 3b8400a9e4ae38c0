"""Value types shared by contracts: money, identifiers, languages."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

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
