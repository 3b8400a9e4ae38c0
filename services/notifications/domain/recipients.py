"""Recipients as they may be shown: masked, so a number or address never leaves the service."""

from __future__ import annotations

import re

_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?[0-9][0-9 ()-]{6,}[0-9]")


def mask_phone(phone: str) -> str:
    """`+994501234567` -> `+994*******67`: the country code and the last two digits."""
    if len(phone) <= 6:
        return "*" * len(phone)
    return phone[:4] + "*" * (len(phone) - 6) + phone[-2:]


def mask_email(email: str) -> str:
    """`aysel@example.az` -> `a***@example.az`: the first letter and the domain."""
    local, at, domain = email.rpartition("@")
    if not at or not local:
        return "***"
    return f"{local[0]}***@{domain}"


def mask_personal_data(text: str) -> str:
    """`text` with every e-mail address and phone number in it masked."""
    text = _EMAIL.sub(lambda found: mask_email(found.group()), text)
    return _PHONE.sub(lambda found: mask_phone(found.group()), text)


def mask(channel: str, recipient: str) -> str:
    return mask_phone(recipient) if channel == "sms" else mask_email(recipient)
