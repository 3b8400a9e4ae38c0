"""The application body: one validation model for the HTTP API and the command topic.

Validation reports every bad field at once, facts included: the facts are checked against
the model of the chosen benefit, and their errors are merged with the others.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Self
from zoneinfo import ZoneInfo

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from contracts.types import (
    Benefit,
    CalendarDate,
    Iban,
    Language,
    Money,
    NationalId,
    PersonName,
    PhoneNumber,
)

AGENCY_TIME_ZONE = ZoneInfo("Asia/Baku")


def agency_today(now: datetime | None = None) -> date:
    """Today's date in the agency's time zone (Asia/Baku), where ages and dates are taken."""
    return (now or datetime.now(AGENCY_TIME_ZONE)).astimezone(AGENCY_TIME_ZONE).date()


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Applicant(_Strict):
    """The person applying; reachable by phone or e-mail (checked with the application)."""

    national_id: NationalId
    full_name: PersonName = Field(
        min_length=1,
        max_length=200,
        description="Name as on the ID card: one line, not blank; surrounding spaces are dropped.",
    )
    birth_date: CalendarDate = Field(
        description="Date of birth, YYYY-MM-DD: from 1900-01-01, not in the future."
    )
    phone: PhoneNumber | None = None
    email: EmailStr | None = Field(None, max_length=254, description="E-mail address.")
    language: Language = Field(Language.AZ, description="Language for messages: az, ru or en.")
    bank_account: Iban | None = Field(None, description="Required for monthly benefits.")

    @field_validator("birth_date")
    @classmethod
    def _birth_date_not_in_future(cls, birth_date: date, info: ValidationInfo) -> date:
        today = (info.context or {}).get("today") or agency_today()
        if birth_date > today:
            raise ValueError("birth date is in the future")
        return birth_date


class OldAgePensionFacts(_Strict):
    insurance_years: StrictInt = Field(
        ge=0, le=70, description="Years of recorded insurance, 0-70."
    )


class DisabilityBenefitFacts(_Strict):
    disability_group: StrictInt = Field(ge=1, le=3, description="Assessed disability group, 1-3.")
    assessment_date: CalendarDate = Field(
        description="Date of the medical-social assessment, YYYY-MM-DD."
    )


class UnemploymentBenefitFacts(_Strict):
    registered_unemployed: StrictBool = Field(description="Registered with the employment service.")
    insured_months_last_18: StrictInt = Field(
        ge=0, le=18, description="Insured months in the last 18."
    )
    average_monthly_wage: Money = Field(description="Average insured monthly wage, AZN.")


class TargetedSocialAssistanceFacts(_Strict):
    household_members: StrictInt = Field(ge=1, le=20, description="People in the household, 1-20.")
    household_monthly_income: Money = Field(description="Total household income a month, AZN.")


class ChildbirthAllowanceFacts(_Strict):
    child_birth_date: CalendarDate = Field(description="The child's date of birth, YYYY-MM-DD.")


BenefitFacts = (
    OldAgePensionFacts
    | DisabilityBenefitFacts
    | UnemploymentBenefitFacts
    | TargetedSocialAssistanceFacts
    | ChildbirthAllowanceFacts
)

FACTS_BY_BENEFIT: dict[Benefit, type[_Strict]] = {
    Benefit.OLD_AGE_PENSION: OldAgePensionFacts,
    Benefit.DISABILITY_BENEFIT: DisabilityBenefitFacts,
    Benefit.UNEMPLOYMENT_BENEFIT: UnemploymentBenefitFacts,
    Benefit.TARGETED_SOCIAL_ASSISTANCE: TargetedSocialAssistanceFacts,
    Benefit.CHILDBIRTH_ALLOWANCE: ChildbirthAllowanceFacts,
}


class ApplicationBody(_Strict):
    """An application for one benefit, as a clerk, the portal or another system sends it.

    Rules across fields (each broken one is reported with the field it concerns):
    `facts` must be those of `benefit` (unknown facts are an error); a monthly benefit needs
    `applicant.bank_account` (an IBAN passing the mod-97 check); the applicant needs at
    least one of `phone` and `email`. Dates are taken in Asia/Baku."""

    benefit: Benefit = Field(description="The benefit applied for.")
    center_id: str = Field(
        pattern=r"^[a-z0-9][a-z0-9-]{1,62}$", description="DOST center (or channel) of intake."
    )
    applicant: Applicant
    facts: Annotated[BenefitFacts, Field(description="The facts the chosen benefit needs.")]

    @model_validator(mode="wrap")
    @classmethod
    def _facts_match_benefit(cls, value: Any, handler: Any) -> Self:
        if not isinstance(value, dict):
            return handler(value)  # type: ignore[no-any-return]
        facts_errors: list[InitErrorDetails] = []
        candidate = dict(value)
        facts_model = _facts_model(value.get("benefit"))
        if "facts" in value:
            if facts_model is None:
                # Unknown benefit: the facts cannot be judged; the benefit error says why.
                candidate["facts"] = ChildbirthAllowanceFacts.model_construct()  # type: ignore[call-arg]
            else:
                try:
                    candidate["facts"] = facts_model.model_validate(value["facts"])
                except ValidationError as error:
                    facts_errors = _with_prefix(error, "facts")
                    candidate["facts"] = facts_model.model_construct()
        facts_errors += _missing_bank_account(value) + _unreachable(value)
        try:
            body: Self = handler(candidate)
        except ValidationError as error:
            raise ValidationError.from_exception_data(
                cls.__name__, _with_prefix(error) + facts_errors
            ) from None
        if facts_errors:
            raise ValidationError.from_exception_data(cls.__name__, facts_errors)
        if not isinstance(body.facts, FACTS_BY_BENEFIT[body.benefit]):
            raise ValueError(f"facts do not belong to benefit {body.benefit}")
        return body


def _facts_model(benefit: object) -> type[_Strict] | None:
    try:
        return FACTS_BY_BENEFIT[Benefit(str(benefit))] if isinstance(benefit, str) else None
    except (ValueError, TypeError):
        return None


def _missing_bank_account(value: dict[str, Any]) -> list[InitErrorDetails]:
    benefit = value.get("benefit")
    applicant = value.get("applicant")
    if _facts_model(benefit) is None or not Benefit(str(benefit)).is_monthly:
        return []
    if isinstance(applicant, dict) and applicant.get("bank_account") is None:
        error = PydanticCustomError("missing", "Field required for a monthly benefit")
        return [{"type": error, "loc": ("applicant", "bank_account"), "input": None}]
    return []


def _unreachable(value: dict[str, Any]) -> list[InitErrorDetails]:
    applicant = value.get("applicant")
    if isinstance(applicant, dict) and not applicant.get("phone") and not applicant.get("email"):
        error = PydanticCustomError("missing_contact", "give at least one of phone or email")
        return [{"type": error, "loc": ("applicant", "phone"), "input": None}]
    return []


def _with_prefix(error: ValidationError, *prefix: str | int) -> list[InitErrorDetails]:
    # Rebuilt as custom errors carrying pydantic's own type and message: not every built-in
    # error type can be re-created from its reported context.
    return [
        {
            "type": PydanticCustomError(line["type"], line["msg"]),
            "loc": (*prefix, *line["loc"]),
            "input": line.get("input"),
        }
        for line in error.errors()
    ]
