"""The demo `make run` shows: one application of each benefit through the running stack,
a caseworker's review, and a case's timeline, all through the public HTTP APIs."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from chassis.auth import Role, mint_local_token
from contracts.application import agency_today

Say = Callable[[str], None]
AGENCY_ZONE = ZoneInfo("Asia/Baku")


def _applicant(national_id: str, name: str, born: str) -> dict[str, Any]:
    return {
        "national_id": national_id,
        "full_name": name,
        "birth_date": born,
        "phone": "+994501234567",
        "email": "citizen@example.az",
        "language": "az",
        "bank_account": "AZ21NABZ00000000137010001944",
    }


def demo_applications() -> list[dict[str, Any]]:
    today = agency_today()
    return [
        {
            "benefit": "old_age_pension",
            "center_id": "baku-yasamal",
            "applicant": _applicant("5ZK7PQM", "Aysel Mammadova", "1958-03-14"),
            "facts": {"insurance_years": 31},
        },
        {
            "benefit": "disability_benefit",
            "center_id": "baku-yasamal",
            "applicant": _applicant("6AB2CD3", "Rashad Aliyev", "1979-07-02"),
            "facts": {
                "disability_group": 2,
                "assessment_date": (today - timedelta(days=40)).isoformat(),
            },
        },
        {
            "benefit": "unemployment_benefit",
            "center_id": "ganja-1",
            "applicant": _applicant("7EF4GH5", "Leyla Huseynova", "1991-11-20"),
            "facts": {
                "registered_unemployed": True,
                "insured_months_last_18": 14,
                "average_monthly_wage": "650.00",
            },
        },
        {
            "benefit": "targeted_social_assistance",
            "center_id": "sumgait-1",
            "applicant": _applicant("8JK6LM7", "Elvin Guliyev", "1985-01-09"),
            "facts": {"household_members": 4, "household_monthly_income": "520.00"},
        },
        {
            "benefit": "childbirth_allowance",
            "center_id": "baku-nasimi",
            "applicant": _applicant("9NP8QR9", "Nigar Ismayilova", "1996-05-30"),
            "facts": {"child_birth_date": (today - timedelta(days=12)).isoformat()},
        },
    ]


def run_demo(
    state_dir: Path, intake_url: str, eligibility_url: str, notifications_url: str, say: Say
) -> bool:
    """Drive the stack as a clerk and a caseworker would; True if every step worked."""
    clerk = _bearer(state_dir, Role.CLERK, "demo-clerk")
    caseworker = _bearer(state_dir, Role.CASEWORKER, "demo-caseworker")
    auditor = _bearer(state_dir, Role.AUDITOR, "demo-auditor")
    with httpx.Client(timeout=10) as client:
        say("demo: a clerk submits one application of each benefit")
        cases: dict[str, str] = {}
        for body in demo_applications():
            response = client.post(
                f"{intake_url}/v1/applications",
                json=body,
                headers={**clerk, "Idempotency-Key": str(uuid.uuid4())},
            )
            response.raise_for_status()
            cases[body["benefit"]] = response.json()["case_id"]
        for benefit, case_id in cases.items():
            case = _wait_for(
                client, intake_url, case_id, clerk, lambda c: c["status"] != "submitted"
            )
            say(f"  {benefit:<28} {case['status']:<13} {_outcome(case)}")
        referred = cases["disability_benefit"]
        say("demo: a caseworker reviews the disability case and approves it")
        client.post(
            f"{eligibility_url}/v1/reviews/{referred}/decision",
            json={"outcome": "approve", "note": "assessment verified"},
            headers=caseworker,
        ).raise_for_status()
        case = _wait_for(client, intake_url, referred, clerk, lambda c: c["status"] == "approved")
        say(f"  disability_benefit           {case['status']:<13} {_outcome(case)}")
        say(f"demo: the timeline of case {referred}")
        for entry in case["timeline"]:
            say(f"  {entry['time'][:19]}  {entry['type']:<42} {entry['source']}")
        say(f"demo: what the citizen of case {referred} is told (in Azerbaijani)")
        for message in _told(client, notifications_url, referred, auditor):
            when = (
                "sent"
                if message["status"] == "sent"
                else f"{message['status']} until {_baku(message['send_after'])} (quiet hours)"
            )
            say(f"  {message['kind']:<20} {message['channel']:<6} {when}")
        say(f"  every message delivered: {state_dir / 'messages'}/{{sms,email}}.jsonl")
    say("demo finished")
    return True


def _bearer(state_dir: Path, role: Role, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_local_token(state_dir, roles=[role], subject=subject)}"}


def _outcome(case: dict[str, Any]) -> str:
    decision = case.get("decision") or {}
    award = decision.get("award") or {}
    if award:
        return f"{award['amount']} AZN {award['payment']} from {award['start_date']}"
    if decision.get("reasons"):
        return "reasons: " + ", ".join(decision["reasons"])
    return "waiting for a caseworker" if case["status"] == "under_review" else ""


def _baku(moment: str) -> str:
    return f"{datetime.fromisoformat(moment).astimezone(AGENCY_ZONE):%Y-%m-%d %H:%M} Baku time"


def _told(
    client: httpx.Client,
    notifications_url: str,
    case_id: str,
    headers: dict[str, str],
    timeout: float = 60.0,
) -> list[dict[str, Any]]:
    """The case's messages once the decision's e-mail is out (an SMS may wait for the end of
    the quiet hours)."""
    deadline = time.monotonic() + timeout
    while True:
        messages: list[dict[str, Any]] = client.get(
            f"{notifications_url}/v1/messages", params={"case_id": case_id}, headers=headers
        ).json()
        if any(m["kind"] == "approved" and m["status"] == "sent" for m in messages):
            return messages
        if time.monotonic() > deadline:
            raise TimeoutError(f"the citizen of case {case_id} was not told the decision")
        time.sleep(0.3)


def _wait_for(
    client: httpx.Client,
    intake_url: str,
    case_id: str,
    headers: dict[str, str],
    done: Callable[[dict[str, Any]], bool],
    timeout: float = 60.0,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        case: dict[str, Any] = client.get(
            f"{intake_url}/v1/applications/{case_id}", headers=headers
        ).json()
        if done(case):
            return case
        if time.monotonic() > deadline:
            raise TimeoutError(f"case {case_id} is still {case.get('status')}")
        time.sleep(0.3)
