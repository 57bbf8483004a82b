"""The journeys section's forms: each tab's query parameters read and checked, so a report
can be bookmarked and shared by its address.

A form is read from the query string as typed (to show it again) and checked: every problem
is a FieldError naming the field and a problem code; the templates word the problem in the
reader's language (journeys/_macros.html `problem`). Nothing runs while a form has errors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams

from omnicx.analytics.event_catalog import LakeCatalog
from omnicx.analytics.funnel_spec import (
    Breakdown,
    FunnelError,
    FunnelSpec,
    FunnelStep,
    funnel_spec,
)
from omnicx.analytics.scope import Filter, Scope, ScopeError
from omnicx.wording import Wording

MAX_STEPS = 8
"""Steps the builder offers (the funnel engine takes more: the API does)."""
MIN_STEPS = 2
WINDOW_UNITS = {"minutes": 60, "hours": 3600, "days": 86400, "weeks": 7 * 86400}
MAX_WINDOW_SECONDS = 3660 * 86400
"""Ten years: a longer window is a typing mistake."""
ORDERINGS = ("ordered", "strict", "unordered")
BREAKDOWNS = ("", "channel", "source", "trait", "property")
ATTRIBUTIONS = ("first", "last")
PERIODS = ("day", "week", "month")
ORDER_EVENT = "Order Completed"
MAX_PATH_DEPTH = 10
MAX_PATH_TOP = 100
MAX_RETENTION_PERIODS = 60
MAX_CHURN_DAYS = 3650
MAX_ATTRIBUTION_DAYS = 3650
MAX_MARKOV_ORDER = 4


@dataclass(frozen=True, slots=True)
class FieldError:
    """A field that cannot be used: `field` is its query parameter, `row` the step it belongs
    to (1 for the first), `problem` what is wrong (a code the templates put in words),
    `value` what was given, `reason` the analytics' own explanation if any (their error's
    wordings, written in the reader's language by the `say` filter)."""

    field: str
    problem: str
    row: int | None = None
    value: str = ""
    reason: Sequence[Wording] = ()
    low: int | float | None = None
    high: int | float | None = None


def knows_event(catalog: LakeCatalog, name: str) -> bool:
    """Whether `name` may be an event of the data: it is in the catalog, or the catalog is
    still being counted (the report checks again with the whole catalog)."""
    return catalog.has_event(name) or not catalog.complete


class _Reader:
    """Reads one form's parameters, collecting errors."""

    def __init__(self, params: QueryParams) -> None:
        self.params = params
        self.errors: list[FieldError] = []

    def text(self, name: str, default: str = "") -> str:
        value = self.params.get(name)
        return default if value is None else value.strip()

    def choice(self, name: str, default: str, choices: Sequence[str]) -> str:
        value = self.text(name, default)
        if value not in choices:
            self.errors.append(FieldError(name, "not_a_choice", value=value))
            return default
        return value

    def number(self, name: str, default: int, low: int, high: int) -> int:
        raw = self.text(name, str(default))
        try:
            value = int(raw)
        except ValueError:
            self.errors.append(FieldError(name, "not_a_whole_number", value=raw))
            return default
        if not low <= value <= high:
            self.errors.append(FieldError(name, "out_of_range", value=raw, low=low, high=high))
            return default
        return value

    def decimal(self, name: str, default: float, low: float, high: float) -> float:
        raw = self.text(name, f"{default:g}")
        try:
            value = float(raw)
        except ValueError:
            self.errors.append(FieldError(name, "not_a_number", value=raw))
            return default
        if not (low < value <= high):
            self.errors.append(FieldError(name, "positive_up_to", value=raw, high=high))
            return default
        return value

    def event(
        self, name: str, default: str, catalog: LakeCatalog, *, optional: bool = False
    ) -> str:
        value = self.text(name, default)
        if not value:
            if not optional:
                self.errors.append(FieldError(name, "missing"))
            return ""
        # The default (Order Completed) is no mistake where the data has none: the report
        # is empty. Any other name must be in the data.
        if value != default and not knows_event(catalog, value):
            self.errors.append(FieldError(name, "unknown_event", value=value))
        return value

    def day(self, name: str) -> date | None:
        raw = self.text(name)
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.errors.append(FieldError(name, "not_a_date", value=raw))
            return None


@dataclass
class DateRange:
    """The days a report looks at (UTC, inclusive; empty: every day the data has)."""

    start: str = ""
    end: str = ""
    first: date | None = None
    last: date | None = None

    def scope(self) -> Scope:
        """The analytics scope of the range."""
        return Scope(start=self.first, end=self.last)

    def pairs(self) -> list[tuple[str, str]]:
        return [("start", self.start), ("end", self.end)]


