"""The journey's steps, each through a public interface: the services' HTTP APIs with the
token of the role that would act, the Kafka topics other systems write to, the operator's
statement import, and the rating links in the messages citizens received."""

from __future__ import annotations

import asyncio
import json
import random
import re
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import httpx
from aiokafka import AIOKafkaProducer
from rich.progress import Progress

from chassis.auth import Role, mint_local_token
from chassis.settings import ChassisSettings
from contracts.application import agency_today
from contracts.topics import BANK_SETTLEMENTS, INTAKE_COMMANDS, REGISTRY_EVENTS
from deploy.journey.bank import debit_notification
from deploy.journey.citizens import Citizen

T = TypeVar("T")
PORTAL = "urn:gov:e-gov-portal"
FINAL = ("approved", "rejected", "withdrawn")
_RATING_LINK = re.compile(r"/feedback/([A-Za-z0-9_-]{48})")


class JourneyError(RuntimeError):
    """A step did not complete in time, or a service refused what it should have taken."""


@dataclass(frozen=True)
class Stack:
    """Where the running services and the infrastructure are."""

    intake: str
    eligibility: str
    payments: str
    notifications: str
    settings: ChassisSettings

    @property
    def messages(self) -> Path:
        return self.settings.state_dir / "messages"


@dataclass
class Happenings:
    """What the journey did, for the summary and the invariants."""

    rejected_over_http: int = 0
    invalid_over_http: int = 0
    duplicates_answered_alike: int = 0
    duplicates_sent: int = 0
    garbage_commands: int = 0
    withdrawn: list[str] = field(default_factory=list)
    reviewed: dict[str, str] = field(default_factory=dict)
    overridden: list[str] = field(default_factory=list)
    died: list[str] = field(default_factory=list)
    run_id: str | None = None
    settled_by_event: int = 0
    returned_by_event: int = 0
    settled_by_file: int = 0
    returned_by_file: int = 0
    ratings: dict[str, int] = field(default_factory=dict)


