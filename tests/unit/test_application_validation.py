"""The application contract refuses lenient input: strict facts, plausible dates, plain text.

The same model validates `POST /v1/applications` (JSON) and the `SubmitApplication` command
(decoded to Python values first), so both paths are checked here."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from contracts import InvalidEventData, decode
from contracts.application import ApplicationBody
from contracts.bank import PaymentReturned
from contracts.eligibility import ReviewCompleted
from contracts.intake import ApplicationWithdrawn
from tests.integration.applications import application


def _errors(body: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """Each bad field's dotted location, with its error type and message, for the JSON and
    the Python path (which must agree)."""
    with pytest.raises(ValidationError) as from_json:
        ApplicationBody.model_validate_json(json.dumps(body))
    with pytest.raises(ValidationError) as from_python:
        ApplicationBody.model_validate(body)
    shaped = [
        {".".join(str(part) for part in e["loc"]): (e["type"], e["msg"]) for e in raised.errors()}
        for raised in (from_json.value, from_python.value)
    ]
    assert shaped[0] == shaped[1]
    return shaped[0]


def _with_applicant(**changes: Any) -> dict[str, Any]:
    body = application()
    body["applicant"].update(changes)
    return body


@pytest.mark.parametrize(
    "full_name",
    ["Aysel\x00Mammadova", "Aysel\nMammadova", "Aysel\tMammadova", "\x1b[31mAysel", "Aysel\x7f"],
    ids=["nul", "newline", "tab", "escape", "delete"],
)
def test_full_name_with_a_control_character_is_refused(full_name: str) -> None:
    errors = _errors(_with_applicant(full_name=full_name))
    assert errors["applicant.full_name"][0] == "control_characters"
    assert "must not contain control characters" in errors["applicant.full_name"][1]


@pytest.mark.parametrize("full_name", [" ", "   ", "\u00a0\u3000"], ids=["space", "spaces", "nbsp"])
def test_blank_full_name_is_refused(full_name: str) -> None:
    assert _errors(_with_applicant(full_name=full_name))["applicant.full_name"] == (
        "blank",
        "must not be blank",
    )


def test_full_name_is_stripped_of_surrounding_whitespace() -> None:
    body = ApplicationBody.model_validate(_with_applicant(full_name="  Aysel Mammadova "))
    assert body.applicant.full_name == "Aysel Mammadova"


@pytest.mark.parametrize(
    ("benefit", "facts", "bad_fact"),
    [
        ("old_age_pension", {"insurance_years": True}, "insurance_years"),
        ("old_age_pension", {"insurance_years": "31"}, "insurance_years"),
        ("old_age_pension", {"insurance_years": 31.0}, "insurance_years"),
        (
            "disability_benefit",
            {"disability_group": True, "assessment_date": "2026-01-01"},
            "disability_group",
        ),
        (
            "unemployment_benefit",
            {
                "registered_unemployed": True,
                "insured_months_last_18": "12",
                "average_monthly_wage": "500.00",
            },
            "insured_months_last_18",
        ),
        (
            "targeted_social_assistance",
            {"household_members": False, "household_monthly_income": "100.00"},
            "household_members",
        ),
    ],
    ids=[
        "years-true",
        "years-string",
        "years-float",
        "group-true",
        "months-string",
        "members-false",
    ],
)
def test_whole_number_facts_accept_only_json_integers(
    benefit: str, facts: dict[str, Any], bad_fact: str
) -> None:
    errors = _errors(application(benefit=benefit, facts=facts))
    assert list(errors) == [f"facts.{bad_fact}"]
    assert errors[f"facts.{bad_fact}"][0] == "int_type"


@pytest.mark.parametrize(
    "birth_date",
    [
        "1958-03-14T00:00:00",
        "1958-03-14T00:00:00Z",
        "1958-03-14 00:00",
        -372729600,  # 1958-03-14T00:00:00Z as a Unix timestamp
        "-372729600",
        "19580314",
    ],
    ids=["datetime", "datetime-utc", "datetime-space", "timestamp", "timestamp-text", "basic"],
)
def test_birth_date_accepts_only_a_date_written_yyyy_mm_dd(birth_date: Any) -> None:
    errors = _errors(_with_applicant(birth_date=birth_date))
    assert errors["applicant.birth_date"] == (
        "date_type",
        "Input should be a date written YYYY-MM-DD",
    )


def test_birth_date_as_a_python_datetime_is_refused() -> None:
    body = _with_applicant(birth_date=datetime(1958, 3, 14, tzinfo=UTC))
    with pytest.raises(ValidationError) as raised:
        ApplicationBody.model_validate(body)
    assert [e["loc"] for e in raised.value.errors()] == [("applicant", "birth_date")]
    assert ApplicationBody.model_validate(_with_applicant(birth_date=date(1958, 3, 14)))


@pytest.mark.parametrize("birth_date", ["0001-01-01", "1899-12-31"])
def test_birth_date_before_1900_is_refused(birth_date: str) -> None:
    errors = _errors(_with_applicant(birth_date=birth_date))
    assert errors["applicant.birth_date"] == (
        "date_out_of_range",
        "must be between 1900-01-01 and 2100-12-31",
    )
    assert ApplicationBody.model_validate(_with_applicant(birth_date="1900-01-01"))


@pytest.mark.parametrize(
    ("benefit", "facts", "date_fact"),
    [
        (
            "disability_benefit",
            {"disability_group": 1, "assessment_date": "{}"},
            "assessment_date",
        ),
        ("childbirth_allowance", {"child_birth_date": "{}"}, "child_birth_date"),
    ],
)
def test_fact_dates_lie_between_1900_and_2100_and_may_be_in_the_future(
    benefit: str, facts: dict[str, Any], date_fact: str
) -> None:
    def body(on: str) -> dict[str, Any]:
        dated = {
            name: value.format(on) if value == "{}" else value for name, value in facts.items()
        }
        return application(benefit=benefit, facts=dated)

    for implausible in ("1899-12-31", "2101-01-01", "0001-01-01", "2026-01-01T00:00:00"):
        assert f"facts.{date_fact}" in _errors(body(implausible)), implausible
    for plausible in ("1900-01-01", "2100-12-31", "2099-06-30"):
        ApplicationBody.model_validate_json(json.dumps(body(plausible)))


def test_every_lenient_field_is_reported_at_once() -> None:
    body = application(facts={"insurance_years": True})
    body["applicant"].update(full_name="\x00", birth_date="0001-01-01")
    body["applicant"]["email"] = "not-an-email"
    assert set(_errors(body)) == {
        "applicant.full_name",
        "applicant.birth_date",
        "applicant.email",
        "facts.insurance_years",
    }
    body["applicant"].update(full_name="   ", birth_date="1958-03-14T00:00:00")
    assert set(_errors(body)) == {
        "applicant.full_name",
        "applicant.birth_date",
        "applicant.email",
        "facts.insurance_years",
    }


def _submit_command(data: dict[str, Any]) -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": "command-1",
            "source": "urn:gov:state-employment-service",
            "type": "dost.intake.SubmitApplication.v1",
            "time": "2026-03-01T10:00:00+04:00",
            "data": data,
        }
    ).encode()


def test_submit_application_command_with_lenient_input_is_invalid_event_data() -> None:
    data = application(facts={"insurance_years": True})
    data["applicant"].update(full_name="Aysel\x00", birth_date="1958-03-14T00:00:00")
    with pytest.raises(InvalidEventData) as raised:
        decode(_submit_command(data))
    assert {error.loc for error in raised.value.errors} >= {
        "data.applicant.full_name",
        "data.applicant.birth_date",
        "data.facts.insurance_years",
    }


@pytest.mark.parametrize(
    ("model", "fields", "text_field"),
    [
        (
            ApplicationWithdrawn,
            {"case_id": "c-1", "withdrawn_at": "2026-03-01T10:00:00Z", "withdrawn_by": "clerk-1"},
            "reason",
        ),
        (PaymentReturned, {"instruction_id": "i-1"}, "reason"),
        (
            ReviewCompleted,
            {
                "case_id": "c-1",
                "outcome": "approved",
                "reasons": [],
                "reviewed_by": "caseworker-1",
                "reviewed_at": "2026-03-01T10:00:00Z",
            },
            "note",
        ),
    ],
    ids=["withdrawal-reason", "bank-return-reason", "review-note"],
)
def test_free_text_in_events_refuses_control_characters_but_keeps_line_breaks(
    model: type[BaseModel], fields: dict[str, Any], text_field: str
) -> None:
    for hostile in ("moved\x00abroad", "moved\x07abroad", "moved\x1b[2Jabroad", "moved\x7f"):
        with pytest.raises(ValidationError) as raised:
            model.model_validate({**fields, text_field: hostile})
        (error,) = raised.value.errors()
        assert (error["loc"], error["type"]) == ((text_field,), "control_characters")
        assert error["msg"] == "must not contain control characters"
    kept = model.model_validate({**fields, text_field: "moved abroad\r\n\tto Georgia"})
    assert getattr(kept, text_field) == "moved abroad\r\n\tto Georgia"
