"""Property-based (hypothesis) fuzzing of the intake: the pure functions, then the running app.

Part 1 drives `messages.normalise`, `intake.prepare` and `intake.decode_body` directly:
arbitrary input may only ever raise IntakeError (every other exception is a 500 in
production), and valid spec messages are stored faithfully. Part 2 throws generated requests
at the real application on SQLite and PostgreSQL and keeps a ledger of what the responses
acknowledged; after every request the database must hold exactly that.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import gzip
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from omnicx.collect import sources
from omnicx.collect.errors import ERROR_TEXT, IntakeError
from omnicx.collect.intake import REPORTED_REJECTIONS_LIMIT, decode_body, prepare, write_key_from
from omnicx.collect.messages import MESSAGE_TYPES, BatchDefaults, batch_defaults, normalise
from omnicx.collect.sources import KeyOwner
from omnicx.collect.tables import events, rejected_events
from tests.collect.helpers import add_source, running_app

# Function-level fuzzing is cheap; the app-level test is bounded separately below.
FAST = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

OWNER = KeyOwner(source_id=1, name="web", channel="web", enabled=True)
RECEIVED_AT = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
# What orjson can serialise: the intake must turn anything beyond that into an IntakeError.
JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1

# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

# Any text a JSON document can carry: NUL, control characters, astral planes. Surrogates are
# left out because no JSON decoder (orjson included) hands them over.
any_text = st.text(st.characters(codec="utf-8"), max_size=16)
# Identifiers and names: non-empty and without NUL (the intake refuses NUL there, see below).
clean_text = st.text(
    st.characters(codec="utf-8", exclude_characters="\x00"), min_size=1, max_size=16
)
json_ints = st.integers(min_value=JSON_INT_MIN, max_value=JSON_INT_MAX)
json_floats = st.floats(allow_nan=False, allow_infinity=False)
json_scalars = st.none() | st.booleans() | json_ints | json_floats | any_text
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(any_text, children, max_size=4)
    ),
    max_leaves=8,
)
json_objects = st.dictionaries(any_text, json_values, max_size=4)
non_objects = json_scalars | st.lists(json_values, max_size=3)

SPEC_FIELDS = (
    "type", "messageId", "userId", "anonymousId", "event", "name", "category", "groupId",
    "previousId", "properties", "traits", "context", "integrations", "timestamp",
    "originalTimestamp", "sentAt", "writeKey",
)  # fmt: skip
# Arbitrary input, but shaped like messages often enough to reach the deeper checks: spec field
# names with any JSON value, plausible values for the fields that gate the rest, and numbers
# beyond 64 bits (other JSON decoders produce them; orjson cannot encode them).
gate_values = st.sampled_from([*MESSAGE_TYPES, "nope", "", "2024-01-01T00:00:00Z", "u-1", 0])


def _arbitrary(values: st.SearchStrategy[Any]) -> tuple[st.SearchStrategy[Any], ...]:
    """(any JSON, any request body), with message-like shapes built from `values`."""
    message_like = st.dictionaries(st.sampled_from(SPEC_FIELDS) | any_text, values, max_size=10)
    anything = json_values | message_like | st.lists(message_like, max_size=4)
    batches = st.fixed_dictionaries(
        {"batch": st.lists(message_like | json_values, max_size=5)},
        optional={"context": json_values, "integrations": json_values, "sentAt": json_values},
    )
    return anything, anything | batches


# What a decoder may hand over: numbers beyond 64 bits included (orjson cannot encode them).
arbitrary_json, arbitrary_bodies = _arbitrary(
    json_values | gate_values | json_objects | st.integers(-(2**70), 2**70)
)
# What can be sent over the wire (orjson-encodable).
_, wire_bodies = _arbitrary(json_values | gate_values | json_objects)
identifiers = clean_text | json_ints | json_floats

offsets = st.sampled_from(
    [UTC, timezone(timedelta(hours=3)), timezone(-timedelta(hours=5, minutes=30))]
)
instants = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
)
_PRECISION = {"seconds": 1_000_000, "milliseconds": 1000, "microseconds": 1}


@st.composite
def iso_instants(draw: st.DrawFn) -> tuple[str, datetime]:
    """An ISO 8601 text and the exact instant it denotes (cut to the precision it is written in)."""
    instant = draw(instants)
    timespec = draw(st.sampled_from(sorted(_PRECISION)))
    step = _PRECISION[timespec]
    instant = instant.replace(microsecond=instant.microsecond // step * step)
    style = draw(st.sampled_from(["offset", "z", "naive"]))
    if style == "naive":  # no offset means UTC
        text = instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec=timespec)
    elif style == "z":
        text = instant.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")
    else:
        text = instant.isoformat(timespec=timespec)
    return text, instant.astimezone(UTC)


@st.composite
def valid_messages(draw: st.DrawFn, kind: str | None = None) -> dict[str, Any]:
    """A spec-valid message of `kind` (any type when None) with random optional parts."""
    kind = kind or draw(st.sampled_from(MESSAGE_TYPES))
    message: dict[str, Any] = {"type": kind}
    who = draw(st.sampled_from(["user", "both"] if kind == "alias" else ["user", "anon", "both"]))
    if who in ("user", "both"):
        message["userId"] = draw(identifiers)
    if who in ("anon", "both"):
        message["anonymousId"] = draw(identifiers)
    if kind == "track":
        message["event"] = draw(clean_text)
    if kind == "group":
        message["groupId"] = draw(identifiers)
    if kind == "alias":
        message["previousId"] = draw(identifiers)
    optional: dict[str, st.SearchStrategy[Any]] = {
        "properties": json_objects,
        "traits": json_objects,
        "context": json_objects,
        "integrations": json_objects,
        "name": clean_text,
        "category": clean_text,
        # Explicit ids; "" and null mean "generate one".
        "messageId": clean_text | json_ints | st.sampled_from(["", None]),
        "writeKey": clean_text,  # analytics.js puts it there; it must not be stored
    }
    for name, strategy in optional.items():
        if draw(st.booleans()):
            message[name] = draw(strategy)
    for name in ("timestamp", "originalTimestamp", "sentAt"):
        if draw(st.integers(0, 2)) == 0:
            message[name] = draw(iso_instants())[0]
    return message


def _broken(draw: st.DrawFn, message: dict[str, Any], *, routed: bool = False) -> Any:
    """Turns a valid message into one the spec refuses, in one of many ways.

    `routed`: the message goes to a single-type route, whose type overrides the message's own.
    """
    required = {"track": "event", "group": "groupId", "alias": "previousId"}
    ways = ["identity", "object", "time", "id", "message_id", "not_object"]
    ways += [] if routed else ["type", "no_type"]
    ways += ["nul", "required"] if message["type"] in required else ["nul"]
    way = draw(st.sampled_from(ways))
    broken = dict(message)
    if way == "identity":
        broken.pop("userId", None)
        broken.pop("anonymousId", None)
    elif way == "object":
        broken[draw(st.sampled_from(["properties", "traits", "context", "integrations"]))] = draw(
            non_objects.filter(lambda v: v is not None)
        )
    elif way == "type":
        broken["type"] = draw(
            json_scalars.filter(lambda v: v is not None and v not in MESSAGE_TYPES)
        )
    elif way == "no_type":
        broken.pop("type")
    elif way == "time":
        # The last one is out of datetime's range once moved to UTC (was a 500, see messages.py).
        bad = ["yesterday", "", "2024-13-01T00:00:00Z", "0001-01-01T00:00:00+01:00", 17, True]
        broken[draw(st.sampled_from(["timestamp", "originalTimestamp", "sentAt"]))] = draw(
            st.sampled_from(bad)
        )
    elif way == "id":
        broken["userId"] = draw(st.sampled_from([True, False, [], {}, ["u"], {"id": 1}]))
    elif way == "message_id":
        broken["messageId"] = draw(st.sampled_from(["m" * 256, True, [], {"id": 1}, "m\x00"]))
    elif way == "not_object":
        return draw(non_objects)
    elif way == "nul":  # NUL cannot be stored in a PostgreSQL text column (was a 503)
        field_name = (
            "event" if message["type"] == "track" else draw(st.sampled_from(["userId", "name"]))
        )
        broken[field_name] = "x\x00y"
        broken.setdefault("anonymousId", "a")
    else:
        broken.pop(required[message["type"]])
    return broken


@st.composite
def mixed_batches(draw: st.DrawFn, min_size: int = 1) -> tuple[list[Any], list[str], list[int]]:
    """A batch of valid and broken messages: (batch, ids of the valid ones, broken indices)."""
    batch: list[Any] = []
    valid_ids: list[str] = []
    broken: list[int] = []
    tag = uuid.uuid4().hex[:8]  # fresh ids per example: duplicates are tested elsewhere
    for index, ok in enumerate(draw(st.lists(st.booleans(), min_size=min_size, max_size=6))):
        message = draw(valid_messages()) | {"messageId": f"{tag}-{index}"}
        if ok:
            batch.append(message)
            valid_ids.append(message["messageId"])
        else:
            batch.append(_broken(draw, message))
            broken.append(index)
    return batch, valid_ids, broken


# ---------------------------------------------------------------------------------------------
# Part 1: the pure intake functions
# ---------------------------------------------------------------------------------------------


def _check_error(error: IntakeError) -> None:
    """Every refusal must be reportable: a known code, its status, a message naming the place."""
    assert error.code in ERROR_TEXT
    assert error.status == ERROR_TEXT[error.code][0]
    assert error.message.strip()
    assert error.path in error.message


def _call_normalise(message: Any, **options: Any) -> tuple[Any, ...] | IntakeError:
    """Runs normalise; either way, the caller's message must be left as it was sent."""
    sent = copy.deepcopy(message)
    outcome: tuple[Any, ...] | IntakeError
    try:
        outcome = normalise(message, path="batch[0]", received_at=RECEIVED_AT, **options)
    except IntakeError as error:
        _check_error(error)
        outcome = error
    assert message == sent, "normalise changed the caller's message"
    return outcome


