"""Every word a segment definition shows users: its text form and its validation errors.

Kept in one module so a translation replaces two dictionaries and nothing else. Templates use
`str.format` fields, so a language can put the words in its own order. The words are marked
with `N_` for the console's message catalogs, which translate them (Babel extracts them with
the console's own messages): the text form through `definition_text.render(..., phrases=...)`,
the errors through each problem's wording (errors.Wording). The API and the CLI stay English.
"""

from __future__ import annotations

from omnicx.wording import N_

PHRASES: dict[str, str] = {
    # Combining conditions (upper case, so they stand out from the words inside conditions).
    "and": N_("AND"),
    "or": N_("OR"),
    "not": N_("NOT ({condition})"),
    "group": N_("({condition})"),
    # Who: a trait of the profile, or a computed trait (shown bare, as on the profile).
    "trait": N_("trait {name}"),
    "computed": "{name}",
    # Comparisons; `{subject}` is the trait, `{value}` the condition's value.
    "op.eq": N_("{subject} = {value}"),
    "op.neq": N_("{subject} ≠ {value}"),
    "op.gt": N_("{subject} > {value}"),
    "op.gte": N_("{subject} ≥ {value}"),
    "op.lt": N_("{subject} < {value}"),
    "op.lte": N_("{subject} ≤ {value}"),
    "op.in": N_("{subject} is one of {value}"),
    "op.not_in": N_("{subject} is not one of {value}"),
    "op.contains": N_("{subject} contains {value}"),
    "op.starts_with": N_("{subject} starts with {value}"),
    "op.between": N_("{subject} between {low} and {high}"),
    "op.exists": N_("{subject} is set"),
    "op.not_exists": N_("{subject} is not set"),
    "list": N_("({values})"),
    "list_separator": N_(", "),
    # Events.
    "event.did": N_("did {event}"),
    "event.did_not": N_("did not do {event}"),
    "count.eq": N_("exactly {n} {times}"),
    "count.gt": N_("more than {n} {times}"),
    "count.gte": N_("at least {n} {times}"),
    "count.lt": N_("fewer than {n} {times}"),
    "count.lte": N_("at most {n} {times}"),
    "count.between": N_("between {low} and {high} {times}"),
    "time": N_("time"),
    "times": N_("times"),
    "within.last_days": N_("in the last {n} days"),
    "within.last_day": N_("in the last day"),
    "within.last_hours": N_("in the last {n} hours"),
    "within.last_hour": N_("in the last hour"),
    "within.between": N_("between {start} and {end}"),
    "channel": N_("on {channels}"),
    "channel_separator": N_(" or "),
    "where": N_("where {filters}"),
    "where_separator": N_(" and "),
    # Identities, consent, other segments.
    "identity.present": N_("has {type}"),
    "identity.absent": N_("has no {type}"),
    "consent.granted": N_("consent {channel}/{purpose} granted"),
    "consent.not_granted": N_("consent {channel}/{purpose} not granted"),
    "segment.member": N_("in segment {key}"),
    "segment.not_member": N_("not in segment {key}"),
}
"""The text form's words (docs/audiences-definitions.md#the-text-form)."""

