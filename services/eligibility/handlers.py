"""Eligibility's handlers: load the case, decide, append, publish, keep read models."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from chassis.event_types import event_types
from chassis.unit_of_work import UnitOfWork
from contracts import CloudEvent, new_cloud_event
from contracts.application import agency_today
from contracts.eligibility import (
    Award as AwardV1,
)
from contracts.eligibility import (
    EligibilityDecided,
    Payee,
    ReferredForReview,
    ReviewCompleted,
    RuleCheck,
    ScheduledAmount,
)
from contracts.eligibility import WithdrawalRejected as WithdrawalRejectedV1
from contracts.intake import ApplicationSubmitted
from contracts.types import Benefit
from services.eligibility import projections
from services.eligibility.domain.case import (
    AUTOMATED,
    ApplicationReceived,
    CaseEvent,
    Decided,
    EligibilityCase,
    Referred,
    WithdrawalRejected,
)
from services.eligibility.domain.errors import CaseNotFound
from services.eligibility.domain.events import STORED_EVENTS
from services.eligibility.domain.person import Person
from services.eligibility.domain.policy import PolicyBook
from services.eligibility.domain.rules import (
    APPROVED,
    ApplicationFacts,
    Assessment,
    Award,
    Circumstances,
)
from services.eligibility.projections import EligibilityTables

SOURCE = "urn:dost:eligibility"
event_types.register_all(STORED_EVENTS)


def application_facts(submitted: ApplicationSubmitted) -> ApplicationFacts:
    body = submitted.application
    return ApplicationFacts(
        case_id=submitted.case_id,
        benefit=body.benefit.value,
        national_id=body.applicant.national_id,
        birth_date=body.applicant.birth_date,
        application_date=agency_today(submitted.submitted_at),
        facts=body.facts.model_dump(mode="json"),
        submitted_by=submitted.submitted_by,
        full_name=body.applicant.full_name,
        bank_account=body.applicant.bank_account,
    )


def _person(national_id: str) -> str:
    return f"person:{national_id}"


async def decide_application(
    work: UnitOfWork, event: CloudEvent, book: PolicyBook, *, now: datetime
) -> None:
    """Decide a newly submitted application (once: a redelivery finds the case exists)."""
    assert isinstance(event.data, ApplicationSubmitted)
    application = application_facts(event.data)
    if await work.stream_version(EligibilityCase.stream_of(application.case_id)):
        return
    # Every decision about a person is serialised on that person: a death or another
    # decision committed meanwhile is seen, never decided past (write skew).
    await work.serialize_on(_person(application.national_id))
    case = EligibilityCase.receive(application, now)
    known = await projections.circumstances(work.connection, work.schema, application)
    case.decide(book, known, now)
    await _save(work, case, correlation_id=event.correlationid or event.id, causation_id=event.id)


async def withdraw(
    work: UnitOfWork, case_id: str, *, now: datetime, withdrawal_id: str, correlation_id: str
) -> None:
    """The applicant withdrew: no decision will be made if none was yet; if one was, the
    withdrawal is rejected and the decision stands."""
    try:
        case = await load_case(work, case_id)
    except CaseNotFound:
        return
    case.withdraw(withdrawal_id, now)
    await _save(work, case, correlation_id=correlation_id, causation_id=withdrawal_id)


async def person_died(
    work: UnitOfWork,
    national_id: str,
    date_of_death: date,
    *,
    now: datetime,
    causation_id: str,
) -> None:
    """Remember the death, and close the person's cases waiting for a review."""
    await work.serialize_on(_person(national_id))
    person = await work.load(Person, national_id) or Person.blank(national_id)
    person.report_death(date_of_death, now)
    for saved in await work.save(person, correlation_id=causation_id, causation_id=causation_id):
        await projections.apply(
            work.connection, EligibilityTables.live(work.schema), national_id, saved.event
        )
    for case_id in await projections.queued_cases_of(work.connection, work.schema, national_id):
        case = await load_case(work, case_id)
        case.close_for_death(now)
        await _save(work, case, correlation_id=causation_id, causation_id=causation_id)


async def end_award(
    work: UnitOfWork, case_id: str, ended_on: date, reason: str, *, now: datetime, causation_id: str
) -> None:
    """Payments ended the case's entitlement: the person no longer counts as receiving."""
    try:
        case = await load_case(work, case_id)
    except CaseNotFound:
        return  # granted from another eligibility deployment's decision: not ours
    await work.serialize_on(_person(case.applicant.national_id))
    case = await load_case(work, case_id)
    case.end_award(ended_on, reason, now)
    await _save(work, case, correlation_id=causation_id, causation_id=causation_id)


async def review(
    work: UnitOfWork,
    case_id: str,
    *,
    approve: bool,
    reasons: Sequence[str],
    note: str | None,
    reviewer: str,
    reviewer_is_supervisor: bool,
    now: datetime,
    correlation_id: str,
) -> EligibilityCase:
    """A caseworker's decision on a referred case, or a supervisor's override."""
    case = await load_case(work, case_id)
    await work.serialize_on(_person(case.applicant.national_id))
    case = await load_case(work, case_id)  # as it is now that nobody else decides for them
    known = await projections.circumstances(work.connection, work.schema, case.applicant)
    case.review(
        approve=approve,
        reasons=reasons,
        note=note,
        reviewer=reviewer,
        reviewer_is_supervisor=reviewer_is_supervisor,
        circumstances=known,
        at=now,
    )
    await _save(work, case, correlation_id=correlation_id, causation_id=None)
    return case