@FAST
@given(
    message=arbitrary_json,
    implied=st.none() | st.sampled_from(MESSAGE_TYPES),
    context=st.none() | json_objects,
    sent_at=st.none() | json_scalars | st.just("2024-05-01T12:00:00Z"),
    limit=st.integers(0, 4096),
)
@example(  # offset pushes year 1 below datetime's range: raised OverflowError (a 500)
    message={
        "type": "track",
        "userId": "u",
        "event": "e",
        "timestamp": "0001-01-01T00:00:00+01:00",
    },
    implied=None,
    context=None,
    sent_at=None,
    limit=4096,
)
@example(  # and year 9999 above it
    message={"type": "page", "userId": "u", "originalTimestamp": "9999-12-31T23:59:59-01:00"},
    implied=None,
    context=None,
    sent_at=None,
    limit=4096,
)
def test_normalise_raises_only_intake_errors(
    message: Any, implied: str | None, context: dict[str, Any] | None, sent_at: Any, limit: int
) -> None:
    outcome = _call_normalise(
        message,
        implied_type=implied,
        defaults=BatchDefaults(context=context, sent_at=sent_at),
        message_limit=limit,
    )
    # The batch's sentAt parsed once (as prepare does) changes nothing, refusals included.
    if isinstance(sent_at, str) or sent_at is None:
        once = _call_normalise(
            message,
            implied_type=implied,
            defaults=batch_defaults(context, None, sent_at),
            message_limit=limit,
        )
        if isinstance(outcome, IntakeError):
            assert isinstance(once, IntakeError) and once.message == outcome.message
        else:
            assert not isinstance(once, IntakeError)
            # Generated messageIds differ; everything else is the same.
            assert once[1:6] == outcome[1:6]
            if "messageId" in orjson.loads(outcome[6]) and message.get("messageId"):
                assert once == outcome
    if isinstance(outcome, IntakeError):
        return
    message_id, kind, _, user_id, anonymous_id, _, payload = outcome
    assert kind in MESSAGE_TYPES
    assert user_id or anonymous_id
    assert 0 < len(message_id) <= 255
    assert len(payload) <= limit
    stored = orjson.loads(payload)
    assert stored["messageId"] == message_id
    assert "writeKey" not in stored
    # Column values must be storable in PostgreSQL text.
    assert all("\x00" not in v for v in (message_id, user_id, anonymous_id, outcome[2]) if v)