ERRORS: dict[str, str] = {
    # Structure (from the JSON's shape).
    "not_json": N_("not valid JSON: {detail}"),
    "not_a_condition": N_(
        "not a condition: expected an object with one of the keys {kinds} "
        "(docs/audiences-definitions.md)"
    ),
    "two_kinds": N_("a condition takes only one of {kinds}: put several conditions in an `all`"),
    "unknown_key": N_("unknown key {key!r}{suggestion}; expected {expected}"),
    "missing": N_("is required"),
    "empty_group": N_("must list at least one condition"),
    "not_object": N_("must be an object"),
    "not_list": N_("must be a list"),
    "not_text": N_("must be a text"),
    "not_bool": N_("must be true or false"),
    "too_long": N_("is longer than {limit} characters"),
    "empty_text": N_("must not be empty"),
    "empty_channels": N_("must name at least one channel"),
    "too_deep": N_("conditions are nested deeper than {limit} levels"),
    "too_many": N_("the definition has more than {limit} conditions"),
    # Names that must be known.
    "unknown_trait": N_("unknown trait {name!r}{suggestion}"),
    "unknown_computed": N_("unknown computed trait {name!r}{suggestion}; choose one of: {choices}"),
    "unknown_op": N_("unknown operator {op!r}{suggestion}; use one of: {choices}"),
    "op_for_kind": N_("{name} is {kind}: use one of {choices}"),
    "unknown_channel": N_("unknown channel {name!r}{suggestion}; choose one of: {choices}"),
    "unknown_consent_channel": N_(
        "unknown consent channel {name!r}{suggestion}; choose one of: {choices}"
    ),
    "unknown_purpose": N_("unknown consent purpose {name!r}{suggestion}; choose one of: {choices}"),
    "unknown_identity": N_(
        "unknown identifier type {name!r}{suggestion}; choose one of: {choices}"
    ),
    "unknown_segment": N_("unknown segment {name!r}{suggestion}"),
    "unknown_event": N_("unknown event {name!r}{suggestion}"),
    "self_reference": N_("the segment refers to itself"),
    "cycle": N_("segments refer to each other in a cycle: {cycle}"),
    "suggestion": N_(" (did you mean {name!r}?)"),
    # Values of trait and property conditions.
    "value_missing": N_("`{op}` needs a value"),
    "value_forbidden": N_("`{op}` takes no value"),
    "value_scalar": N_("`{op}` needs a text, a number or true/false"),
    "value_list": N_(
        "`{op}` needs a non-empty list of texts, numbers or true/false (at most {limit})"
    ),
    "value_text": N_("`{op}` needs a text"),
    "value_ordered": N_("`{op}` needs a number or an ISO date such as 2026-01-31"),
    "value_between": N_("`between` needs two numbers or two ISO dates: [low, high]"),
    "value_between_order": N_("`between` starts at {low} but ends below it, at {high}"),
    "value_for_kind": N_("{name} is {kind}: the value must be {expected}"),
    # Event conditions.
    "count_value": N_("must be a whole number >= 0"),
    "count_lt": N_("must be a whole number >= 1 (fewer than 0 times is impossible)"),
    "count_between": N_("must be two whole numbers >= 0: [low, high]"),
    "did_not_count": N_(
        "`did: false` means never: drop `count`, or keep `did: true` with "
        '{{"op": "lte", "value": N}} for "at most N times"'
    ),
    "window_one": N_("give exactly one of last_days, last_hours or between"),
    "window_positive": N_("must be a whole number > 0 (at most {limit})"),
    "window_between": N_("must be two ISO dates or date-times: [start, end]"),
    "window_order": N_("the window ends ({end}) before it starts ({start})"),
}
"""Validation messages (docs/audiences-definitions.md#validation-errors)."""

KIND_WORDS: dict[str, tuple[str, str]] = {
    "instant": (N_("a date-time"), N_("an ISO date or date-time such as 2026-01-31")),
    "number": (N_("a number"), N_("a number")),
    "text": (N_("a text"), N_("a text")),
    "set": (N_("a set of names"), N_("a text (one name)")),
    "object": (N_("present or absent"), N_("absent")),
}
"""For each kind of computed trait: how to name it, and what a value for it looks like."""

SEGMENT_ERRORS: dict[str, str] = {
    "not_found": N_("No segment {reference!r}."),
    "invalid_key": N_(
        "Segment key {key!r} is not allowed: use {low} to {high} lower-case letters, digits "
        "and _ . -, starting with a letter or digit."
    ),
    "invalid_name": N_("A segment's name has {low} to {high} characters."),
    "exists": N_("A segment with the key {key!r} already exists."),
    "too_many": N_("There are {count} segments already, the most allowed."),
    "in_use": N_("Segment {key!r} is used by {users}: change or delete those first."),
}
"""Why a segment is not stored, changed or deleted (segments.SegmentError, by its code)."""
