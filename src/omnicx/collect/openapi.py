"""OpenAPI descriptions of the collection routes (the handlers parse bodies themselves)."""

from __future__ import annotations

from typing import Any

from omnicx.collect.messages import MESSAGE_TYPES

_ID = {"anyOf": [{"type": "string"}, {"type": "number"}], "description": "An identifier."}
_INSTANT = {"type": "string", "format": "date-time"}
_OBJECT = {"type": "object", "additionalProperties": True}

MESSAGE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": True,
    "description": "A message of the Segment spec. Needs userId or anonymousId.",
    "properties": {
        "type": {"type": "string", "enum": list(MESSAGE_TYPES)},
        "messageId": {"type": "string", "maxLength": 255},
        "userId": _ID,
        "anonymousId": _ID,
        "event": {"type": "string", "description": "Name of the action (track)."},
        "name": {"type": "string", "description": "Page or screen name."},
        "category": {"type": "string"},
        "groupId": _ID,
        "previousId": _ID,
        "properties": _OBJECT,
        "traits": _OBJECT,
        "context": _OBJECT,
        "integrations": _OBJECT,
        "timestamp": _INSTANT,
        "originalTimestamp": _INSTANT,
        "sentAt": _INSTANT,
        "writeKey": {"type": "string", "description": "Write key (analytics.js sends it here)."},
    },
}

BATCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["batch"],
    "properties": {
        "batch": {"type": "array", "items": MESSAGE_SCHEMA, "minItems": 1},
        "context": _OBJECT,
        "integrations": _OBJECT,
        "sentAt": _INSTANT,
        "writeKey": {"type": "string"},
    },
}


def request_body_schema(message_type: str | None) -> dict[str, Any]:
    """The request body of a route: a batch, or one message of `message_type`."""
    schema = BATCH_SCHEMA if message_type is None else MESSAGE_SCHEMA
    return {
        "required": True,
        "content": {
            "application/json": {"schema": schema},
            "text/plain": {"schema": {"type": "string", "description": "The same JSON."}},
        },
    }


_ERROR = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        }
    }
}

INTAKE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Committed. Lists refused messages of a batch, if any.",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["success"],
                    "properties": {
                        "success": {"type": "boolean"},
                        "accepted": {"type": "integer"},
                        "rejected_count": {"type": "integer"},
                        "rejected": {"type": "array", "items": {"type": "object"}},
                    },
                }
            }
        },
    },
    400: {"description": "Malformed input; nothing stored.", **_ERROR},
    401: {"description": "Missing or unknown write key.", **_ERROR},
    403: {"description": "The source is disabled.", **_ERROR},
    413: {"description": "Body or message over the size limit.", **_ERROR},
    415: {"description": "Unsupported Content-Encoding.", **_ERROR},
    429: {"description": "Overloaded; retry after Retry-After seconds.", **_ERROR},
    503: {"description": "Database unavailable; nothing stored.", **_ERROR},
}