async def load_case(work: UnitOfWork, case_id: str) -> EligibilityCase:
    case = await work.load(EligibilityCase, case_id)
    if case is None:
        raise CaseNotFound(f"no eligibility case {case_id}")
    return case


async def _save(
    work: UnitOfWork, case: EligibilityCase, *, correlation_id: str, causation_id: str | None
) -> None:
    saved = await work.save(
        case,
        public_events=_public_events,
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    for event in saved:
        await _update_read_models(work, case, event.event)


async def _update_read_models(work: UnitOfWork, case: EligibilityCase, event: CaseEvent) -> None:
    await projections.apply(
        work.connection, EligibilityTables.live(work.schema), case.case_id, event
    )


def _public_events(case: EligibilityCase, event: CaseEvent, event_id: str) -> list[CloudEvent]:
    application = case.applicant
    benefit = Benefit(application.benefit)
    if isinstance(event, WithdrawalRejected):
        rejection = WithdrawalRejectedV1(
            case_id=case.case_id,
            decision="approved" if event.decision == APPROVED else "rejected",
            withdrawal_id=event.withdrawal_id,
            rejected_at=event.rejected_at,
        )
        return [_envelope(rejection, case.case_id, event.rejected_at, event_id)]
    if isinstance(event, Referred):
        data: EligibilityDecided | ReferredForReview | ReviewCompleted = ReferredForReview(
            case_id=case.case_id,
            benefit=benefit,
            review_reasons=list(event.assessment.review_reasons),
            proposal=_award(event.assessment.proposal),
            policy_version=event.assessment.policy_version,
            rules=_rules(event.assessment),
            referred_at=event.referred_at,
        )
        return [_envelope(data, case.case_id, event.referred_at, event_id)]
    if not isinstance(event, Decided):
        return []
    approved = event.outcome == APPROVED
    decided = EligibilityDecided(
        case_id=case.case_id,
        benefit=benefit,
        outcome="approved" if approved else "rejected",
        reasons=[] if approved else list(event.reasons),
        award=_award(event.assessment.proposal) if approved else None,
        payee=(
            Payee(
                national_id=application.national_id,
                full_name=application.full_name,
                bank_account=application.bank_account,
            )
            if approved
            else None
        ),
        policy_version=event.assessment.policy_version,
        rules=_rules(event.assessment),
        decided_at=event.decided_at,
        decided_by=event.decided_by,
    )
    envelopes = [_envelope(decided, case.case_id, event.decided_at, event_id)]
    if event.decided_by != AUTOMATED:
        completed = ReviewCompleted(
            case_id=case.case_id,
            outcome=decided.outcome,
            reasons=list(event.reasons),
            note=event.note,
            reviewed_by=event.decided_by,
            reviewed_at=event.decided_at,
            overrides_automated_rejection=event.overrides_automated_rejection,
        )
        envelopes.insert(0, _envelope(completed, case.case_id, event.decided_at, None))
    return envelopes


def _envelope(
    data: EligibilityDecided | ReferredForReview | ReviewCompleted | WithdrawalRejectedV1,
    case_id: str,
    at: datetime,
    event_id: str | None,
) -> CloudEvent:
    return new_cloud_event(data, source=SOURCE, subject=case_id, event_id=event_id, time=at)


def _award(award: Award | None) -> AwardV1 | None:
    if award is None:
        return None
    return AwardV1(
        amount=award.amount,
        payment="lump_sum" if award.payment == "lump_sum" else "monthly",
        start_date=award.start_date,
        end_date=award.end_date,
        amount_schedule=[
            ScheduledAmount(
                effective_from=s.effective_from, amount=s.amount, policy_version=s.policy_version
            )
            for s in award.schedule
        ],
    )


def _rules(assessment: Assessment) -> list[RuleCheck]:
    return [
        RuleCheck(rule=r.rule, inputs=dict(r.inputs), passed=r.passed, reason=r.reason)
        for r in assessment.rules
    ]


async def past_applications(
    work: UnitOfWork, batch_size: int = 5000
) -> list[tuple[ApplicationFacts, Circumstances]]:
    """Every application eligibility received, with the circumstances its decision found."""
    received: dict[str, ApplicationFacts] = {}
    found: dict[str, Circumstances] = {}
    position = 0
    while batch := await work.events.read_all(work.connection, position, batch_size):
        for stored in batch:
            event = work.event_types.from_recorded(stored)
            if isinstance(event, ApplicationReceived):
                received[stored.stream_id] = event.application
            elif isinstance(event, Decided | Referred) and stored.stream_id not in found:
                checks = {rule.rule: rule.passed for rule in event.assessment.rules}
                found[stored.stream_id] = Circumstances(
                    deceased=not checks.get("not_deceased", True),
                    already_receiving=not checks.get("not_already_receiving", True),
                )
        position = batch[-1].position
    return [
        (application, found.get(stream, Circumstances(deceased=False, already_receiving=False)))
        for stream, application in received.items()
    ]