def _expected_id(value: Any) -> str | None:
    """The stored form of an identifier; None for absent (or empty, which counts as absent)."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else str(value)


def _expected_time(message: dict[str, Any], batch_sent_at: str | None) -> datetime:
    """The spec's clock-skew correction, computed independently of the implementation."""

    def instant(text: str | None) -> datetime | None:
        return None if text is None else _parse(text)

    original = instant(message.get("originalTimestamp")) or instant(message.get("timestamp"))
    sent = instant(message.get("sentAt")) or instant(batch_sent_at)
    if original is None:
        return RECEIVED_AT
    if sent is None:
        return original
    return RECEIVED_AT - (sent - original)


@FAST
@given(
    message=valid_messages(),
    batch_context=st.none() | json_objects,
    batch_integrations=st.none() | json_objects,
    batch_sent_at=st.none() | iso_instants().map(lambda pair: pair[0]),
)
def test_valid_messages_are_stored_faithfully(
    message: dict[str, Any],
    batch_context: dict[str, Any] | None,
    batch_integrations: dict[str, Any] | None,
    batch_sent_at: str | None,
) -> None:
    outcome = _call_normalise(
        message,
        defaults=BatchDefaults(batch_context, batch_integrations, batch_sent_at),
        message_limit=10**9,
    )
    assert not isinstance(outcome, IntakeError), outcome.message
    message_id, kind, name, user_id, anonymous_id, timestamp, payload = outcome
    stored = orjson.loads(payload)

    assert kind == stored["type"] == message["type"]
    assert name == (message.get("event") if kind == "track" else message.get("name"))
    assert user_id == _expected_id(message.get("userId")) == stored.get("userId")
    assert anonymous_id == _expected_id(message.get("anonymousId")) == stored.get("anonymousId")
    for identifier in ("groupId", "previousId"):
        if identifier in message:
            assert stored[identifier] == _expected_id(message[identifier])
    explicit_id = _expected_id(message.get("messageId"))
    if explicit_id is None:
        assert uuid.UUID(message_id)  # generated
    else:
        assert message_id == explicit_id
    assert stored["messageId"] == message_id
    assert "writeKey" not in stored

    # Event data passes through unchanged; batch context/integrations fill in what is missing.
    for part in ("properties", "traits"):
        assert stored.get(part) == message.get(part)
    for part, batch_value in (("context", batch_context), ("integrations", batch_integrations)):
        expected = (
            {**batch_value, **(message.get(part) or {})} if batch_value else message.get(part)
        )
        assert stored.get(part) == expected

    # timestamp = receivedAt - (sentAt - originalTimestamp), the same in column and payload;
    # the client's own time is kept as originalTimestamp.
    expected_time = _expected_time(message, batch_sent_at)
    assert timestamp == expected_time
    assert _parse(stored["timestamp"]) == expected_time
    assert _parse(stored["receivedAt"]) == RECEIVED_AT
    client_time = message.get("originalTimestamp") or message.get("timestamp")
    if client_time is not None:
        assert _parse(stored["originalTimestamp"]) == _parse(client_time)