def _range(reader: _Reader) -> DateRange:
    found = DateRange(reader.text("start"), reader.text("end"))
    found.first, found.last = reader.day("start"), reader.day("end")
    if found.first and found.last and found.first > found.last:
        reader.errors.append(FieldError("end", "range_reversed", value=found.end))
    return found


@dataclass
class Form:
    """What every tab's form has: the range, whether anything was asked, the errors."""

    range: DateRange = field(default_factory=DateRange)
    submitted: bool = False
    errors: list[FieldError] = field(default_factory=list)
    given: dict[str, str] = field(default_factory=dict)
    """The parameters as typed (single-valued ones), to show a field that has an error."""

    def shown(self, name: str, value: object) -> str:
        """What a field shows: what was typed when it has an error, else its value."""
        if any(e.field == name for e in self.errors) and name in self.given:
            return self.given[name]
        return f"{value:g}" if isinstance(value, float) else str(value)

    @property
    def ok(self) -> bool:
        """Whether the report may run."""
        return not self.errors

    def pairs(self) -> list[tuple[str, str]]:
        """The form as query parameters, in order."""
        return self.range.pairs()

    def query(self, **more: Any) -> str:
        """The form as a query string (with `more` parameters)."""
        pairs = self.pairs() + [(k, str(v)) for k, v in more.items()]
        return urlencode(pairs)


@dataclass
class StepRow:
    """One step of the builder as typed: an event name and optional filters."""

    event: str = ""
    filter: str = ""


@dataclass
class FunnelForm(Form):
    """The funnel builder."""

    rows: list[StepRow] = field(default_factory=list)
    window: str = "30"
    unit: str = "days"
    ordering: str = "ordered"
    breakdown: str = "channel"
    breakdown_name: str = ""
    attribution: str = "first"
    spec: FunnelSpec | None = None

    @property
    def steps(self) -> list[StepRow]:
        """The rows with an event, in order."""
        return [row for row in self.rows if row.event]

    def api_steps(self) -> list[str]:
        """The steps in the analytics API's text form (`EVENT[FILTER, ...]`)."""
        return [step.name for step in self.spec.steps] if self.spec else []

    def shown_rows(self) -> list[StepRow]:
        """The rows the builder shows: those given and an empty one (at least three)."""
        given = [row for row in self.rows if row.event or row.filter]
        count = min(MAX_STEPS, max(3, len(given) + 1))
        return given + [StepRow() for _ in range(count - len(given))]

    def pairs(self) -> list[tuple[str, str]]:
        pairs: list[tuple[str, str]] = []
        for row in self.steps:
            pairs += [("step", row.event), ("filter", row.filter)]
        pairs += [
            ("window", self.window),
            ("unit", self.unit),
            ("ordering", self.ordering),
            ("breakdown", self.breakdown),
            ("breakdown_name", self.breakdown_name),
            ("attribution", self.attribution),
        ]
        return pairs + self.range.pairs()


def read_funnel(params: QueryParams, catalog: LakeCatalog) -> FunnelForm:
    """The funnel builder's form; checked when it names steps."""
    reader = _Reader(params)
    events = params.getlist("step")
    filters = params.getlist("filter")
    rows = [
        StepRow(e.strip(), (filters[i] if i < len(filters) else "").strip())
        for i, e in enumerate(events)
    ]
    form = FunnelForm(
        rows=rows,
        window=reader.text("window", "30"),
        unit=reader.choice("unit", "days", tuple(WINDOW_UNITS)),
        ordering=reader.choice("ordering", "ordered", ORDERINGS),
        breakdown=reader.choice("breakdown", "channel", BREAKDOWNS),
        breakdown_name=reader.text("breakdown_name"),
        attribution=reader.choice("attribution", "first", ATTRIBUTIONS),
        submitted="step" in params,
    )
    form.range = _range(reader)
    if not form.submitted:
        form.errors = reader.errors
        form.given = dict(params.items())
        return form
    steps = _steps(reader, rows, catalog)
    window = _window(reader, form.window, form.unit)
    breakdown = _breakdown(reader, form.breakdown, form.breakdown_name)
    if not reader.errors and steps is not None and window is not None:
        try:
            form.spec = funnel_spec(
                steps,
                window=window,
                ordering=form.ordering,
                breakdown=breakdown,
                breakdown_attribution=form.attribution,
            )
        except FunnelError as exc:  # anything the checks above let through
            reader.errors.append(FieldError("step", "invalid", reason=exc.wordings))
    form.errors = reader.errors
    form.given = dict(params.items())
    return form


