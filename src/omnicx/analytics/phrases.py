"""Every word the analytics say when a report cannot be computed as asked: the problems of a
filter or date range (scope), a funnel, paths and attribution.

Templates use `str.format` fields and are marked with `N_` for the console's message
catalogs: the API and the CLI show the English, the console its reader's language
(omnicx.wording). A field that is syntax to type (`step:2`) is passed as text, so that it is
shown as typed in every language.
"""

from __future__ import annotations

from typing import Any

from omnicx.wording import N_, Wording, worded

ANALYTICS_ERRORS: dict[str, str] = {
    # Scope: filters and date ranges.
    "filter_field": N_(
        "cannot filter on {field!r}: use channel, source, type, event, properties.NAME or "
        "traits.NAME"
    ),
    "filter_op": N_("unknown operator {op!r} in a filter: use one of {choices}"),
    "filter_unreadable": N_(
        "cannot read the filter {text!r}: write FIELD OPERATOR VALUE, for example "
        "properties.country=NL"
    ),
    "range_reversed": N_("the date range ends ({end}) before it starts ({start})"),
    # Funnels.
    "step_unnamed": N_("a step needs an event name, e.g. 'Order Completed'"),
    "step_filters_event": N_(
        "the step {event!r} filters on `event`: name the event before the brackets instead"
    ),
    "step_unreadable": N_(
        "cannot read the step {text!r}: write EVENT or EVENT[FILTER, ...], e.g. "
        "'Order Completed[channel=store_pos]'"
    ),
    "step_empty_brackets": N_(
        "the step {text!r} has empty brackets: put filters in them or drop them"
    ),
    "in_step": N_("in the step {text!r}: {problem}"),
    "breakdown_unreadable": N_(
        "cannot break down by {text!r}: use channel, source, property:NAME or trait:NAME"
    ),
    "attribution_unreadable": N_("cannot read the attribution {text!r}: use first, last or step:N"),
    "step_count": N_("a funnel needs {low} to {high} steps; {count} given"),
    "window_not_positive": N_("the conversion window must be longer than zero; {window} given"),
    "exclusion_steps": N_(
        "the exclusion {name!r} must apply between two steps from {low} to {high}, the first "
        "before the second"
    ),
    "attribution_step": N_("the attribution {given} names no step: use {first} to {last}"),
    "breakdown_limit": N_("the breakdown limit must be at least {low}; {given} given"),
    "ordering_unknown": N_("unknown ordering {ordering!r}: use ordered, strict or unordered"),
    "dropped_step": N_(
        "people drop between two steps: the step must be {low} to {high}; {step} given"
    ),
    # Paths.
    "paths_by": N_("paths go by channel or event, not {by!r}"),
    "paths_both_ends": N_("choose a step to start from or a step to end at, not both"),
    "paths_depth": N_("the depth must be {low} to {high} steps, not {depth}"),
    "paths_top": N_("the number of top paths must be {low} to {high}, not {top}"),
    # Attribution.
    "conversion_unnamed": N_("name the conversion event"),
    "lookback_not_positive": N_("the lookback window must be positive, not {lookback}"),
    "lookback_too_long": N_("the lookback window must be at most {days} days"),
    "half_life_not_positive": N_("the half-life must be positive, not {half_life}"),
    "markov_order": N_("the Markov order must be {low} to {high}, not {order}"),
    "markov_unsolvable": N_("the Markov chain of these journeys cannot be solved: {detail}"),
    "model_unknown": N_("unknown attribution model {model!r}: choose from {models}"),
    "no_model": N_("choose at least one model: {models}"),
}
"""The problems' templates (docs/analytics)."""


def analytics_wording(code: str, **fields: Any) -> Wording:
    """The message `code` of ANALYTICS_ERRORS with its fields."""
    return worded(ANALYTICS_ERRORS, code, fields)
