"""How many SMS segments a text takes: 160 characters of the GSM 03.38 alphabet fit in one,
anything else (Azerbaijani ə, Cyrillic) makes it UCS-2 with 70 a segment."""

from __future__ import annotations

_GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ ÆæßÉ!\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED = set("^{}\\[~]|€\f")


def segments(text: str) -> int:
    """Segments `text` takes as one concatenated SMS."""
    if all(character in _GSM_BASIC or character in _GSM_EXTENDED for character in text):
        length = sum(2 if character in _GSM_EXTENDED else 1 for character in text)
        return 1 if length <= 160 else -(-length // 153)
    units = len(text.encode("utf-16-le")) // 2
    return 1 if units <= 70 else -(-units // 67)
