"""The demo's population: realistic applications across the benefits, centers, languages
and channels, with the ineligible, the invalid and the duplicates a real day brings."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from contracts.application import agency_today

CENTERS = ("baku-yasamal", "baku-nasimi", "ganja-1", "sumgait-1", "lankaran-1")
LANGUAGES = (("az", 60), ("ru", 25), ("en", 15))
BENEFITS = (
    ("old_age_pension", 35),
    ("unemployment_benefit", 20),
    ("targeted_social_assistance", 15),
    ("childbirth_allowance", 15),
    ("disability_benefit", 15),
)
FIRST_NAMES = ("Aysel", "Rashad", "Leyla", "Elvin", "Nigar", "Tural", "Gunel", "Orkhan", "Sevda")
LAST_NAMES = ("Mammadova", "Aliyev", "Huseynova", "Guliyev", "Ismayilova", "Hasanov", "Karimova")
Channel = Literal["http", "kafka"]


@dataclass
class Citizen:
    """One applicant and what the demo expects of their application."""

    number: int
    body: dict[str, Any]
    channel: Channel
    valid: bool = True
    case_id: str | None = None
    command_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    idempotency_key: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def national_id(self) -> str:
        return str(self.body["applicant"]["national_id"])

    @property
    def benefit(self) -> str:
        return str(self.body["benefit"])

    @property
    def language(self) -> str:
        return str(self.body["applicant"]["language"])


def population(count: int, seed: int = 2026, today: date | None = None) -> list[Citizen]:
    """`count` citizens; about 5 % of them (at least 2) send something invalid."""
    today = today or agency_today()
    chance = random.Random(seed)
    invalid = set(chance.sample(range(count), max(2, count // 20)))
    citizens = []
    for number in range(count):
        benefit = _weighted(chance, BENEFITS)
        channel: Channel = "kafka" if chance.random() < 0.3 else "http"
        body = _application(chance, number, benefit, today)
        citizen = Citizen(number, body, channel)
        if number in invalid:
            _spoil(chance, citizen)
        citizens.append(citizen)
    return citizens


def _weighted(chance: random.Random, choices: tuple[tuple[str, int], ...]) -> str:
    names, weights = zip(*choices, strict=True)
    chosen: str = chance.choices(names, weights=weights)[0]
    return chosen


def _national_id(chance: random.Random) -> str:
    alphabet = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"
    while True:
        candidate = "".join(chance.choice(alphabet) for _ in range(7))
        if any(c.isdigit() for c in candidate) and any(c.isalpha() for c in candidate):
            return candidate


def _iban(chance: random.Random) -> str:
    """An Azerbaijani IBAN whose mod-97 check holds."""
    account = "NABZ" + "".join(chance.choice("0123456789") for _ in range(20))
    digits = "".join(str(int(c, 36)) for c in account + "AZ00")
    return f"AZ{98 - int(digits) % 97:02d}{account}"


def _application(chance: random.Random, number: int, benefit: str, today: date) -> dict[str, Any]:
    language = _weighted(chance, LANGUAGES)
    has_phone = chance.random() < 0.9
    has_email = not has_phone or chance.random() < 0.6
    name = f"{chance.choice(FIRST_NAMES)} {chance.choice(LAST_NAMES)}"
    age = chance.randint(66, 80) if benefit == "old_age_pension" else chance.randint(22, 55)
    born = today.replace(year=today.year - age) - timedelta(days=chance.randint(1, 300))
    applicant: dict[str, Any] = {
        "national_id": _national_id(chance),
        "full_name": name,
        "birth_date": born.isoformat(),
        "language": language,
        "bank_account": _iban(chance),
    }
    if has_phone:
        applicant["phone"] = f"+99450{number:07d}"
    if has_email:
        applicant["email"] = f"citizen{number}@example.az"
    return {
        "benefit": benefit,
        "center_id": chance.choice(CENTERS),
        "applicant": applicant,
        "facts": _facts(chance, benefit, today),
    }


def _facts(chance: random.Random, benefit: str, today: date) -> dict[str, Any]:
    eligible = chance.random() < 0.8
    if benefit == "old_age_pension":
        return {"insurance_years": chance.randint(25, 45) if eligible else chance.randint(5, 20)}
    if benefit == "unemployment_benefit":
        return {
            "registered_unemployed": eligible,
            "insured_months_last_18": chance.randint(12, 18),
            "average_monthly_wage": f"{chance.randint(350, 1400)}.00",
        }
    if benefit == "targeted_social_assistance":
        members = chance.randint(1, 6)
        if chance.random() < 0.15:
            income = "0.00"  # no income at all: a caseworker looks at it
        elif eligible:
            income = f"{chance.randint(0, 280) * members}.00"
        else:
            income = f"{chance.randint(300, 600) * members}.00"
        return {"household_members": members, "household_monthly_income": income}
    if benefit == "childbirth_allowance":
        days = chance.randint(5, 300) if eligible else chance.randint(380, 500)
        return {"child_birth_date": (today - timedelta(days=days)).isoformat()}
    return {  # disability: always referred to a caseworker
        "disability_group": chance.randint(1, 3),
        "assessment_date": (today - timedelta(days=chance.randint(10, 300))).isoformat(),
    }


def _spoil(chance: random.Random, citizen: Citizen) -> None:
    """What clerks' forms and other systems get wrong: a bad IBAN, a missing fact."""
    citizen.valid = False
    if chance.random() < 0.5:
        citizen.body["applicant"]["bank_account"] = "AZ00NABZ00000000000000000000"
    else:
        citizen.body["facts"] = {}