def _parse(text: str) -> datetime:
    """An ISO 8601 text as an aware instant (no offset: UTC), for comparisons."""
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@FAST
@given(message=valid_messages(), limit=st.integers(50, 3000))
def test_message_size_limit(message: dict[str, Any], limit: int) -> None:
    # The generated messageId (when absent) has a fixed length, so the size does not depend on it.
    unlimited = _call_normalise(message, message_limit=10**9)
    assert not isinstance(unlimited, IntakeError)
    size = len(unlimited[-1])
    outcome = _call_normalise(message, message_limit=limit)
    if size <= limit:
        assert not isinstance(outcome, IntakeError), outcome.message
        assert len(outcome[-1]) == size
    else:
        assert isinstance(outcome, IntakeError)
        assert (outcome.code, outcome.status) == ("message_too_large", 413)


@FAST
@given(mixed=mixed_batches(), context=st.none() | json_objects)
def test_prepare_keeps_exactly_the_valid_messages_in_order(
    mixed: tuple[list[Any], list[str], list[int]], context: dict[str, Any] | None
) -> None:
    batch, valid_ids, broken = mixed
    body: dict[str, Any] = {"batch": batch} | ({"context": context} if context is not None else {})
    sent = copy.deepcopy(body)
    prepared = prepare(
        body,
        owner=OWNER,
        message_type=None,
        received_at=RECEIVED_AT,
        max_message_bytes=10**6,
    )
    assert body == sent  # the refused messages are kept as they were sent
    assert [row.message_id for row in prepared.rows] == valid_ids
    assert all(row.source_id == OWNER.source_id for row in prepared.rows)
    assert [index for index, _ in prepared.failures] == broken
    assert [entry["index"] for entry in prepared.errors()] == broken
    for index, error in prepared.failures:
        _check_error(error)
        assert error.path.startswith(f"batch[{index}]")
    # Each refused message is kept, with its reason, for the source's owner.
    assert [r.code for r in prepared.rejections] == [e.code for _, e in prepared.failures]


@FAST
@given(
    body=arbitrary_bodies,
    message_type=st.none() | st.sampled_from(MESSAGE_TYPES),
    limit=st.integers(0, 2048),
)
def test_prepare_raises_only_intake_errors(body: Any, message_type: str | None, limit: int) -> None:
    try:
        prepared = prepare(
            body,
            owner=OWNER,
            message_type=message_type,
            received_at=RECEIVED_AT,
            max_message_bytes=limit,
        )
    except IntakeError as refusal:  # the request as a whole is refused
        _check_error(refusal)
        return
    count = 1 if message_type is not None else len(body["batch"])
    assert len(prepared.rows) + len(prepared.failures) == count
    for _, error in prepared.failures:
        _check_error(error)


