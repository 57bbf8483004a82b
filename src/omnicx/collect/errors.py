"""Every error the collection API and import can report: code, HTTP status and message text.

The message templates live here, in one place, so they can be translated; `{path}` says where
in the request the problem is (`batch[3].properties`), the other fields what is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass

ERROR_TEXT: dict[str, tuple[int, str]] = {
    "missing_write_key": (
        401,
        "No write key: send it as the HTTP Basic username, an X-Write-Key header "
        "or a writeKey field in the body.",
    ),
    "unknown_write_key": (401, "Write key {key!r} does not belong to any source."),
    "source_disabled": (403, "Source {source!r} is disabled; enable it to accept its events."),
    "body_too_large": (413, "Request body is {size} bytes; the limit is {limit} bytes."),
    "unsupported_encoding": (
        415,
        "Content-Encoding {encoding!r} is not supported; send the body plain or gzip-compressed.",
    ),
    "invalid_gzip": (400, "Body is declared gzip but does not decompress: {detail}."),
    "invalid_json": (400, "Body is not valid JSON: {detail}."),
    "invalid_body": (400, "{path}: expected {expected}, got {got}."),
    "empty_batch": (400, "{path}: the batch holds no messages."),
    "all_rejected": (400, "All {count} messages of the batch were rejected; first: {first}"),
    "message_too_large": (
        413,
        "{path}: message is {size} bytes; the per-message limit is {limit} bytes.",
    ),
    "unknown_type": (
        400,
        "{path}.type: unknown message type {value!r}; expected one of {expected}.",
    ),
    "missing_type": (400, "{path}.type: a message in a batch must say its type ({expected})."),
    "invalid_field": (400, "{path}.{field}: expected {expected}, got {got}."),
    "invalid_timestamp": (400, "{path}.{field}: {value!r} is not an ISO 8601 date and time."),
    "missing_identity": (400, "{path}: a message needs a userId or an anonymousId."),
    "missing_field": (400, "{path}.{field}: required for a {type} message."),
    "overloaded": (429, "The collector is busy; retry after {seconds} seconds."),
    "unavailable": (503, "The database is unavailable; nothing was stored. Retry later."),
}


@dataclass(frozen=True, slots=True)
class IntakeError(Exception):
    """A problem with input: `code` names it, `message` says what and where, `status` is HTTP's."""

    code: str
    message: str
    status: int
    path: str = ""

    def __str__(self) -> str:
        return self.message

    def as_json(self) -> dict[str, str]:
        """The body the collection API answers with."""
        return {"code": self.code, "message": self.message}


def intake_error(code: str, path: str = "", **fields: object) -> IntakeError:
    """Builds the IntakeError `code` with its message filled from `path` and `fields`."""
    status, template = ERROR_TEXT[code]
    return IntakeError(code, template.format(path=path, **fields), status, path)


def describe_type(value: object) -> str:
    """Names a JSON value's type the way the error messages do."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
