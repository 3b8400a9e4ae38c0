"""A local SMTP server (aiosmtpd) for the local stack and the tests: it delivers nothing,
it writes every message it accepts to a JSON-lines file, one line per message.

Like large mailbox providers it never delivers one `Message-ID` twice: a repeat is taken
(250, so the sender counts it sent) and written nowhere. Tests may make it answer with
an SMTP error (`faults`) or watch each message (`on_message`, called in the server's
thread before it answers).

    python -m deploy.local.mail_server --port 8025 --log .dost/messages/email.jsonl
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MailSink:
    """The aiosmtpd handler: keeps what it accepts in its log file."""

    def __init__(self, log_path: Path) -> None:
        self.log_path = log_path
        self.message_ids: set[str] = set()
        self.faults: dict[str, list[str]] = {}  # recipient -> SMTP replies to answer next
        self.on_message: Callable[[dict[str, Any]], None] | None = None
        self.arrivals: Counter[str] = Counter()  # Message-ID -> times it came
        self._lock = threading.Lock()
        log_path.parent.mkdir(parents=True, exist_ok=True)
        if log_path.exists():
            self.message_ids = {record["message_id"] for record in self.messages()}

    def messages(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
        content = envelope.content if isinstance(envelope.content, bytes) else b""
        email = message_from_bytes(content, policy=policy.default)
        assert isinstance(email, EmailMessage)
        message_id = str(email.get("Message-ID", ""))
        recipients = [str(address) for address in envelope.rcpt_tos]
        with self._lock:
            self.arrivals[message_id] += 1
            for recipient in recipients:
                if self.faults.get(recipient):
                    return self.faults[recipient].pop(0)
            if message_id and message_id in self.message_ids:
                return "250 2.0.0 Already delivered; not delivered again"
            text = email.get_body(preferencelist=("plain",))
            html = email.get_body(preferencelist=("html",))
            record = {
                "message_id": message_id,
                "notification": str(email.get("X-DOST-Notification", "")),
                "from": envelope.mail_from,
                "to": recipients,
                "subject": str(email.get("Subject", "")),
                "language": str(email.get("Content-Language", "")),
                "text": text.get_content() if text is not None else None,
                "html": html.get_content() if html is not None else None,
                "received_at": datetime.now(UTC).isoformat(),
            }
            with self.log_path.open("a", encoding="utf-8") as log:
                log.write(json.dumps(record, ensure_ascii=False) + "\n")
            if message_id:
                self.message_ids.add(message_id)
        if self.on_message is not None:
            self.on_message(record)
        return "250 2.0.0 OK"


def start_mail_server(
    log_path: Path, *, host: str = "127.0.0.1", port: int
) -> tuple[Controller, MailSink]:
    """Serve in a thread of its own; stop with `controller.stop()`."""
    sink = MailSink(log_path)
    controller = Controller(sink, hostname=host, port=port, ready_timeout=10)
    controller.start()
    return controller, sink


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--log", type=Path, required=True)
    arguments = parser.parse_args()
    controller, _sink = start_mail_server(arguments.log, host=arguments.host, port=arguments.port)
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    try:
        stopped.wait()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