ENCODINGS = st.sampled_from(
    [None, "", "identity", "gzip", "x-gzip", " GZIP ", "br", "deflate", "gzip, br"]
) | st.text(max_size=10)


def _call_decode(raw: bytes, encoding: str | None, limit: int) -> Any:
    try:
        return decode_body(raw, content_encoding=encoding, max_body_bytes=limit)
    except IntakeError as error:
        _check_error(error)
        return error


@FAST
@given(raw=st.binary(max_size=512), encoding=ENCODINGS, limit=st.integers(0, 1024))
@example(raw=b"", encoding="gzip", limit=100)
@example(raw=b"\x1f\x8b", encoding="gzip", limit=100)
def test_decode_body_raises_only_intake_errors_on_any_bytes(
    raw: bytes, encoding: str | None, limit: int
) -> None:
    _call_decode(raw, encoding, limit)


@FAST
@given(
    document=wire_bodies,
    encoding=st.sampled_from(["gzip", "x-gzip", "GZip"]),
    cut=st.integers(1, 64),
    trailing=st.binary(max_size=32),
)
def test_gzip_bodies(document: Any, encoding: str, cut: int, trailing: bytes) -> None:
    plain = orjson.dumps(document)
    compressed = gzip.compress(plain)
    # Whole: the same document as sent plain.
    assert _call_decode(compressed, encoding, 10**6) == orjson.loads(plain)
    # Truncated anywhere: refused as invalid gzip, never parsed from a partial stream.
    truncated = _call_decode(compressed[: max(len(compressed) - cut, 0)], encoding, 10**6)
    assert isinstance(truncated, IntakeError)
    assert truncated.code == "invalid_gzip"
    # Decompressing past the limit: refused as too large, whatever the compressed size.
    if len(plain) > 1:
        too_big = _call_decode(compressed, encoding, len(plain) - 1)
        assert isinstance(too_big, IntakeError)
        assert too_big.code == "body_too_large"
    # Random bytes after the stream, or as the stream: an IntakeError at worst.
    _call_decode(compressed + trailing, encoding, 10**6)
    _call_decode(trailing, encoding, 10**6)


@FAST
@given(
    authorization=st.none()
    | st.text(max_size=40)
    | st.binary(max_size=30).map(lambda b: "Basic " + base64.b64encode(b).decode()),
    header=st.none() | st.text(max_size=20),
    body=arbitrary_bodies,
)
def test_write_key_from_never_fails(
    authorization: str | None, header: str | None, body: Any
) -> None:
    key = write_key_from(authorization, header, body)
    assert key is None or isinstance(key, str)


# ---------------------------------------------------------------------------------------------
# Part 2: the running application on SQLite and PostgreSQL
# ---------------------------------------------------------------------------------------------

# Route → the message type it implies (None: a batch), written out as the spec of the API.
ROUTE_TYPES: dict[str, str | None] = {
    "batch": None, "b": None, "import": None,
    "track": "track", "t": "track", "identify": "identify", "i": "identify",
    "page": "page", "p": "page", "screen": "screen", "s": "screen",
    "group": "group", "g": "group", "alias": "alias", "a": "alias",
}  # fmt: skip
MAX_BODY = 64 * 1024
DOCUMENTED_STATUSES = {200, 400, 401, 403, 413, 415, 429}
# Request-level problems found before the body is parsed (so possibly before the key is known).
_DECODE_CODES = {"body_too_large", "unsupported_encoding", "invalid_gzip", "invalid_json"}
NOT_JSON = object()


@dataclass(frozen=True)
class Keys:
    """The write keys of the sources the app test sends to."""

    by_name: dict[str, str]
    source_ids: dict[str, int]
    enabled: frozenset[str]


@dataclass
class Exchange:
    """One generated request and what the test knows about it."""

    route: str
    kind: str  # valid | mixed | json | garbage
    document: Any  # the JSON value sent, NOT_JSON when the body is not JSON
    raw: bytes
    headers: dict[str, str]
    place: str  # where the write key went: basic | header | body | none | bad_auth
    clean: bool = True  # encoding matches the body and the body is within the limit
    broken: list[int] = field(default_factory=list)

    @property
    def message_type(self) -> str | None:
        return ROUTE_TYPES[self.route]


def _basic(username: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:".encode()).decode()


# Write keys to send: valid, disabled, unknown (any text, NUL included: keys reach SQL).
# Repeated entries weight the draw: most requests should get far enough to be stored.
key_choices = st.sampled_from(["web", "web", "app", "app", "off", "unknown"]).flatmap(
    lambda name: st.text(max_size=20).map(lambda t: "?" + t) if name == "unknown" else st.just(name)
)
printable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=24)


