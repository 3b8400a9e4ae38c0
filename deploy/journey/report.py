"""The journey's summary, and the invariants it must leave intact."""

from __future__ import annotations

import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table

from deploy.journey.citizens import Citizen
from deploy.journey.drive import Happenings
from deploy.journey.stores import Figures

FINAL = {"approved", "rejected", "withdrawn", "terminated"}


def summary(console: Console, figures: Figures, did: Happenings, citizens: list[Citizen]) -> None:
    """Cases, money, messages, satisfaction and speed, as tables."""
    ours = {c.case_id for c in citizens if c.case_id}
    by_benefit: Counter[tuple[str, str]] = Counter()
    for case_id, status in figures.statuses.items():
        if case_id in ours:
            benefit = next(c.benefit for c in citizens if c.case_id == case_id)
            by_benefit[(benefit, status)] += 1
    statuses = sorted({status for _, status in by_benefit})
    cases = Table(title="Cases by benefit and status")
    cases.add_column("benefit", no_wrap=True)
    for status in statuses:
        cases.add_column(status, justify="right")
    cases.add_column("monthly AZN", justify="right")
    for benefit in sorted({benefit for benefit, _ in by_benefit}):
        monthly = figures.monthly_amounts.get(benefit)
        cases.add_row(
            benefit,
            *(str(by_benefit[(benefit, status)] or "") for status in statuses),
            f"{monthly:,.2f}" if monthly is not None else "",
        )
    console.print(cases)
    invalid = sum(1 for c in citizens if not c.valid)
    console.print(
        f"{len(citizens)} citizens: {invalid} sent something invalid"
        f" ({did.rejected_over_http} answered 422, the rest rejected on the command topic);"
        f" {did.duplicates_sent} clerk retries answered with the same case;"
        f" {len(did.reviewed)} reviews, {len(did.overridden)} supervisor override,"
        f" {len(did.withdrawn)} withdrawal, {len(did.died)} death reported."
    )

    money = Table(title=f"Payment run {did.run_id}")
    for column in ("instructions", "count", "AZN"):
        money.add_column(column, justify="right" if column != "instructions" else "left")
    for status in ("issued", "settled", "returned"):
        amount = figures.instruction_amounts.get(status) or Decimal("0.00")
        money.add_row(status, str(figures.instructions.get(status, 0)), f"{amount:,.2f}")
    console.print(money)
    console.print(
        f"The bank answered {did.settled_by_event + did.returned_by_event} by event"
        f" ({did.returned_by_event} returned) and {did.settled_by_file + did.returned_by_file}"
        f" in a camt.054 file ({did.returned_by_file} returned); lump sums owed:"
        f" {figures.lump_sums:,.2f} AZN."
    )

    messages = Table(title="Messages to citizens")
    for column in ("channel", "language", "sent", "waiting (quiet hours)", "failed", "cancelled"):
        messages.add_column(
            column, justify="left" if column in ("channel", "language") else "right"
        )
    for channel, language in sorted({(c, lang) for c, lang, _ in figures.messages}):
        count = {
            s: figures.messages.get((channel, language, s), 0)
            for s in ("sent", "pending", "failed", "cancelled")
        }
        messages.add_row(channel, language, *(str(count[s]) for s in count))
    console.print(messages)

    satisfaction = Table(title="Satisfaction (ratings of 4-5)")
    for column in ("center", "responses", "satisfied", "share %"):
        satisfaction.add_column(column, justify="left" if column == "center" else "right")
    for center, responses, satisfied, share in figures.satisfaction:
        satisfaction.add_row(center, str(responses), str(satisfied), f"{share}")
    console.print(satisfaction)
    p50, p95 = figures.percentile(0.50), figures.percentile(0.95)
    if p50 is not None and p95 is not None:
        console.print(
            f"From submission to the citizen's first message: p50 {p50:.1f} s, p95 {p95:.1f} s"
            f" ({len(figures.first_message_s)} cases)."
        )


def broken_invariants(
    figures: Figures, did: Happenings, citizens: list[Citizen], messages: Path
) -> list[str]:
    """Each invariant that does not hold, named, with what breaks it."""
    broken = []
    valid = [c for c in citizens if c.valid]
    undecided = [c.case_id for c in valid if figures.statuses.get(str(c.case_id)) not in FINAL]
    if undecided:
        broken.append(f"every valid case decided: {len(undecided)} are not, e.g. {undecided[0]}")
    many = [c.national_id for c in valid if len(figures.cases_of.get(c.national_id, [])) != 1]
    if many or did.duplicates_answered_alike != did.duplicates_sent:
        broken.append(f"one case per valid application: not so for {many[:3]}")
    opened = [
        c.national_id for c in citizens if not c.valid and figures.cases_of.get(c.national_id)
    ]
    if opened or did.rejected_over_http != sum(
        1 for c in citizens if not c.valid and c.channel == "http"
    ):
        broken.append(f"every invalid application refused: cases opened for {opened[:3]}")
    if figures.duplicate_instructions:
        broken.append(
            "one instruction per entitlement and period: "
            f"{len(figures.duplicate_instructions)} have more"
        )
    arrivals = _arrivals(messages)
    repeated = [key for key, count in arrivals.items() if count > 1]
    lost = figures.sent - set(arrivals)
    unrecorded = set(arrivals) - figures.sent
    if figures.duplicate_deliveries or repeated or lost or unrecorded:
        broken.append(
            "no duplicate message per event and channel: "
            f"{len(figures.duplicate_deliveries)} planned twice, {len(repeated)} delivered twice,"
            f" {len(lost)} recorded sent but not delivered, {len(unrecorded)} delivered but"
            " not recorded"
        )
    if figures.instructions.get("issued", 0):
        broken.append(
            "every instruction of the run answered by the bank: "
            f"{figures.instructions['issued']} still issued"
        )
    if len(citizens) >= 20:
        missing = [
            step
            for step, done in (
                ("a withdrawal", did.withdrawn),
                ("a supervisor override", did.overridden),
                ("a death", did.died),
                ("ratings", did.ratings),
            )
            if not done
        ]
        if missing:
            broken.append(f"the whole scenario ran: no {', no '.join(missing)}")
    expected = [letter for letter in figures.open_dead_letters if letter[2] == "not_a_cloudevent"]
    others = [letter for letter in figures.open_dead_letters if letter not in expected]
    if others or len(expected) != did.garbage_commands:
        broken.append(
            "no dead letter except the deliberately invalid inputs: "
            f"{others[:3]} (and {len(expected)} of {did.garbage_commands} expected)"
        )
    backlog = {schema: rows for schema, rows in figures.outbox_rows.items() if rows}
    if backlog:
        broken.append(f"every outbox empty: {backlog}")
    return broken


def _arrivals(messages: Path) -> Counter[str]:
    """How often each message (its notification id, `<event id>:<channel>`) reached the
    local SMS gateway and SMTP server."""
    arrivals: Counter[str] = Counter()
    for name, key in (("sms.jsonl", "idempotency_key"), ("email.jsonl", "notification")):
        path = messages / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                arrivals[json.loads(line)[key]] += 1
    return arrivals
