"""Events and rejected messages as the sources section's templates show them: pretty JSON,
with personal data masked for readers whose role does not see it."""

from __future__ import annotations

import re
from typing import Any

import orjson

from omnicx.collect.inspection import LiveEvent, RejectedMessage
from omnicx.console.masking import PERSONAL_TYPES, mask, mask_email

_EMAIL = re.compile(r"[^\s@\"',;<>()\[\]{}]+@[^\s@\"',;<>()\[\]{}]+\.[A-Za-z]{2,}")


def masked(value: Any) -> Any:
    """`value` (decoded JSON) with e-mail addresses and phone numbers masked: the values of
    keys named like a personal identifier type, and anything else shaped like an e-mail."""
    if isinstance(value, dict):
        return {
            key: mask(item, key.lower())
            if isinstance(key, str) and key.lower() in PERSONAL_TYPES and isinstance(item, str)
            else masked(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [masked(item) for item in value]
    if isinstance(value, str):
        return masked_text(value)
    return value


def masked_text(text: str) -> str:
    """`text` with everything shaped like an e-mail address masked."""
    return _EMAIL.sub(lambda found: mask_email(found.group(0)), text) if "@" in text else text


def pretty(value: Any) -> str:
    """Decoded JSON, indented for reading."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode()


def event_view(event: LiveEvent, *, personal: bool) -> dict[str, Any]:
    """One event for the debugger: its summary columns and its whole message as JSON."""
    message = event.message if personal else masked(event.message)
    return {
        "id": event.id,
        "source_id": event.source_id,
        "source": event.source,
        "channel": event.channel,
        "type": event.type,
        "name": event.event,
        "user_id": event.user_id
        if personal or event.user_id is None
        else masked_text(event.user_id),
        "anonymous_id": event.anonymous_id,
        "message_id": event.message_id,
        "received_at": event.received_at,
        "json": pretty(message),
    }


def rejection_view(rejection: RejectedMessage, *, personal: bool) -> dict[str, Any]:
    """One rejected message: why, where, when, and what was sent (as JSON when it is)."""
    try:
        decoded = orjson.loads(rejection.payload)
    except orjson.JSONDecodeError:
        decoded = rejection.payload  # cut short, or not JSON at all
    if isinstance(decoded, str):  # a whole refused body is kept as the text it was
        text = decoded if personal else masked_text(decoded)
    else:
        text = pretty(decoded if personal else masked(decoded))
    return {
        "id": rejection.id,
        "received_at": rejection.received_at,
        "code": rejection.code,
        "reason": rejection.reason if personal else masked_text(rejection.reason),
        "path": rejection.path,
        "payload": text,
        "truncated": rejection.payload.endswith("…"),
    }