@st.composite
def exchanges(draw: st.DrawFn, keys: Keys) -> Exchange:
    route = draw(st.sampled_from(sorted(ROUTE_TYPES)))
    message_type = ROUTE_TYPES[route]
    kind = draw(st.sampled_from(["valid", "valid", "valid", "mixed", "mixed", "json", "garbage"]))
    broken: list[int] = []
    document: Any
    if kind == "valid" and message_type is None:
        document = {"batch": draw(st.lists(valid_messages(), min_size=1, max_size=5))}
        if draw(st.booleans()):  # batch-level context and sentAt apply to every message
            document["context"] = draw(json_objects)
        if draw(st.booleans()):
            document["sentAt"] = draw(iso_instants())[0]
    elif kind == "valid":
        document = draw(valid_messages(message_type))
    elif kind == "mixed" and message_type is None:
        batch, _, broken = draw(mixed_batches())
        document = {"batch": batch}
    elif kind == "mixed":
        document = _broken(draw, draw(valid_messages(message_type)), routed=True)
        broken = [0]
    elif kind == "json":
        document = draw(wire_bodies)
    else:
        document = NOT_JSON

    # Where the write key goes. Basic auth carries any text (NUL too) through base64.
    headers: dict[str, str] = {}
    place = draw(st.sampled_from(["basic", "basic", "header", "body", "body", "none", "bad_auth"]))
    choice = draw(key_choices)
    key = keys.by_name.get(choice, choice[1:])
    if place == "basic":
        headers["Authorization"] = _basic(key)
    elif place == "header":
        headers["X-Write-Key"] = keys.by_name.get(choice) or draw(printable.filter(str.strip))
    elif place == "body" and isinstance(document, dict):
        target = document
        if message_type is None and isinstance(document.get("batch"), list) and draw(st.booleans()):
            first = document["batch"][0] if document["batch"] else None
            target = first if isinstance(first, dict) else document  # analytics-python style
        target["writeKey"] = key
    elif place == "bad_auth":
        headers["Authorization"] = draw(
            st.sampled_from(["Basic", "Basic !!!", "Bearer x", _basic("")])
        )

    raw = draw(st.binary(max_size=400)) if document is NOT_JSON else orjson.dumps(document)
    if document is NOT_JSON:
        # Random bytes may happen to be JSON: the ledger needs to know what was sent.
        with contextlib.suppress(orjson.JSONDecodeError):
            document = orjson.loads(raw)
    clean = True
    if draw(st.sampled_from([False] * 9 + [True])):  # over the limit, plain or decompressed
        raw += b" " * MAX_BODY
        clean = False

    encoding = draw(st.sampled_from(["none"] * 3 + ["gzip"] * 2 + ["plain_as_gzip", "other"]))
    if encoding == "gzip":
        headers["Content-Encoding"] = draw(st.sampled_from(["gzip", "x-gzip", "GZIP"]))
        raw = gzip.compress(raw)
    elif encoding == "plain_as_gzip":
        headers["Content-Encoding"] = "gzip"
        clean = False
    elif encoding == "other":
        declared = draw(st.sampled_from(["identity", "", "br", "deflate", "compress"]) | printable)
        headers["Content-Encoding"] = declared
        clean = clean and declared.strip().lower() in ("", "identity")
    content_type = draw(
        st.sampled_from(["application/json", "text/plain", "application/octet-stream", None])
        | printable
    )
    if content_type is not None:
        headers["Content-Type"] = content_type
    return Exchange(route, kind, document, raw, headers, place, clean, broken)


def _resolved_key(exchange: Exchange) -> str | None:
    """The write key a request names, in the documented order: Basic, X-Write-Key, body."""
    auth = exchange.headers.get("Authorization", "")
    if auth[:6].lower() == "basic ":
        try:
            username = base64.b64decode(auth[6:], validate=True).decode().split(":", 1)[0]
        except ValueError:  # binascii.Error and UnicodeDecodeError are ValueErrors
            username = ""
        if username:
            return username
    if exchange.headers.get("X-Write-Key"):
        return exchange.headers["X-Write-Key"].strip()
    document = exchange.document
    if isinstance(document, dict):
        if isinstance(document.get("writeKey"), str) and document["writeKey"]:
            return str(document["writeKey"])
        batch = document.get("batch")
        if isinstance(batch, list) and batch and isinstance(batch[0], dict):
            first = batch[0].get("writeKey")
            if isinstance(first, str) and first:
                return first
    return None


