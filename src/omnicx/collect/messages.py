"""Validates and normalises Segment/RudderStack spec messages into rows ready to store.

This is the intake hot path: plain dict and isinstance checks, no per-message model objects.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from omnicx.collect.errors import IntakeError, describe_type, intake_error

MESSAGE_TYPES = ("track", "identify", "page", "screen", "group", "alias")
_EXPECTED_TYPES = ", ".join(MESSAGE_TYPES)

DEFAULT_MESSAGE_LIMIT = 32 * 1024
"""Segment's per-message limit, in bytes of the stored JSON."""

# Fields that must be an object when present.
_OBJECT_FIELDS = ("properties", "traits", "context", "integrations")
# Fields that must be a string when present (null is the same as absent).
_STRING_FIELDS = ("event", "name", "category")
# Identifiers: strings, or numbers that the SDKs of some languages send; stored as strings.
_ID_FIELDS = ("userId", "anonymousId", "groupId", "previousId")
# What each type needs besides an identity.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "track": ("event",),
    "group": ("groupId",),
    "alias": ("previousId",),
}


@dataclass(frozen=True, slots=True)
class BatchDefaults:
    """What a batch says for all its messages: context, integrations and sentAt."""

    context: dict[str, Any] | None = None
    integrations: dict[str, Any] | None = None
    sent_at: Any = None
    sent_at_instant: datetime | None = None
    """`sent_at` parsed once for the whole batch (None: absent or not an instant)."""


NO_DEFAULTS = BatchDefaults()


def batch_defaults(
    context: dict[str, Any] | None, integrations: dict[str, Any] | None, sent_at: str | None
) -> BatchDefaults:
    """The defaults of a batch, its sentAt parsed once rather than once per message."""
    instant = parse_instant(sent_at) if sent_at else None
    return BatchDefaults(context, integrations, sent_at, instant)


# A stored event row: the column values of `collect.tables.events`, minus id and source.
EventRow = tuple[str, str, str | None, str | None, str | None, datetime, bytes]
"""(message_id, type, event, user_id, anonymous_id, timestamp, payload): the payload is the
stored JSON as UTF-8 bytes, as orjson wrote it (PostgreSQL's COPY takes it as it is)."""


