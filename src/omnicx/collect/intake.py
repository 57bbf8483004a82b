"""Turns one collection-API request into rows to store and rejections to report.

Batch semantics (documented in docs/collection.md): problems with the request as a whole
(body, encoding, JSON, write key, size) refuse it entirely. Problems with single messages
refuse only those messages: the valid ones are stored, each refused one is listed in the
response with its index and reason and kept among the source's rejected events. When every
message of a batch is refused, the answer is 400.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from omnicx.collect.errors import IntakeError, describe_type, intake_error
from omnicx.collect.messages import NO_DEFAULTS, BatchDefaults, batch_defaults, normalise
from omnicx.collect.sources import KeyOwner
from omnicx.collect.stream import Rejection, StampedRow

REJECTED_PAYLOAD_LIMIT = 4096
"""How much of a refused message is kept for users to inspect."""

REPORTED_REJECTIONS_LIMIT = 100
"""Refused messages listed (and kept) per request: a small body of bad messages must not
turn into a huge answer and thousands of stored rejections."""


@dataclass(slots=True)
class PreparedRequest:
    """A request checked message by message."""

    rows: list[StampedRow] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    failures: list[tuple[int, IntakeError]] = field(default_factory=list)
    """The first REPORTED_REJECTIONS_LIMIT refused messages, with their index."""
    refused: int = 0
    """How many messages were refused in all."""

    def errors(self) -> list[dict[str, Any]]:
        """The refused messages as the API lists them: index, code and message."""
        return [
            {"index": index, "code": error.code, "message": error.message}
            for index, error in self.failures
        ]


def decode_body(raw: bytes, *, content_encoding: str | None, max_body_bytes: int) -> Any:
    """Decompresses (gzip) and parses a request body, enforcing the size limit on both forms."""
    if len(raw) > max_body_bytes:
        raise intake_error("body_too_large", size=len(raw), limit=max_body_bytes)
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("gzip", "x-gzip"):
        raw = _gunzip(raw, max_body_bytes)
    elif encoding not in ("", "identity"):
        raise intake_error("unsupported_encoding", encoding=content_encoding)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise intake_error("invalid_json", detail=str(exc)) from None


def _gunzip(raw: bytes, limit: int) -> bytes:
    decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(raw, limit + 1)
        if len(data) > limit:
            raise intake_error("body_too_large", size=f"more than {limit}", limit=limit)
        if not decompressor.eof:
            raise intake_error("invalid_gzip", detail="the compressed stream is truncated")
    except (zlib.error, gzip.BadGzipFile, EOFError) as exc:
        raise intake_error("invalid_gzip", detail=str(exc)) from None
    return data


def write_key_from(authorization: str | None, header_key: str | None, body: Any) -> str | None:
    """Finds the write key: HTTP Basic username, then X-Write-Key, then `writeKey` in the body."""
    if authorization and authorization[:6].lower() == "basic ":
        try:
            decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        user = decoded.split(":", 1)[0]
        if user:
            return user
    if header_key:
        return header_key.strip()
    if isinstance(body, dict):
        key = body.get("writeKey")
        if isinstance(key, str) and key:
            return key
        batch = body.get("batch")
        if isinstance(batch, list) and batch and isinstance(batch[0], dict):
            first = batch[0].get("writeKey")
            if isinstance(first, str) and first:
                return first
    return None


def check_owner(owner: KeyOwner | None, key: str | None) -> KeyOwner:
    """Refuses requests without a write key, with an unknown one, or for a disabled source."""
    if key is None:
        raise intake_error("missing_write_key")
    if owner is None:
        raise intake_error("unknown_write_key", key=_shorten(key, 12))
    if not owner.enabled:
        raise intake_error("source_disabled", source=owner.name)
    return owner


def prepare(
    body: Any,
    *,
    owner: KeyOwner,
    message_type: str | None,
    received_at: datetime,
    max_message_bytes: int,
) -> PreparedRequest:
    """Checks every message of a request. `message_type` is None for batch and import routes."""
    prepared = PreparedRequest()
    if message_type is not None:
        messages: list[Any] = [body]
        defaults = NO_DEFAULTS
    else:
        messages = _batch_messages(body)
        defaults = batch_defaults(
            _object_or_none(body.get("context"), "context"),
            _object_or_none(body.get("integrations"), "integrations"),
            _instant_text_or_none(body.get("sentAt"), "sentAt"),
        )
    rows = prepared.rows
    append = rows.append
    source_id = owner.source_id
    channel = owner.channel
    new_row = tuple.__new__  # StampedRow(...) without its Python-level __new__
    for index, message in enumerate(messages):
        try:
            # The path names the message in errors only: "" here, the real one on a retry.
            fields = normalise(
                message,
                path="",
                received_at=received_at,
                implied_type=message_type,
                defaults=defaults,
                message_limit=max_message_bytes,
            )
        except IntakeError:
            error = _refusal(message, index, message_type, received_at, defaults, max_message_bytes)
            prepared.refused += 1
            if prepared.refused <= REPORTED_REJECTIONS_LIMIT:
                prepared.failures.append((index, error))
                prepared.rejections.append(rejection(source_id, received_at, error, message))
            continue
        message_id, kind, name, user_id, anonymous_id, timestamp, payload = fields
        row = (
            source_id, channel, message_id, kind, name, user_id, anonymous_id, timestamp,
            received_at, payload,
        )  # fmt: skip
        append(new_row(StampedRow, row))
    return prepared


def _refusal(
    message: Any,
    index: int,
    message_type: str | None,
    received_at: datetime,
    defaults: BatchDefaults,
    max_message_bytes: int,
) -> IntakeError:
    """The error normalise reports for a refused message, naming where it is in the request."""
    try:
        normalise(
            message,
            path="body" if message_type is not None else f"batch[{index}]",
            received_at=received_at,
            implied_type=message_type,
            defaults=defaults,
            message_limit=max_message_bytes,
        )
    except IntakeError as error:
        return error
    raise AssertionError("normalise accepted a message it had refused")  # pragma: no cover


def _batch_messages(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise intake_error(
            "invalid_body", "body", expected="an object with a batch array", got=describe_type(body)
        )
    batch = body.get("batch")
    if not isinstance(batch, list):
        raise intake_error("invalid_body", "batch", expected="an array", got=describe_type(batch))
    if not batch:
        raise intake_error("empty_batch", "batch")
    return batch


def _instant_text_or_none(value: Any, path: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise intake_error(
        "invalid_body", path, expected="an ISO 8601 string", got=describe_type(value)
    )


def _object_or_none(value: Any, path: str) -> dict[str, Any] | None:
    if value is None or isinstance(value, dict):
        return value
    raise intake_error("invalid_body", path, expected="an object", got=describe_type(value))


def rejection(
    source_id: int | None, received_at: datetime, error: IntakeError, message: Any
) -> Rejection:
    """Records a refused message (cut to a few kilobytes) with its reason."""
    try:
        text = orjson.dumps(message).decode()
    except (TypeError, orjson.JSONEncodeError):
        text = repr(message)
    return Rejection(
        source_id,
        received_at,
        error.code,
        error.message,
        error.path,
        _shorten(text, REJECTED_PAYLOAD_LIMIT),
    )


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