def _messages(exchange: Exchange) -> list[Any]:
    if exchange.message_type is not None:
        return [exchange.document]
    batch: list[Any] = exchange.document["batch"]
    return batch


def _predicted_status(exchange: Exchange, keys: Keys) -> int | None:
    """The status the documented behaviour implies, where it is unambiguous."""
    key = _resolved_key(exchange)
    source = next((n for n, k in keys.by_name.items() if k == key), None)
    if not exchange.clean:
        return None
    if source is None:
        # A key named in the headers is checked before the body is read: 401 at once. With
        # no usable key in the headers (none, or an Authorization without one) the body
        # decides, and its own problems may be reported first.
        named = write_key_from(
            exchange.headers.get("Authorization"), exchange.headers.get("X-Write-Key"), None
        )
        return 401 if named is not None else None
    if source not in keys.enabled:
        return 403
    if exchange.kind == "valid":
        return 200
    if exchange.kind == "mixed":
        return 400 if len(exchange.broken) == len(_messages(exchange)) else 200
    return None


@dataclass
class Ledger:
    """What the responses acknowledged, per source: explicit message ids, generated ones."""

    explicit: dict[int, set[str]] = field(default_factory=lambda: defaultdict(set))
    generated: Counter[int] = field(default_factory=Counter)
    rejected: Counter[int | None] = field(default_factory=Counter)

    def acknowledge(self, source_id: int, message: dict[str, Any]) -> None:
        message_id = _expected_id(message.get("messageId"))
        if message_id is None:
            self.generated[source_id] += 1
        else:
            self.explicit[source_id].add(message_id)


def _database_state(engine: Engine) -> tuple[dict[int, list[str]], Counter[int | None]]:
    with engine.connect() as connection:
        stored: dict[int, list[str]] = defaultdict(list)
        for source_id, message_id in connection.execute(
            select(events.c.source_id, events.c.message_id)
        ):
            stored[source_id].append(message_id)
        rejected: Counter[int | None] = Counter(
            dict(
                connection.execute(
                    select(rejected_events.c.source_id, func.count()).group_by(
                        rejected_events.c.source_id
                    )
                ).all()
            )
        )
    return stored, rejected


def _check_response(exchange: Exchange, status: int, body: Any) -> int:
    """Checks the response's shape; returns how many refused messages it lists."""
    assert status < 500, body
    assert status in DOCUMENTED_STATUSES, (status, body)
    assert isinstance(body, dict), body
    if status == 200:
        assert body["success"] is True
        if exchange.message_type is not None:
            assert body == {"success": True}
            return 0
        rejected = body.get("rejected", [])
        if rejected:
            # At most REPORTED_REJECTIONS_LIMIT are listed (and kept); all are counted.
            assert body["accepted"] + body["rejected_count"] == len(_messages(exchange))
            assert len(rejected) == min(body["rejected_count"], REPORTED_REJECTIONS_LIMIT)
            indices = [entry["index"] for entry in rejected]
            assert indices == sorted(set(indices))
            assert all(entry["code"] in ERROR_TEXT and entry["message"] for entry in rejected)
        return len(rejected)
    assert isinstance(body.get("code"), str), body
    assert isinstance(body.get("message"), str), body
    assert body["message"].strip()
    assert body["code"] in ERROR_TEXT
    assert ERROR_TEXT[body["code"]][0] == status
    extra = set(body) - {"code", "message"}
    listed = {"rejected", "rejected_count"} if body["code"] == "all_rejected" else set()
    assert extra <= listed, body
    return len(body.get("rejected", []))


def _setup_sources(engine: Engine) -> Keys:
    by_name = {"web": add_source(engine, "web", "web"), "app": add_source(engine, "app", "ios")}
    by_name["off"] = add_source(engine, "off", "web")
    with engine.begin() as connection:
        sources.set_enabled(connection, name="off", enabled=False)
        ids = {s.name: s.id for s in sources.list_all(connection)}
    return Keys(by_name, ids, frozenset({"web", "app"}))


