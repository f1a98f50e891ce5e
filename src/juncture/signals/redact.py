"""PII redaction of free text before it is stored: e-mail addresses, phone numbers, card numbers.

Card numbers are only redacted when their digits pass the Luhn check, so order numbers and
other long digit runs survive. Extra patterns come from the ``redact_patterns`` setting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# 13-19 digits, optionally grouped by single spaces or dashes.
CARD = re.compile(r"(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])")
# International or national phone numbers: optional +, 8-15 digits with common separators.
PHONE = re.compile(r"(?<![\w+])(?:\+|00)?\d[\d ().-]{6,18}\d(?!\w)")


def luhn_ok(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return "[card]" if 13 <= len(digits) <= 19 and luhn_ok(digits) else match.group(0)


def _phone(match: re.Match[str]) -> str:
    raw = match.group(0)
    digits = re.sub(r"\D", "", raw)
    plain_run = raw.isdigit()
    # A bare run of 13+ digits is an order or account number, not a phone number.
    if plain_run and len(digits) > 12:
        return raw
    return "[phone]" if 8 <= len(digits) <= 15 else raw


class Redactor:
    """Applies the built-in and configured patterns; counts what it replaced."""

    def __init__(self, extra: Mapping[str, str] | None = None) -> None:
        self.extra = [(name, re.compile(pattern)) for name, pattern in (extra or {}).items()]

    def __call__(self, text: str) -> tuple[str, int]:
        before = text
        text = EMAIL.sub("[email]", text)
        text = CARD.sub(_card, text)
        text = PHONE.sub(_phone, text)
        for name, pattern in self.extra:
            text = pattern.sub(f"[{name}]", text)
        if text == before:
            return text, 0
        return text, text.count("[") - before.count("[")
