"""Normalising identifier values, so the same person's identifier matches however it was typed.

E-mail addresses are trimmed and lower-cased (and must look like an address); phone numbers
become E.164 with `phonenumbers`, reading national forms in the region the message or its
source suggests; loyalty cards keep their digits. Values that cannot be normalised, and blocked
values (`null`, `anonymous`, `0`, ...), link nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from omnicx.identity.config import IdentityConfig

MAX_VALUE_LENGTH = 255


def _exact(value: str, region: str | None) -> str | None:
    return value


def _lower(value: str, region: str | None) -> str | None:
    return value.lower()


def _upper(value: str, region: str | None) -> str | None:
    return value.upper()


def _digits(value: str, region: str | None) -> str | None:
    digits = "".join(c for c in value if c.isdigit())
    return digits or None


@lru_cache(maxsize=65536)
def _email(value: str, region: str | None) -> str | None:
    lowered = value.lower()
    try:
        # Syntax only: resolving domains would make resolution depend on the network.
        validate_email(lowered, check_deliverability=False)
    except EmailNotValidError:
        return None
    return lowered


@lru_cache(maxsize=65536)
def _phone(value: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


NORMALISE: dict[str, Callable[[str, str | None], str | None]] = {
    "exact": _exact,
    "lower": _lower,
    "upper": _upper,
    "digits": _digits,
    "email": _email,
    "phone": _phone,
}


class ValueFilter:
    """Decides whether a normalised value may link anything (blocked values do not)."""

    def __init__(self, config: IdentityConfig) -> None:
        self._values = config.blocked_values
        self._patterns = [re.compile(p, re.IGNORECASE) for p in config.blocked_patterns]

    def blocked(self, value: str) -> bool:
        """True when the value is a placeholder rather than someone's identifier."""
        lowered = value.lower()
        if lowered in self._values:
            return True
        return any(p.search(value) for p in self._patterns)


def as_text(raw: object) -> str | None:
    """The identifier as text: strings trimmed, whole numbers written out, anything else None."""
    if isinstance(raw, str):
        text = raw.strip()
    elif isinstance(raw, int) and not isinstance(raw, bool):
        text = str(raw)
    elif isinstance(raw, float) and raw.is_integer():
        text = str(int(raw))
    else:
        return None
    if not text or len(text) > MAX_VALUE_LENGTH or "\x00" in text:
        return None
    return text


def normalise(normaliser: str, raw: object, region: str | None = None) -> str | None:
    """The normalised value, or None when `raw` is not a usable identifier of this kind."""
    text = as_text(raw)
    if text is None:
        return None
    value = NORMALISE[normaliser](text, region)
    if value is None or len(value) > MAX_VALUE_LENGTH:
        return None
    return value
