"""The demo's population and its verdict: a realistic mix, and each broken invariant named."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from contracts.application import ApplicationBody
from deploy.journey.citizens import BENEFITS, CENTERS, population
from deploy.journey.drive import Happenings
from deploy.journey.report import broken_invariants
from deploy.journey.stores import Figures

TODAY = date(2026, 11, 24)


def test_the_population_mixes_benefits_centers_languages_channels_and_mistakes() -> None:
    people = population(200, seed=7, today=TODAY)
    assert {c.benefit for c in people} == {name for name, _ in BENEFITS}
    assert {c.body["center_id"] for c in people} == set(CENTERS)
    assert {c.language for c in people} == {"az", "ru", "en"}
    assert Counter(c.channel for c in people).keys() == {"http", "kafka"}
    invalid = [c for c in people if not c.valid]
    assert len(invalid) == 10
    context = {"today": TODAY}
    for citizen in people:
        if citizen.valid:
            ApplicationBody.model_validate(citizen.body, context=context)  # raises if not
        else:
            try:
                ApplicationBody.model_validate(citizen.body, context=context)
            except ValidationError:
                continue
            raise AssertionError(f"citizen {citizen.number} should be invalid")
    assert len({c.national_id for c in people}) == 200
    assert population(200, seed=7, today=TODAY)[5].body == people[5].body  # reproducible


def outcome() -> tuple[Figures, Happenings, list]:  # type: ignore[type-arg]
    people = population(20, seed=3, today=TODAY)
    figures = Figures()
    for number, citizen in enumerate(people):
        if citizen.valid:
            citizen.case_id = f"case-{number}"
            figures.statuses[citizen.case_id] = "approved"
            figures.cases_of[citizen.national_id] = [citizen.case_id]
    figures.open_dead_letters = [("intake", "intake.commands", "not_a_cloudevent")]
    figures.outbox_rows = {"intake": 0, "payments": 0}
    did = Happenings(
        rejected_over_http=sum(1 for c in people if not c.valid and c.channel == "http"),
        garbage_commands=1,
        withdrawn=["case-w"],
        overridden=["case-o"],
        died=["case-d"],
        ratings={"token": 5},
    )
    figures.sent = {"e1:sms", "e1:email"}
    return figures, did, people


def deliver(messages: Path, *sms: str, emails: tuple[str, ...] = ()) -> None:
    """What the local sinks would have written."""
    (messages / "sms.jsonl").write_text("".join(f'{{"idempotency_key": "{k}"}}\n' for k in sms))
    (messages / "email.jsonl").write_text("".join(f'{{"notification": "{k}"}}\n' for k in emails))


def test_when_everything_holds_nothing_is_broken(tmp_path: Path) -> None:
    figures, did, people = outcome()
    deliver(tmp_path, "e1:sms", emails=("e1:email",))
    assert broken_invariants(figures, did, people, tmp_path) == []


def test_each_broken_invariant_is_named(tmp_path: Path) -> None:
    figures, did, people = outcome()
    undecided = next(c for c in people if c.valid)
    figures.statuses[str(undecided.case_id)] = "under_review"
    figures.duplicate_instructions = [("ent-1", "2026-11")]
    figures.duplicate_deliveries = ["event-1"]
    figures.open_dead_letters.append(("payments", "payments.settlements", "handler_failed"))
    figures.outbox_rows["payments"] = 3
    figures.instructions["issued"] = 2
    did.died = []
    deliver(tmp_path, "e1:sms", "e1:sms", "e9:sms")  # twice; and one never recorded
    broken = broken_invariants(figures, did, people, tmp_path)
    names = [line.split(":")[0] for line in broken]
    assert names == [
        "every valid case decided",
        "one instruction per entitlement and period",
        "no duplicate message per event and channel",
        "every instruction of the run answered by the bank",
        "the whole scenario ran",
        "no dead letter except the deliberately invalid inputs",
        "every outbox empty",
    ]
    assert (
        "1 planned twice, 1 delivered twice, 1 recorded sent but not delivered,"
        " 1 delivered but not recorded" in broken[2]
    )
    assert "no a death" in broken[4]


def test_a_case_opened_for_an_invalid_application_or_twice_for_one_is_named(tmp_path: Path) -> None:
    figures, did, people = outcome()
    invalid = next(c for c in people if not c.valid)
    figures.cases_of[invalid.national_id] = ["case-x"]
    valid = next(c for c in people if c.valid)
    figures.cases_of[valid.national_id] = [str(valid.case_id), "case-again"]
    deliver(tmp_path, "e1:sms", emails=("e1:email",))
    names = [line.split(":")[0] for line in broken_invariants(figures, did, people, tmp_path)]
    assert names == ["one case per valid application", "every invalid application refused"]
