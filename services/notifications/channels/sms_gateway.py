"""SMS through an HTTP gateway.

`POST <url>` with `{"to", "from", "text", "reference"}`, a bearer token and an
`Idempotency-Key` header (the notification id). 2xx: sent (`message_id` in the answer).
409: the gateway has this key already, so the message went out before: sent. 400, 410 and
422 (the number is invalid or gone): refused for good. Anything else (5xx, 429, a timeout, a
broken connection, and also 401/403/404, which say our token or URL is wrong, not the
citizen's number): try again later, so a rotated token loses no message."""

from __future__ import annotations

import httpx

from services.notifications.channels import OutgoingMessage
from services.notifications.domain.delivery import Delivered, Failed, Outcome

_REFUSED_FOR_GOOD = frozenset({400, 410, 422})


class SmsGateway:
    name = "sms"

    def __init__(self, url: str, *, token: str | None, sender: str, timeout: float) -> None:
        self.url = url
        self.token = token
        self.sender = sender
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None

    async def open(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        self._client = httpx.AsyncClient(timeout=self.timeout, headers=headers)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def send(self, message: OutgoingMessage) -> Outcome:
        assert self._client is not None, "open() the gateway first"
        try:
            answer = await self._client.post(
                self.url,
                json={
                    "to": message.recipient,
                    "from": self.sender,
                    "text": message.body,
                    "reference": message.notification_id,
                },
                headers={"Idempotency-Key": message.notification_id},
            )
        except httpx.TimeoutException:
            return Failed("gateway timed out", permanent=False)
        except httpx.HTTPError as error:
            return Failed(f"gateway unreachable: {type(error).__name__}", permanent=False)
        if answer.is_success:
            return Delivered(_message_id(answer))
        if answer.status_code == httpx.codes.CONFLICT:
            return Delivered(_message_id(answer), repeated=True)
        reason = f"gateway answered {answer.status_code}: {_error_text(answer)}"
        return Failed(reason, permanent=answer.status_code in _REFUSED_FOR_GOOD)


def _message_id(answer: httpx.Response) -> str | None:
    try:
        found = answer.json().get("message_id")
    except (ValueError, AttributeError):
        return None
    return str(found) if found is not None else None


def _error_text(answer: httpx.Response) -> str:
    try:
        body = answer.json()
        text = body.get("error") or body.get("detail") or ""
    except (ValueError, AttributeError):
        text = answer.text
    return str(text)[:200]
