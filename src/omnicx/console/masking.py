"""Personal data masked for readers without `profiles.personal_data` (analysts): enough of an
address or number to tell two apart, not enough to contact the person."""

from __future__ import annotations

PERSONAL_TYPES = frozenset({"email", "phone"})
"""Identifier types (and traits) that are personal data the console masks."""


def mask_email(address: str) -> str:
    """`jane.doe@example.com` -> `j•••@e•••.com`."""
    local, at, domain = address.partition("@")
    if not at:
        return mask_text(address)
    name, dot, tld = domain.rpartition(".")
    masked_domain = f"{name[:1]}•••{dot}{tld}" if dot else f"{domain[:1]}•••"
    return f"{local[:1]}•••@{masked_domain}"


def mask_phone(number: str) -> str:
    """`+31612345678` -> `+31•••••••78`: country code and last two digits."""
    digits = number.lstrip("+")
    if len(digits) <= 4:
        return "•" * len(number)
    prefix = "+" if number.startswith("+") else ""
    return f"{prefix}{digits[:2]}{'•' * (len(digits) - 4)}{digits[-2:]}"


def mask_text(value: str) -> str:
    """Any other personal value: its first character."""
    return f"{value[:1]}•••" if value else value


def mask(value: object, kind: str) -> str:
    """`value` masked as the personal data of type `kind` (email, phone, or other)."""
    text = "" if value is None else str(value)
    if kind == "email":
        return mask_email(text)
    if kind == "phone":
        return mask_phone(text)
    return mask_text(text)
