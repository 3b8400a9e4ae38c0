"""The SMS gateway client and the mailer against the local gateway and SMTP server: which
answers are sent, worth another try, or refused for good."""

from __future__ import annotations

import ipaddress
import ssl
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from deploy.local.mail_server import MailSink
from deploy.local.processes import free_port
from services.notifications.channels import OutgoingMessage
from services.notifications.channels.sms_gateway import SmsGateway
from services.notifications.channels.smtp import SmtpMailer
from services.notifications.domain.delivery import Delivered, Failed
from tests.integration.notifications.helpers import GATEWAY_TOKEN, message_sinks

pytestmark = pytest.mark.integration


def message(recipient: str) -> OutgoingMessage:
    return OutgoingMessage(f"{uuid.uuid4()}:sms", recipient, "Subject", "Body", "<p>Body</p>", "en")


async def test_the_gateway_client_tells_sent_repeated_retry_and_refused(tmp_path: Path) -> None:
    async with message_sinks(tmp_path) as sinks:
        gateway = SmsGateway(sinks.sms_url, token=GATEWAY_TOKEN, sender="DOST", timeout=5)
        await gateway.open()
        try:
            text = message("+994501112233")
            first = await gateway.send(text)
            assert isinstance(first, Delivered)
            assert not first.repeated
            again = await gateway.send(text)  # the same key: the gateway had it already
            assert again == Delivered(first.provider_message_id, repeated=True)
            assert len(sinks.texts_to("+994501112233")) == 1
            sinks.sms.faults["+994501112244"] = [503, 429]
            for _ in range(2):
                busy = await gateway.send(message("+994501112244"))
                assert isinstance(busy, Failed)
                assert not busy.permanent
            invalid = await gateway.send(message("not-a-number"))
            assert invalid == Failed("gateway answered 400: invalid number", permanent=True)
        finally:
            await gateway.close()
        wrong_token = SmsGateway(sinks.sms_url, token="rotated", sender="DOST", timeout=5)
        await wrong_token.open()
        try:
            refused = await wrong_token.send(message("+994501112255"))
            assert isinstance(refused, Failed)
            assert not refused.permanent  # our setup, not the number: retried
        finally:
            await wrong_token.close()
    nowhere = SmsGateway(f"http://127.0.0.1:{free_port()}/v1", token=None, sender="D", timeout=2)
    await nowhere.open()
    try:
        unreachable = await nowhere.send(message("+994501112266"))
        assert isinstance(unreachable, Failed)
        assert not unreachable.permanent
    finally:
        await nowhere.close()


async def test_the_mailer_tells_sent_retry_and_refused_and_repeats_are_delivered_once(
    tmp_path: Path,
) -> None:
    async with message_sinks(tmp_path) as sinks:
        mailer = SmtpMailer(
            host="127.0.0.1",
            port=sinks.smtp_port,
            sender="DOST <no-reply@dost.test>",
            message_id_domain="dost.test",
            timeout=5,
        )
        email = message("aysel@example.az")
        first = await mailer.send(email)
        again = await mailer.send(email)  # sent again after a crash: same Message-ID
        assert isinstance(first, Delivered)
        assert again == first
        (received,) = sinks.emails_to("aysel@example.az")
        assert received["message_id"] == first.provider_message_id
        assert received["subject"] == "Subject"
        assert received["language"] == "en"
        assert received["html"].strip() == "<p>Body</p>"
        sinks.mail.faults["busy@example.az"] = ["451 4.3.0 try later"]
        assert await mailer.send(message("busy@example.az")) == Failed(
            "server answered 451: 4.3.0 try later", permanent=False
        )
        sinks.mail.faults["auth@example.az"] = ["535 5.7.8 authentication failed"]
        auth = await mailer.send(message("auth@example.az"))
        assert isinstance(auth, Failed)
        assert not auth.permanent
        sinks.mail.faults["gone@example.az"] = ["550 5.1.1 <gone@example.az>: no such user"]
        gone = await mailer.send(message("gone@example.az"))
        assert gone == Failed("server answered 550: 5.1.1 <g***@example.az>: no such user", True)
    closed = SmtpMailer(
        host="127.0.0.1", port=free_port(), sender="x@dost.test", message_id_domain="d", timeout=2
    )
    down = await closed.send(message("aysel@example.az"))
    assert isinstance(down, Failed)
    assert not down.permanent


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path, key_path = directory / "server.pem", directory / "server.key"
    certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return certificate_path, key_path


async def test_the_mailer_uses_starttls_and_authenticates_when_set(tmp_path: Path) -> None:
    certificate, key = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certificate, key)

    def authenticator(*arguments: Any) -> AuthResult:
        login = arguments[4]
        accepted = login.login == b"dost" and login.password == b"s3cret"
        return AuthResult(success=accepted)

    sink = MailSink(tmp_path / "email.jsonl")
    controller = Controller(
        sink,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    )
    controller.start()
    try:

        def mailer(**overrides: Any) -> SmtpMailer:
            settings: dict[str, Any] = {
                "host": "127.0.0.1",
                "port": controller.port,
                "sender": "no-reply@dost.test",
                "message_id_domain": "dost.test",
                "username": "dost",
                "password": "s3cret",
                "tls": "starttls",
                "ca_file": str(certificate),
                "timeout": 5,
            }
            return SmtpMailer(**{**settings, **overrides})

        assert isinstance(await mailer().send(message("tls@example.az")), Delivered)
        assert len(sink.messages()) == 1
        for wrong in ({"password": "rotated"}, {"tls": "none"}):  # our setup: retried
            outcome = await mailer(**wrong).send(message("tls@example.az"))
            assert isinstance(outcome, Failed), wrong
            assert not outcome.permanent, (wrong, outcome)
        untrusted = await mailer(ca_file=None).send(message("tls@example.az"))
        assert isinstance(untrusted, Failed)
        assert not untrusted.permanent
        assert len(sink.messages()) == 1
    finally:
        controller.stop()