def _steps(reader: _Reader, rows: list[StepRow], catalog: LakeCatalog) -> list[FunnelStep] | None:
    steps: list[FunnelStep] = []
    for number, row in enumerate(rows, 1):
        if not row.event:
            if row.filter:
                reader.errors.append(FieldError("filter", "filter_without_step", row=number))
            continue
        if not knows_event(catalog, row.event):
            reader.errors.append(FieldError("step", "unknown_event", row=number, value=row.event))
            continue
        try:
            parsed = tuple(Filter.parse(p) for p in row.filter.split(",") if p.strip())
            steps.append(FunnelStep(row.event, parsed))
        except (ScopeError, FunnelError) as exc:
            reader.errors.append(
                FieldError(
                    "filter", "bad_filter", row=number, value=row.filter, reason=exc.wordings
                )
            )
    given = len([row for row in rows if row.event])
    if given < MIN_STEPS:
        reader.errors.append(FieldError("step", "too_few_steps", low=MIN_STEPS))
    elif given > MAX_STEPS:
        reader.errors.append(FieldError("step", "too_many_steps", high=MAX_STEPS))
    return steps if not reader.errors else None


def _window(reader: _Reader, raw: str, unit: str) -> timedelta | None:
    try:
        amount = float(raw)
    except ValueError:
        reader.errors.append(FieldError("window", "not_a_number", value=raw))
        return None
    if amount != amount or amount <= 0:  # NaN or not positive
        reader.errors.append(FieldError("window", "window_not_positive", value=raw))
        return None
    seconds = amount * WINDOW_UNITS[unit]
    if seconds > MAX_WINDOW_SECONDS:
        reader.errors.append(FieldError("window", "window_too_long", value=raw))
        return None
    return timedelta(seconds=seconds)


def _breakdown(reader: _Reader, kind: str, name: str) -> Breakdown | None:
    if not kind:
        return None
    if kind in ("channel", "source"):
        return Breakdown(kind)
    if not name:
        reader.errors.append(FieldError("breakdown_name", "missing"))
        return None
    try:
        return Breakdown.parse(f"{kind}:{name}")
    except FunnelError:
        reader.errors.append(FieldError("breakdown_name", "bad_name", value=name))
        return None


def dropped_step(params: QueryParams, form: FunnelForm) -> tuple[int, list[FieldError]]:
    """The step whose drop-outs to list (2 to the number of steps)."""
    reader = _Reader(params)
    step = reader.number("dropped", 2, MIN_STEPS, max(MIN_STEPS, len(form.steps)))
    return step, reader.errors


@dataclass
class PathsForm(Form):
    """Paths between channels or events."""

    by: str = "channel"
    direction: str = ""
    step: str = ""
    depth: int = 5
    top: int = 20
    repeats: str = "merge"

    def pairs(self) -> list[tuple[str, str]]:
        return [
            ("by", self.by),
            ("direction", self.direction),
            ("step", self.step),
            ("depth", str(self.depth)),
            ("top", str(self.top)),
            ("repeats", self.repeats),
            *self.range.pairs(),
        ]


def read_paths(params: QueryParams, catalog: LakeCatalog) -> PathsForm:
    """The paths tab's form."""
    reader = _Reader(params)
    form = PathsForm(
        by=reader.choice("by", "channel", ("channel", "event")),
        direction=reader.choice("direction", "", ("", "from", "to")),
        step=reader.text("step"),
        depth=reader.number("depth", 5, 1, MAX_PATH_DEPTH),
        top=reader.number("top", 20, 1, MAX_PATH_TOP),
        repeats=reader.choice("repeats", "merge", ("merge", "keep")),
        submitted=bool(params),
    )
    form.range = _range(reader)
    if form.direction and not form.step:
        reader.errors.append(FieldError("step", "missing"))
    elif form.step and form.by == "event" and not knows_event(catalog, form.step):
        reader.errors.append(FieldError("step", "unknown_event", value=form.step))
    elif (
        form.step
        and form.by == "channel"
        and catalog.complete
        and not catalog.has_channel(form.step)
    ):
        reader.errors.append(FieldError("step", "unknown_channel", value=form.step))
    form.errors = reader.errors
    form.given = dict(params.items())
    return form


