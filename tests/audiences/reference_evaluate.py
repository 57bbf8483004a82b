"""A deliberately naive reading of docs/audiences-definitions.md, for property tests.

It works on the JSON form itself (plain dicts, no models) and on the raw list of the person's
events, rescanning every event for every condition at every instant. It shares no code with
`omnicx.audiences` beyond the standard library.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

YES = {"true", "yes", "y", "1", "on", "opt-in", "optin", "subscribed"}
NO = {"false", "no", "n", "0", "off", "opt-out", "optout", "unsubscribed"}


@dataclass
class RawEvent:
    name: str
    ts: datetime
    channel: str
    properties: dict[str, Any] = field(default_factory=dict)


@dataclass
class RawPerson:
    traits: dict[str, Any] = field(default_factory=dict)
    computed: dict[str, Any] = field(default_factory=dict)
    identities: dict[str, set[str]] = field(default_factory=dict)
    consents: dict[tuple[str, str], bool] = field(default_factory=dict)
    memberships: set[str] = field(default_factory=set)
    events: list[RawEvent] = field(default_factory=list)


def utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_time(text: str) -> date | datetime | None:
    """A `date` for YYYY-MM-DD, a UTC `datetime` for a date-time, else None."""
    text = text.strip()
    if len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            return None
    if len(text) < 16 or text[10] not in "T ":
        return None
    try:
        return utc(datetime.fromisoformat(text.replace("Z", "+00:00")))
    except ValueError:
        return None


def as_number(x: Any) -> float | None:
    if isinstance(x, bool) or x is None:
        return None
    if isinstance(x, (int, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, str):
        try:
            f = float(x)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def as_yes_no(x: Any) -> bool | None:
    if isinstance(x, bool):
        return x
    if isinstance(x, (int, float)):
        return {0: False, 1: True}.get(x)  # type: ignore[call-overload]
    if isinstance(x, str):
        t = x.strip().lower()
        return True if t in YES else False if t in NO else None
    return None


def as_day(x: Any) -> date | None:
    if isinstance(x, str):
        x = parse_time(x)
    if isinstance(x, datetime):
        return utc(x).date()
    return x if isinstance(x, date) else None


def as_instant(x: Any) -> datetime | None:
    if isinstance(x, str):
        x = parse_time(x)
    if isinstance(x, datetime):
        return utc(x)
    if isinstance(x, date):
        return datetime(x.year, x.month, x.day, tzinfo=UTC)
    return None


def is_many(x: Any) -> bool:
    return isinstance(x, (list, tuple, set, frozenset, dict))


def key_of(v: Any) -> tuple[str, Any]:
    """How a condition value compares, and what with."""
    if isinstance(v, bool):
        return "yesno", v
    if isinstance(v, (int, float)):
        return "number", float(v)
    parsed = parse_time(v)
    if isinstance(parsed, datetime):
        return "instant", parsed
    if isinstance(parsed, date):
        return "day", parsed
    return "text", v.casefold()


def read(actual: Any, how: str) -> Any:
    if how == "yesno":
        return as_yes_no(actual)
    if how == "number":
        return as_number(actual)
    if how == "instant":
        return as_instant(actual)
    if how == "day":
        return as_day(actual)
    return actual.casefold() if isinstance(actual, str) else None


def same(actual: Any, v: Any) -> bool:
    if actual is None or is_many(actual):
        return False
    how, want = key_of(v)
    got = read(actual, how)
    return got is not None and got == want


def check(op: str, actual: Any, v: Any) -> bool:
    """The spec's table of operators, one branch each."""
    if op == "exists":
        return actual is not None
    if op == "not_exists":
        return actual is None
    if op == "eq":
        return same(actual, v)
    if op == "neq":
        return not same(actual, v)
    if op == "in":
        if actual is None:
            return False
        items = list(actual) if is_many(actual) else [actual]
        return any(same(i, w) for i in items for w in v)
    if op == "not_in":
        return not check("in", actual, v)
    if op == "contains":
        if is_many(actual):
            return any(same(i, v) for i in actual)
        return isinstance(actual, str) and isinstance(v, str) and v.casefold() in actual.casefold()
    if op == "starts_with":
        return isinstance(actual, str) and actual.casefold().startswith(v.casefold())
    if actual is None or is_many(actual):
        return False
    if op == "between":
        how, low = key_of(v[0])
        high = key_of(v[1])[1]
        got = read(actual, how)
        return got is not None and low <= got <= high
    how, want = key_of(v)
    got = read(actual, how)
    if got is None or how not in ("number", "day", "instant"):
        return False
    return {"gt": got > want, "gte": got >= want, "lt": got < want, "lte": got <= want}[op]