def parse_instant(value: str) -> datetime | None:
    """Parses an ISO 8601 instant; a value without an offset is UTC. None when unparseable."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is UTC:
        return parsed
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # an offset pushes it past year 1 or 9999, e.g. 0001-01-01T00:00+01:00
        return None


def normalise(
    message: Any,
    *,
    path: str,
    received_at: datetime,
    implied_type: str | None = None,
    defaults: BatchDefaults = NO_DEFAULTS,
    message_limit: int = DEFAULT_MESSAGE_LIMIT,
    identified_elsewhere: bool = False,
) -> EventRow:
    """Checks one message against the spec and returns the row to store.

    Raises IntakeError naming the first problem and where it is. The stored payload is the
    message with the batch's context and integrations merged in, identifiers as strings, a
    messageId (generated when absent), receivedAt, originalTimestamp and the clock-skew
    corrected timestamp: `receivedAt - (sentAt - originalTimestamp)`. `identified_elsewhere`
    (omnicx's own events, collect.emit) lifts the rule that a userId or anonymousId is needed:
    those carry the identifier in `context.traits` instead.

    The intake's hot path: the checks are written out field by field (no loops over field
    names) and in the order the field tuples above list them, so the first problem reported
    is the same as a loop would find.
    """
    if type(message) is not dict:
        raise intake_error("invalid_body", path, expected="an object", got=describe_type(message))
    msg: dict[str, Any] = message.copy()  # a shallow copy: callers keep the message as sent
    get = msg.get
    msg.pop("writeKey", None)  # analytics.js puts the key in the body; it is not event data

    kind = get("type")
    if implied_type is not None:
        kind = msg["type"] = implied_type
    elif kind is None:
        raise intake_error("missing_type", path, expected=_EXPECTED_TYPES)
    elif kind not in MESSAGE_TYPES:
        raise intake_error("unknown_type", path, value=kind, expected=_EXPECTED_TYPES)

    # _OBJECT_FIELDS
    value = get("properties")
    if value is not None and type(value) is not dict:
        raise _not_an_object(path, "properties", value)
    value = get("traits")
    if value is not None and type(value) is not dict:
        raise _not_an_object(path, "traits", value)
    context = get("context")
    if context is not None and type(context) is not dict:
        raise _not_an_object(path, "context", context)
    integrations = get("integrations")
    if integrations is not None and type(integrations) is not dict:
        raise _not_an_object(path, "integrations", integrations)
    # _STRING_FIELDS
    event = get("event")
    if event is not None:
        _check_string(event, path, "event")
    name = get("name")
    if name is not None:
        _check_string(name, path, "name")
    value = get("category")
    if value is not None:
        _check_string(value, path, "category")
    # _ID_FIELDS
    user_id = get("userId")
    if user_id is not None:
        user_id = _identifier(msg, "userId", user_id, path)
    anonymous_id = get("anonymousId")
    if anonymous_id is not None:
        anonymous_id = _identifier(msg, "anonymousId", anonymous_id, path)
    group_id = get("groupId")
    if group_id is not None:
        group_id = _identifier(msg, "groupId", group_id, path)
    previous_id = get("previousId")
    if previous_id is not None:
        previous_id = _identifier(msg, "previousId", previous_id, path)

    if not user_id and not anonymous_id and not identified_elsewhere:
        raise intake_error("missing_identity", path)
    # _REQUIRED
    if kind == "track":
        if not event:
            raise intake_error("missing_field", path, field="event", type=kind)
    elif kind == "group":
        if not group_id:
            raise intake_error("missing_field", path, field="groupId", type=kind)
    elif kind == "alias":
        if not previous_id:
            raise intake_error("missing_field", path, field="previousId", type=kind)
        if not user_id:
            raise intake_error("missing_field", path, field="userId", type=kind)

    message_id = get("messageId")
    if (
        type(message_id) is not str
        or not message_id
        or len(message_id) > 255
        or ("\x00" in message_id)
    ):
        message_id = _message_id(msg, path)
    timestamp = _corrected_timestamp(msg, path, received_at, defaults)
    # orjson writes these instants (OPT_UTC_Z), far cheaper than formatting them here.
    msg["receivedAt"] = received_at
    msg["timestamp"] = timestamp

    if defaults.context:
        msg["context"] = {**defaults.context, **(context or {})}
    if defaults.integrations:
        msg["integrations"] = {**defaults.integrations, **(integrations or {})}

    try:
        encoded = orjson.dumps(msg, option=orjson.OPT_UTC_Z)
    except (TypeError, orjson.JSONEncodeError) as exc:  # e.g. a number beyond 64 bits
        raise intake_error(
            "invalid_field", path, field="*", expected="JSON values", got=str(exc)
        ) from None
    if len(encoded) > message_limit:
        raise intake_error("message_too_large", path, size=len(encoded), limit=message_limit)

    return (
        message_id,
        kind,
        event if kind == "track" else name,
        user_id,
        anonymous_id,
        timestamp,
        encoded,
    )


def _not_an_object(path: str, field: str, value: Any) -> IntakeError:
    return intake_error(
        "invalid_field", path, field=field, expected="an object", got=describe_type(value)
    )


def _check_string(value: Any, path: str, field: str) -> None:
    if type(value) is not str:
        raise intake_error(
            "invalid_field", path, field=field, expected="a string", got=describe_type(value)
        )
    if "\x00" in value:
        raise _nul_error(path, field)


def _identifier(msg: dict[str, Any], field: str, value: Any, path: str) -> str | None:
    """An identifier as stored: a string (numbers converted), None when empty."""
    if type(value) is str:
        if not value:
            del msg[field]  # an empty identifier is no identifier
            return None
        if "\x00" in value:
            raise _nul_error(path, field)
        return value
    if type(value) is int or type(value) is float:
        text = msg[field] = str(value)
        return text
    raise intake_error(
        "invalid_field",
        path,
        field=field,
        expected="a string or a number",
        got=describe_type(value),
    )


def _message_id(msg: dict[str, Any], path: str) -> str:
    """Returns the message's id as a string, generating one when the client sent none."""
    message_id = msg.get("messageId")
    if message_id is None or message_id == "":
        message_id = msg["messageId"] = str(uuid.uuid4())
    elif type(message_id) is int or type(message_id) is float:
        message_id = msg["messageId"] = str(message_id)
    elif type(message_id) is not str:
        raise intake_error(
            "invalid_field",
            path,
            field="messageId",
            expected="a string",
            got=describe_type(message_id),
        )
    elif len(message_id) > 255:
        raise intake_error(
            "invalid_field",
            path,
            field="messageId",
            expected="at most 255 characters",
            got=f"{len(message_id)} characters",
        )
    elif "\x00" in message_id:
        raise _nul_error(path, "messageId")
    return message_id


def _nul_error(path: str, field: str) -> IntakeError:
    # Identifiers and names are stored as columns of their own (in the JSON payload NUL is
    # escaped). PostgreSQL text cannot hold NUL: one such row fails the whole group commit,
    # and with it every request sharing the transaction (503 for all of them).
    return intake_error(
        "invalid_field",
        path,
        field=field,
        expected="a string without NUL (\\u0000) characters",
        got="a string containing one",
    )


def _corrected_timestamp(
    msg: dict[str, Any], path: str, received_at: datetime, defaults: BatchDefaults
) -> datetime:
    """Applies the spec's clock-skew correction; keeps the client's time as originalTimestamp."""
    # Both parsed, even when originalTimestamp wins: a bad timestamp is refused, not dropped.
    original = _instant(msg, "originalTimestamp", path)
    timestamp = _instant(msg, "timestamp", path)
    original = original or timestamp
    if msg.get("sentAt") is None and defaults.sent_at_instant is not None:
        sent_at: datetime | None = defaults.sent_at_instant
    else:
        sent_at = _instant(msg, "sentAt", path, defaults.sent_at)
    if original is None:
        return received_at
    msg["originalTimestamp"] = original
    if sent_at is None:
        return original
    msg["sentAt"] = sent_at
    try:
        return received_at - (sent_at - original)
    except OverflowError:
        raise intake_error(
            "invalid_timestamp", path, field="sentAt", value=sent_at.isoformat()
        ) from None


def _instant(msg: dict[str, Any], field: str, path: str, default: Any = None) -> datetime | None:
    value = msg.get(field)
    if value is None:  # null is the same as absent: the batch's sentAt applies
        value = default
    if value is None:
        return None
    if type(value) is not str:
        raise intake_error(
            "invalid_field",
            path,
            field=field,
            expected="an ISO 8601 string",
            got=describe_type(value),
        )
    instant = parse_instant(value)
    if instant is None:
        raise intake_error("invalid_timestamp", path, field=field, value=value)
    return instant