@dataclass
class RetentionForm(Form):
    """Retention, lifecycle and churn points."""

    period: str = "month"
    kind: str = "first_time"
    start_event: str = ""
    return_event: str = ""
    by: str = "first_channel"
    periods: int = 12
    inactive_after: int = 90
    touches: int = 1

    def pairs(self) -> list[tuple[str, str]]:
        return [
            ("period", self.period),
            ("kind", self.kind),
            ("start_event", self.start_event),
            ("return_event", self.return_event),
            ("by", self.by),
            ("periods", str(self.periods)),
            ("inactive_after", str(self.inactive_after)),
            ("touches", str(self.touches)),
            *self.range.pairs(),
        ]


def read_retention(params: QueryParams, catalog: LakeCatalog) -> RetentionForm:
    """The retention tab's form."""
    reader = _Reader(params)
    form = RetentionForm(
        period=reader.choice("period", "month", PERIODS),
        kind=reader.choice("kind", "first_time", ("first_time", "recurring")),
        start_event=reader.event("start_event", "", catalog, optional=True),
        return_event=reader.event("return_event", "", catalog, optional=True),
        by=reader.choice("by", "first_channel", ("", "first_channel")),
        periods=reader.number("periods", 12, 1, MAX_RETENTION_PERIODS),
        inactive_after=reader.number("inactive_after", 90, 1, MAX_CHURN_DAYS),
        touches=reader.number("touches", 1, 1, 3),
        submitted=bool(params),
    )
    form.range = _range(reader)
    form.errors = reader.errors
    form.given = dict(params.items())
    return form


@dataclass
class StagesForm(Form):
    """Journey stages over time."""

    period: str = "month"

    def pairs(self) -> list[tuple[str, str]]:
        return [("period", self.period), *self.range.pairs()]


def read_stages(params: QueryParams, catalog: LakeCatalog) -> StagesForm:
    """The stage flow tab's form."""
    reader = _Reader(params)
    form = StagesForm(period=reader.choice("period", "month", PERIODS), submitted=bool(params))
    form.range = _range(reader)
    form.errors = reader.errors
    form.given = dict(params.items())
    return form


@dataclass
class ChannelsForm(Form):
    """Channel performance."""

    period: str = "month"
    conversion_event: str = ORDER_EVENT

    def pairs(self) -> list[tuple[str, str]]:
        return [
            ("period", self.period),
            ("conversion_event", self.conversion_event),
            *self.range.pairs(),
        ]


def read_channels(params: QueryParams, catalog: LakeCatalog) -> ChannelsForm:
    """The channel performance tab's form."""
    reader = _Reader(params)
    form = ChannelsForm(
        period=reader.choice("period", "month", PERIODS),
        conversion_event=reader.event("conversion_event", ORDER_EVENT, catalog),
        submitted=bool(params),
    )
    form.range = _range(reader)
    form.errors = reader.errors
    form.given = dict(params.items())
    return form


@dataclass
class AttributionForm(Form):
    """The attribution models side by side."""

    conversion: str = ORDER_EVENT
    lookback_days: float = 30
    half_life_days: float = 7
    markov_order: int = 1

    def pairs(self) -> list[tuple[str, str]]:
        return [
            ("conversion", self.conversion),
            ("lookback_days", f"{self.lookback_days:g}"),
            ("half_life_days", f"{self.half_life_days:g}"),
            ("markov_order", str(self.markov_order)),
            *self.range.pairs(),
        ]


def read_attribution(params: QueryParams, catalog: LakeCatalog) -> AttributionForm:
    """The attribution tab's form."""
    reader = _Reader(params)
    form = AttributionForm(
        conversion=reader.event("conversion", ORDER_EVENT, catalog),
        lookback_days=reader.decimal("lookback_days", 30, 0, MAX_ATTRIBUTION_DAYS),
        half_life_days=reader.decimal("half_life_days", 7, 0, MAX_ATTRIBUTION_DAYS),
        markov_order=reader.number("markov_order", 1, 1, MAX_MARKOV_ORDER),
        submitted=bool(params),
    )
    form.range = _range(reader)
    form.errors = reader.errors
    form.given = dict(params.items())
    return form


@dataclass
class ValueForm(Form):
    """Cross-channel value."""

    order_event: str = ORDER_EVENT

    def pairs(self) -> list[tuple[str, str]]:
        return [("order_event", self.order_event), *self.range.pairs()]


def read_value(params: QueryParams, catalog: LakeCatalog) -> ValueForm:
    """The value tab's form."""
    reader = _Reader(params)
    form = ValueForm(
        order_event=reader.event("order_event", ORDER_EVENT, catalog), submitted=bool(params)
    )
    form.range = _range(reader)
    form.errors = reader.errors
    form.given = dict(params.items())
    return form


FormReader = Callable[[QueryParams, LakeCatalog], Form]