def prop(properties: dict[str, Any], name: str) -> Any:
    if name in properties:
        return properties[name]
    here: Any = properties
    for part in name.split("."):
        if not isinstance(here, dict) or part not in here:
            return None
        here = here[part]
    return here


def in_window(within: dict[str, Any] | None, ts: datetime, now: datetime) -> bool:
    if ts > now:
        return False  # not happened yet
    if within is None:
        return True
    if "last_days" in within:
        return now - ts < timedelta(days=within["last_days"])
    if "last_hours" in within:
        return now - ts < timedelta(hours=within["last_hours"])
    first, last = (parse_time(t) for t in within["between"])
    start = as_instant(first)
    end = as_instant(last)
    assert start is not None and end is not None
    if not isinstance(last, datetime):
        end += timedelta(days=1)  # an end date includes its whole day
    return start <= ts < end


def count_ok(count: dict[str, Any], n: int) -> bool:
    op, v = count["op"], count["value"]
    if op == "between":
        return v[0] <= n <= v[1]
    return {"eq": n == v, "gt": n > v, "gte": n >= v, "lt": n < v, "lte": n <= v}[op]


def did(c: dict[str, Any], person: RawPerson, now: datetime) -> bool:
    channels = c.get("channel")
    if isinstance(channels, str):
        channels = [channels]
    n = 0
    for e in person.events:
        if e.name != c["event"]:
            continue
        if channels is not None and e.channel not in channels:
            continue
        if not all(
            check(w["op"], prop(e.properties, w["property"]), w.get("value"))
            for w in c.get("where", [])
        ):
            continue
        if in_window(c.get("within"), utc(e.ts), now):
            n += 1
    if not c.get("did", True):
        return n == 0
    return count_ok(c["count"], n) if "count" in c else n > 0


def holds(c: dict[str, Any], person: RawPerson, now: datetime) -> bool:
    """Whether the person meets condition `c` (a JSON-form dict) at `now`."""
    now = utc(now)
    if "all" in c:
        return all(holds(x, person, now) for x in c["all"])
    if "any" in c:
        return any(holds(x, person, now) for x in c["any"])
    if "not" in c:
        return not holds(c["not"], person, now)
    if "trait" in c:
        return check(c["op"], person.traits.get(c["trait"]), c.get("value"))
    if "computed" in c:
        return check(c["op"], person.computed.get(c["computed"]), c.get("value"))
    if "event" in c:
        return did(c, person, now)
    if "identity" in c:
        return (len(person.identities.get(c["identity"], ())) > 0) == c.get("present", True)
    if "consent" in c:
        given = person.consents.get((c["consent"]["channel"], c["consent"]["purpose"]))
        return (given is True) == c.get("granted", True)
    if "segment" in c:
        return (c["segment"] in person.memberships) == c.get("member", True)
    raise ValueError(c)


RECENT_EVENTS = st.lists(
    st.tuples(st.sampled_from(["A", "B"]), st.integers(-72, 6), st.sampled_from(["web", "ios"])),
    max_size=6,
)
"""(name, hours from now, channel) of events around `now`, some still to come, so that
windows open and close after it (for the next-change properties)."""
OFFSETS = st.lists(st.integers(1, 10 * 24 * 3600 * 10**6), max_size=8)
"""Microseconds after the change (or after now) at which to check nothing else changed."""