class Journey:
    def __init__(
        self,
        stack: Stack,
        citizens: list[Citizen],
        progress: Progress,
        *,
        seed: int = 2026,
        deadline_s: float = 300.0,
    ) -> None:
        self.stack = stack
        self.citizens = citizens
        self.progress = progress
        self.chance = random.Random(seed + 1)
        self.deadline_s = deadline_s
        self.did = Happenings()
        self.entitled: list[str] = []
        state = stack.settings.state_dir
        self.clerk = _bearer(state, Role.CLERK, "clerk-demo")
        self.caseworker = _bearer(state, Role.CASEWORKER, "caseworker-demo")
        self.supervisor = _bearer(state, Role.SUPERVISOR, "supervisor-demo")
        self.client = httpx.AsyncClient(timeout=15)

    @property
    def valid(self) -> list[Citizen]:
        return [citizen for citizen in self.citizens if citizen.valid]

    async def run(self) -> Happenings:
        try:
            await self.submit()
            await self.find_cases()
            await self.until_cases("decisions", lambda status: status != "submitted")
            await self.withdraw_one()
            await self.decide_reviews()
            await self.override_one_rejection()
            await self.until_cases("final decisions", lambda status: status in FINAL)
            await self.report_a_death()
            await self.until_entitlements()
            await self.pay_the_month()
            await self.answer_as_the_bank()
            await self.rate_the_service()
            await self.until_quiet()
        finally:
            await self.client.aclose()
        return self.did

    # --- applications -----------------------------------------------------------------------

    async def submit(self) -> None:
        task = self.progress.add_task("applications submitted", total=len(self.citizens))
        over_http = [c for c in self.citizens if c.channel == "http"]
        over_kafka = [c for c in self.citizens if c.channel == "kafka"]
        gate = asyncio.Semaphore(8)

        async def one(citizen: Citizen) -> None:
            async with gate:
                await self._submit_over_http(citizen)
            self.progress.advance(task)

        producer = await self._producer()
        try:
            await asyncio.gather(*(one(citizen) for citizen in over_http))
            for citizen in over_kafka:
                await producer.send_and_wait(
                    INTAKE_COMMANDS, self._command(citizen), key=citizen.command_id.encode()
                )
                self.progress.advance(task)
            # What real days bring: a clerk's retry after a timeout, the portal sending a
            # command twice, and bytes that are no CloudEvent at all.
            for citizen in [c for c in over_http if c.valid][:3]:
                first = citizen.case_id
                await self._submit_over_http(citizen)
                self.did.duplicates_sent += 1
                self.did.duplicates_answered_alike += int(citizen.case_id == first)
            for citizen in over_kafka[:2]:
                await producer.send_and_wait(
                    INTAKE_COMMANDS, self._command(citizen), key=citizen.command_id.encode()
                )
            await producer.send_and_wait(INTAKE_COMMANDS, b"\x00not a cloudevent", key=b"x")
            self.did.garbage_commands += 1
        finally:
            await producer.stop()

    async def _submit_over_http(self, citizen: Citizen) -> None:
        answer = await self.client.post(
            f"{self.stack.intake}/v1/applications",
            json=citizen.body,
            headers={**self.clerk, "Idempotency-Key": citizen.idempotency_key},
        )
        if answer.status_code == 202:
            citizen.case_id = answer.json()["case_id"]
        elif answer.status_code == 422:
            self.did.rejected_over_http += 1
        else:
            raise JourneyError(f"intake answered {answer.status_code}: {answer.text[:200]}")
        self.did.invalid_over_http += int(not citizen.valid)

    def _command(self, citizen: Citizen) -> bytes:
        return json.dumps(
            {
                "specversion": "1.0",
                "id": citizen.command_id,
                "source": PORTAL,
                "type": "dost.intake.SubmitApplication.v1",
                "time": datetime.now(UTC).isoformat(),
                "datacontenttype": "application/json",
                "data": citizen.body,
            }
        ).encode()

    async def find_cases(self) -> None:
        """The portal learns its case ids from intake's events; the demo asks the tracker."""
        waiting = [c for c in self.valid if c.case_id is None]
        task = self.progress.add_task("portal cases opened", total=len(waiting))

        async def found() -> bool:
            for citizen in [c for c in waiting if c.case_id is None]:
                page = await self._get(
                    f"{self.stack.intake}/v1/applications",
                    self.clerk,
                    params={"national_id": citizen.national_id},
                )
                if page["items"]:
                    citizen.case_id = page["items"][0]["case_id"]
                    self.progress.advance(task)
            return all(c.case_id for c in waiting)

        await self._until(found, "the portal's applications were not all opened")

    async def until_cases(self, what: str, done: Callable[[str], bool]) -> None:
        task = self.progress.add_task(what, total=len(self.valid))
        pending = {c.case_id: c for c in self.valid if c.case_id}

        async def all_done() -> bool:
            for case_id in list(pending):
                case = await self._get(f"{self.stack.intake}/v1/applications/{case_id}", self.clerk)
                if done(case["status"]):
                    del pending[case_id]
                    self.progress.advance(task)
            return not pending

        await self._until(all_done, f"cases still waiting for {what}: {len(pending)}")

    # --- people deciding ----------------------------------------------------------------------

    async def _reviews(self) -> list[dict[str, Any]]:
        """The whole review queue, page after page."""
        found: list[dict[str, Any]] = []
        page = 1
        while batch := await self._get(
            f"{self.stack.eligibility}/v1/reviews",
            self.caseworker,
            params={"page": str(page), "page_size": "200"},
        ):
            found += batch
            page += 1
        return found

    async def withdraw_one(self) -> None:
        reviews = await self._reviews()
        if not reviews:
            return
        case_id = reviews[-1]["case_id"]
        answer = await self.client.post(
            f"{self.stack.intake}/v1/applications/{case_id}/withdraw",
            json={"reason": "the applicant found work"},
            headers=self.clerk,
        )
        if answer.status_code in (200, 202):
            self.did.withdrawn.append(case_id)

    async def decide_reviews(self) -> None:
        await asyncio.sleep(1.0)  # let eligibility hear of the withdrawal first
        reviews = [r for r in await self._reviews() if r["case_id"] not in self.did.withdrawn]
        task = self.progress.add_task("reviews decided", total=len(reviews))
        for number, review in enumerate(reviews):
            reject = number == 0 and len(reviews) > 2
            decision = (
                {"outcome": "reject", "reasons": ["not_eligible_on_review"], "note": "records"}
                if reject
                else {"outcome": "approve", "note": "assessment verified"}
            )
            answer = await self.client.post(
                f"{self.stack.eligibility}/v1/reviews/{review['case_id']}/decision",
                json=decision,
                headers=self.caseworker,
            )
            if answer.status_code not in (200, 202, 409):  # 409: withdrawn meanwhile
                raise JourneyError(f"review refused {answer.status_code}: {answer.text[:200]}")
            self.did.reviewed[review["case_id"]] = "reject" if reject else "approve"
            self.progress.advance(task)

    async def override_one_rejection(self) -> None:
        """A supervisor overrides an automated rejection of a pension (the records were
        incomplete)."""
        for citizen in self.valid:
            if citizen.benefit != "old_age_pension" or citizen.case_id is None:
                continue
            case = await self._get(
                f"{self.stack.intake}/v1/applications/{citizen.case_id}", self.clerk
            )
            if case["status"] != "rejected":
                continue
            answer = await self.client.post(
                f"{self.stack.eligibility}/v1/reviews/{citizen.case_id}/decision",
                json={"outcome": "approve", "note": "insurance record completed by hand"},
                headers=self.supervisor,
            )
            if answer.status_code in (200, 202):
                self.did.overridden.append(citizen.case_id)
                await self._until_status(citizen.case_id, "approved")
                return

    async def report_a_death(self) -> None:
        for citizen in self.valid:
            if citizen.benefit != "old_age_pension" or citizen.case_id in self.did.overridden:
                continue
            case = await self._get(
                f"{self.stack.intake}/v1/applications/{citizen.case_id}", self.clerk
            )
            if case["status"] != "approved":
                continue
            producer = await self._producer()
            try:
                event = {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "urn:gov:civil-registry",
                    "type": "dost.registry.PersonDied.v1",
                    "time": datetime.now(UTC).isoformat(),
                    "datacontenttype": "application/json",
                    "data": {
                        "national_id": citizen.national_id,
                        "date_of_death": agency_today().isoformat(),
                    },
                }
                await producer.send_and_wait(REGISTRY_EVENTS, json.dumps(event).encode())
            finally:
                await producer.stop()
            self.did.died.append(str(citizen.case_id))
            await self._until_status(str(citizen.case_id), "terminated")  # before the run
            return

    # --- money --------------------------------------------------------------------------------

    def approved(self) -> Iterable[str]:
        return [c.case_id for c in self.valid if c.case_id and c.case_id not in self._closed()]

    def _closed(self) -> set[str]:
        return set(self.did.withdrawn)

    async def until_entitlements(self) -> None:
        cases = [
            case_id
            for case_id in self.approved()
            if (await self._get(f"{self.stack.intake}/v1/applications/{case_id}", self.clerk))[
                "status"
            ]
            in ("approved", "terminated")
        ]
        task = self.progress.add_task("entitlements granted", total=len(cases))
        pending = list(cases)

        async def granted() -> bool:
            for case_id in list(pending):
                found = await self._get(
                    f"{self.stack.payments}/v1/entitlements",
                    self.clerk,
                    params={"case_id": case_id},
                )
                if found:
                    pending.remove(case_id)
                    self.entitled.append(case_id)
                    self.progress.advance(task)
            return not pending

        await self._until(granted, "approved cases without an entitlement")

    async def pay_the_month(self) -> None:
        period = f"{agency_today():%Y-%m}"
        started = await self.client.post(
            f"{self.stack.payments}/v1/payment-runs",
            json={"period": period},
            headers=self.supervisor,
        )
        if started.status_code != 202:
            raise JourneyError(f"payment run refused {started.status_code}: {started.text[:200]}")
        run_id = started.json()["id"]
        self.did.run_id = run_id
        task = self.progress.add_task(f"payment run {period}", total=None)

        async def completed() -> bool:
            run = await self._get(
                f"{self.stack.payments}/v1/payment-runs/{run_id}", self.supervisor
            )
            self.progress.update(task, total=run["total"] or None, completed=run["done"])
            if run["status"] == "failed":
                raise JourneyError(f"the payment run failed: {run['error']}")
            return bool(run["status"] == "completed")

        await self._until(completed, "the payment run did not complete")

    async def answer_as_the_bank(self) -> None:
        """Most transfers settle (reported by event), a few come back; a share of the day's
        answers arrives as a camt.054 file the operator imports."""
        instructions: list[dict[str, Any]] = []
        for case_id in self.entitled:
            for entitlement in await self._get(
                f"{self.stack.payments}/v1/entitlements", self.clerk, params={"case_id": case_id}
            ):
                instructions += [
                    i for i in entitlement["instructions"] if i["run_id"] == self.did.run_id
                ]
        task = self.progress.add_task("bank answers", total=len(instructions))
        by_event: list[dict[str, Any]] = []
        settled_in_file: list[tuple[str, Decimal]] = []
        returned_in_file: list[tuple[str, Decimal, str]] = []
        for instruction in instructions:
            draw = self.chance.random()
            amount = Decimal(str(instruction["amount"]))
            if draw < 0.15:
                if draw < 0.02:
                    returned_in_file.append((instruction["instruction_id"], amount, "AC04"))
                else:
                    settled_in_file.append((instruction["instruction_id"], amount))
            else:
                by_event.append({**instruction, "returned": draw > 0.94})
        producer = await self._producer()
        try:
            for instruction in by_event:
                if instruction["returned"]:
                    data: dict[str, Any] = {"reason": "AC04 account closed"}
                    kind = "PaymentReturned"
                    self.did.returned_by_event += 1
                else:
                    data = {"settled_at": datetime.now(UTC).isoformat()}
                    kind = "PaymentSettled"
                    self.did.settled_by_event += 1
                event = {
                    "specversion": "1.0",
                    "id": str(uuid.uuid4()),
                    "source": "urn:bank:treasury",
                    "type": f"dost.bank.{kind}.v1",
                    "time": datetime.now(UTC).isoformat(),
                    "datacontenttype": "application/json",
                    "data": {"instruction_id": instruction["instruction_id"], **data},
                }
                key = instruction["instruction_id"].encode()
                await producer.send_and_wait(BANK_SETTLEMENTS, json.dumps(event).encode(), key=key)
                self.progress.advance(task)
        finally:
            await producer.stop()
        if settled_in_file or returned_in_file:
            from deploy.operations import import_statement
            from services.payments.settings import PaymentsSettings

            document = debit_notification(
                settled_in_file,
                returned_in_file,
                account_iban=PaymentsSettings().debtor_iban,
                booked_on=agency_today(),
            )
            statement = self.stack.settings.state_dir / "bank" / "camt054-demo.xml"
            statement.parent.mkdir(parents=True, exist_ok=True)
            statement.write_bytes(document)
            if await _quietly(import_statement(self.stack.settings, document)) != 0:
                raise JourneyError(f"the bank statement {statement} was not imported")
            self.did.settled_by_file += len(settled_in_file)
            self.did.returned_by_file += len(returned_in_file)
            self.progress.advance(task, len(settled_in_file) + len(returned_in_file))
        ids = {i["instruction_id"] for i in instructions}
        answered = self.progress.add_task("bank answers recorded", total=len(ids))

        async def recorded() -> bool:
            done = 0
            for case_id in self.entitled:
                for entitlement in await self._get(
                    f"{self.stack.payments}/v1/entitlements",
                    self.clerk,
                    params={"case_id": case_id},
                ):
                    done += sum(
                        1
                        for i in entitlement["instructions"]
                        if i["instruction_id"] in ids and i["status"] != "issued"
                    )
            self.progress.update(answered, completed=done)
            return done == len(ids)

        await self._until(recorded, "the bank's answers were not all recorded")

    # --- citizens -------------------------------------------------------------------------------

    async def rate_the_service(self) -> None:
        """Most citizens who were invited follow the link; most are satisfied."""
        tokens: set[str] = set()

        async def invited() -> bool:
            tokens.update(_rating_tokens(self.stack.messages))
            return len(tokens) > 0

        await self._until(invited, "no citizen received a rating link")
        await asyncio.sleep(2.0)  # let the decisions' messages finish going out
        tokens.update(_rating_tokens(self.stack.messages))
        chosen = [t for t in sorted(tokens) if self.chance.random() < 0.7]
        task = self.progress.add_task("ratings given", total=len(chosen))
        for token in chosen:
            rating = self.chance.choices((5, 4, 3, 2, 1), weights=(64, 31, 3, 1, 1))[0]
            answer = await self.client.post(
                f"{self.stack.notifications}/v1/feedback", json={"token": token, "rating": rating}
            )
            if answer.status_code != 201:
                raise JourneyError(f"a rating was refused {answer.status_code}: {answer.text}")
            self.did.ratings[token] = rating
            self.progress.advance(task)

    async def until_quiet(self) -> None:
        """Until nothing is on its way: no consumer behind, every outbox empty, no message
        being sent or due (an SMS waiting for the end of the quiet hours is not due). Lag is
        read before the stores, and quiet must be seen twice, seconds apart: a record
        consumed between the two reads shows in the stores of the next one."""
        from deploy.asyncapi_docs import consumer_groups
        from deploy.journey.stores import Schemas, in_flight

        task = self.progress.add_task("settling", total=None)
        groups = consumer_groups()
        quiet_since: float | None = None
        loop = asyncio.get_running_loop()

        async def quiet() -> bool:
            nonlocal quiet_since
            waiting = await in_flight(
                self.stack.settings.database_url,
                self.stack.settings.kafka_bootstrap_servers,
                Schemas.configured(),
                groups,
            )
            self.progress.update(task, description=f"settling ({waiting} in flight)")
            if waiting:
                quiet_since = None
                return False
            if quiet_since is None:
                quiet_since = loop.time()
            return loop.time() - quiet_since >= 3.0

        await self._until(quiet, "messages or events were still in flight")

    # --- plumbing -------------------------------------------------------------------------------

    async def _until_status(self, case_id: str, status: str) -> None:
        async def reached() -> bool:
            case = await self._get(f"{self.stack.intake}/v1/applications/{case_id}", self.clerk)
            return bool(case["status"] == status)

        await self._until(reached, f"case {case_id} did not become {status}")

    async def _get(
        self, url: str, headers: dict[str, str], params: dict[str, str] | None = None
    ) -> Any:
        answer = await self.client.get(url, headers=headers, params=params)
        if answer.status_code != 200:
            raise JourneyError(f"GET {url} answered {answer.status_code}: {answer.text[:200]}")
        return answer.json()

    async def _until(self, check: Callable[[], Awaitable[bool]], failure: str) -> None:
        try:
            async with asyncio.timeout(self.deadline_s):
                while not await check():
                    await asyncio.sleep(0.5)
        except TimeoutError:
            raise JourneyError(f"{failure} after {self.deadline_s:.0f}s") from None

    async def _producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.stack.settings.kafka_bootstrap_servers,
            acks="all",
            enable_idempotence=self.stack.settings.kafka_enable_idempotence,
        )
        await producer.start()
        return producer


def _bearer(state_dir: Path, role: Role, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_local_token(state_dir, roles=[role], subject=subject)}"}


def _rating_tokens(messages: Path) -> set[str]:
    tokens: set[str] = set()
    for name, field_name in (("sms.jsonl", "text"), ("email.jsonl", "text")):
        path = messages / name
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines():
                tokens.update(_RATING_LINK.findall(json.loads(line).get(field_name) or ""))
    return tokens


async def _quietly(work: Awaitable[T]) -> T:
    """Run an operator command without its printing into the progress display."""
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        return await work
