"""A small HTTP SMS gateway for the local stack and the tests: it delivers nothing, it
writes every message it accepts to a JSON-lines file, one line per message.

It behaves as real providers do where that matters: a bearer token (when one is set), an
`Idempotency-Key` that is required and never accepted twice (a repeat is answered 409 with
the first message's id, and written nowhere), 400 for a number that is not E.164. Tests
may make it fail (`faults`) or watch each message (`on_message`).

    python -m deploy.local.sms_gateway --port 8026 --log .dost/messages/sms.jsonl
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import re
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
MessageHook = Callable[[dict[str, Any]], Awaitable[None] | None]


class SmsSink:
    """What the gateway has accepted, kept in its log file (read back at start, so a
    restarted gateway still refuses a key it has seen)."""

    def __init__(self, log_path: Path, token: str | None = None) -> None:
        self.log_path = log_path
        self.token = token
        self.keys: dict[str, str] = {}
        self.faults: dict[str, list[int]] = {}  # recipient -> statuses to answer next
        self.on_message: MessageHook | None = None
        self.requests: Counter[str] = Counter()  # idempotency key -> requests for it
        self._lock = asyncio.Lock()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if log_path.exists():
            for line in log_path.read_text().splitlines():
                record = json.loads(line)
                self.keys[record["idempotency_key"]] = record["message_id"]

    def messages(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]


def create_gateway(sink: SmsSink) -> FastAPI:
    app = FastAPI(title="Local SMS gateway", docs_url=None, redoc_url=None)

    @app.post("/v1/messages")
    async def send(
        request: Request,
        idempotency_key: str | None = Header(None),
        authorization: str | None = Header(None),
    ) -> JSONResponse:
        if sink.token and authorization != f"Bearer {sink.token}":
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        if not idempotency_key:
            return JSONResponse({"error": "Idempotency-Key is required"}, status_code=400)
        try:
            body = await request.json()
            to, text = str(body["to"]), str(body["text"])
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "expected JSON with to and text"}, status_code=400)
        async with sink._lock:
            sink.requests[idempotency_key] += 1
            if idempotency_key in sink.keys:
                return JSONResponse(
                    {"error": "duplicate", "message_id": sink.keys[idempotency_key]},
                    status_code=409,
                )
            if sink.faults.get(to):
                fault = sink.faults[to].pop(0)
                return JSONResponse({"error": f"injected failure {fault}"}, status_code=fault)
            if not _E164.match(to):
                return JSONResponse({"error": "invalid number"}, status_code=400)
            record = {
                "message_id": str(uuid.uuid4()),
                "idempotency_key": idempotency_key,
                "to": to,
                "from": body.get("from"),
                "text": text,
                "received_at": datetime.now(UTC).isoformat(),
            }
            with sink.log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
            sink.keys[idempotency_key] = record["message_id"]
        if sink.on_message is not None:
            outcome = sink.on_message(record)
            if inspect.isawaitable(outcome):
                await outcome
        return JSONResponse({"message_id": record["message_id"]}, status_code=202)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8026)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--token", default=None)
    arguments = parser.parse_args()
    app = create_gateway(SmsSink(arguments.log, arguments.token))
    uvicorn.run(app, host=arguments.host, port=arguments.port, log_level="warning")


if __name__ == "__main__":
    main()
