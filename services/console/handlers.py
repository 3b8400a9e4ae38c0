"""The console's calls to the services, always with the signed-in user's own token: the
services decide what the user may see and do, the console only shows their answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Refused(Exception):
    """A service said no: its status and its JSON error body."""

    status: int
    body: dict[str, Any]


class Services:
    def __init__(self, intake: str, eligibility: str, payments: str, notifications: str) -> None:
        self.intake = intake.rstrip("/")
        self.eligibility = eligibility.rstrip("/")
        self.payments = payments.rstrip("/")
        self.notifications = notifications.rstrip("/")
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        self._client = httpx.AsyncClient(timeout=15)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _get(self, url: str, token: str, params: dict[str, str] | None = None) -> Any:
        assert self._client is not None, "open() the services client first"
        answer = await self._client.get(
            url, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        if answer.status_code != 200:
            raise Refused(answer.status_code, _body(answer))
        return answer.json()

    async def find_cases(self, token: str, national_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._get(
            f"{self.intake}/v1/applications", token, {"national_id": national_id}
        )
        return found

    async def case(self, token: str, case_id: str) -> dict[str, Any]:
        found: dict[str, Any] = await self._get(f"{self.intake}/v1/applications/{case_id}", token)
        return found

    async def reviews(self, token: str) -> list[dict[str, Any]]:
        """The whole review queue, oldest first."""
        found: list[dict[str, Any]] = []
        page = 1
        while batch := await self._get(
            f"{self.eligibility}/v1/reviews", token, {"page": str(page), "page_size": "200"}
        ):
            found += batch
            page += 1
        return found

    async def decide_review(
        self, token: str, case_id: str, outcome: str, reasons: list[str], note: str | None
    ) -> dict[str, Any]:
        """The caseworker's decision; :class:`Refused` with eligibility's words when it says
        no (four-eyes, already decided, ...)."""
        assert self._client is not None, "open() the services client first"
        answer = await self._client.post(
            f"{self.eligibility}/v1/reviews/{case_id}/decision",
            json={"outcome": outcome, "reasons": reasons, "note": note or None},
            headers={"Authorization": f"Bearer {token}"},
        )
        if answer.status_code not in (200, 202):
            raise Refused(answer.status_code, _body(answer))
        decided: dict[str, Any] = answer.json()
        return decided

    async def healthy(self) -> dict[str, bool]:
        assert self._client is not None, "open() the services client first"
        answers = {}
        for name, base in (
            ("intake", self.intake),
            ("eligibility", self.eligibility),
            ("payments", self.payments),
            ("notifications", self.notifications),
        ):
            try:
                answers[name] = (await self._client.get(f"{base}/healthz", timeout=3)).is_success
            except httpx.HTTPError:
                answers[name] = False
        return answers


def _body(answer: httpx.Response) -> dict[str, Any]:
    try:
        body = answer.json()
    except ValueError:
        return {"error": "error", "detail": answer.text[:300]}
    return body if isinstance(body, dict) else {"error": "error", "detail": body}