def test_app_stores_exactly_what_it_acknowledges(engine: Engine, database_url: str) -> None:
    keys = _setup_sources(engine)
    ledger = Ledger()
    source_of_key = {key: keys.source_ids[name] for name, key in keys.by_name.items()}

    with running_app(database_url, max_body_bytes=MAX_BODY) as client:
        # Hypothesis runs inside the test so that one app and one database serve all examples;
        # the ledger carries what earlier examples stored.
        @settings(
            max_examples=60,
            deadline=None,
            database=None,  # examples depend on this run's write keys; replaying old ones is moot
            suppress_health_check=[
                HealthCheck.function_scoped_fixture,
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
            ],
        )
        @given(exchange=exchanges(keys))
        def exchange_once(exchange: Exchange) -> None:
            response = client.post(
                f"/v1/{exchange.route}", content=exchange.raw, headers=exchange.headers
            )
            body = response.json()  # every answer is JSON, errors included
            # Visible with --hypothesis-show-statistics: what the examples covered.
            event(f"{exchange.kind} -> {response.status_code} {body.get('code', '')}")
            source_id = source_of_key.get(_resolved_key(exchange) or "")

            # Book what was acknowledged before judging the answer, so the ledger stays true
            # for the examples hypothesis runs after a failure while shrinking.
            if response.status_code == 200:
                assert source_id is not None, "acknowledged without a valid write key"
                refused = {entry["index"] for entry in body.get("rejected", [])}
                for index, message in enumerate(_messages(exchange)):
                    if index not in refused:
                        ledger.acknowledge(source_id, message)
            refused_count = _check_response(exchange, response.status_code, body)

            predicted = _predicted_status(exchange, keys)
            if predicted is not None:
                assert response.status_code == predicted, (exchange, body)
            if response.status_code == 200 and exchange.kind == "mixed":
                assert [e["index"] for e in body.get("rejected", [])] == exchange.broken

            stored, rejected = _database_state(engine)
            # Events: exactly the acknowledged messages, each once.
            assert set(stored) <= set(keys.source_ids.values())
            for sid in keys.source_ids.values():
                ids = stored.get(sid, [])
                assert len(ids) == len(set(ids))
                extra = set(ids) - ledger.explicit[sid]
                assert ledger.explicit[sid] <= set(ids), "acknowledged but not stored"
                assert len(extra) == ledger.generated[sid], "stored but not acknowledged"
                assert all(uuid.UUID(message_id) for message_id in extra)
            # Rejected messages: kept for the source that sent them, only for that source.
            delta = rejected - ledger.rejected
            ledger.rejected = rejected  # booked before judging, like the acknowledgements
            assert set(delta) <= {source_id}, delta
            if response.status_code in (200, 401, 403) or body.get("code") == "all_rejected":
                assert delta.get(source_id, 0) == refused_count
            else:  # a refused request is kept once when its source is known
                assert delta.get(source_id, 0) in (0, 1)
                if source_id is None or body["code"] not in _DECODE_CODES:
                    assert delta.get(source_id, 0) == (0 if source_id is None else 1)

        exchange_once()


def test_nul_in_identifiers_is_refused_not_a_failed_commit(
    engine: Engine, database_url: str
) -> None:
    """Regression: NUL in a column value made PostgreSQL fail the group commit (503)."""
    key = add_source(engine)
    batch = {
        "batch": [
            {"type": "track", "userId": "u\x00", "event": "e", "messageId": "1"},
            {"type": "track", "userId": "u", "event": "e\x00", "messageId": "2"},
            {"type": "track", "userId": "u", "event": "e", "messageId": "3\x00"},
            {"type": "page", "anonymousId": "a", "name": "\x00", "messageId": "4"},
            {
                "type": "track",
                "userId": "u",
                "event": "e",
                "messageId": "ok",
                "properties": {"x": "\x00"},
            },
        ]
    }
    with running_app(database_url) as client:
        response = client.post("/v1/batch", json=batch, headers={"Authorization": _basic(key)})
    assert response.status_code == 200, response.text
    assert [e["index"] for e in response.json()["rejected"]] == [0, 1, 2, 3]
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("method", "path", "headers", "body", "status"),
    [
        ("POST", "/v1/track", {"Authorization": _basic("\x00")}, {}, 401),
        ("POST", "/v1/track", {}, {"writeKey": "k\x00"}, 401),
        ("POST", "/v1/batch", {}, {"batch": [{"writeKey": "\x00"}]}, 401),
        ("GET", "/v1/projects/%00/settings", {}, None, 404),
    ],
    ids=["basic", "body", "batch", "settings"],
)
def test_nul_in_write_key_is_an_unknown_key(
    engine: Engine,
    database_url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    body: dict[str, Any] | None,
    status: int,
) -> None:
    """A write key with NUL (reachable via base64, JSON or the URL) is unknown, not a 500.

    On PostgreSQL the key lookup itself failed: psycopg refuses NUL in a text parameter.
    """
    add_source(engine)
    message = None if body is None else {"userId": "u", "event": "e"} | body
    with running_app(database_url) as client:
        response = client.request(method, path, json=message, headers=headers)
    assert response.status_code == status, response.text
