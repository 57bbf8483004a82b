"""The journeys section's charts: ECharts options built from the analytics' results with
the console's builders (charts.py), their labels in the reader's language."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from babel import Locale, dates

from omnicx.analytics.attribution import AttributionResult
from omnicx.analytics.channels import ChannelReport
from omnicx.analytics.funnel_results import FunnelGroup, FunnelResult
from omnicx.analytics.lifecycle import LifecycleReport
from omnicx.analytics.multichannel import MultichannelReport
from omnicx.analytics.paths import PathsResult
from omnicx.analytics.retention import RetentionReport
from omnicx.analytics.stage_results import StageReport
from omnicx.console import charts, i18n

DROPPED_COLOR = "#b3261e"


def N_(message: str) -> str:
    """Marks a message for translation where it is defined; translated where it is shown."""
    return message


CHANNEL_NAMES = {
    "web": N_("Web"),
    "ios": N_("iOS app"),
    "android": N_("Android app"),
    "store_pos": N_("Store"),
    "email": N_("E-mail"),
    "sms": N_("SMS"),
    "social": N_("Social"),
    "chat": N_("Chat"),
    "phone": N_("Phone"),
    "support": N_("Support desk"),
    "crm": N_("CRM"),
    "system": N_("omnicx"),
    "other": N_("Other"),
}
"""The channels' names, worded as macros.html `channel_name` words them."""

MODEL_NAMES = {
    "first_touch": N_("First touch"),
    "last_touch": N_("Last touch"),
    "linear": N_("Linear"),
    "time_decay": N_("Time decay"),
    "position_based": N_("Position based"),
    "markov": N_("Markov chain"),
}
"""The attribution models' names."""


@dataclass(frozen=True)
class Words:
    """Labels in the reader's language, for charts (which are data built here)."""

    language: str

    @property
    def gettext(self) -> Callable[[str], str]:
        return i18n.translations(self.language).gettext

    @property
    def rtl(self) -> bool:
        return i18n.LANGUAGES[self.language].rtl

    def channel(self, code: str | None) -> str:
        """A channel's name (an unknown channel as its code)."""
        if code is None:
            return self.gettext("(none)")
        known = CHANNEL_NAMES.get(code)
        return self.gettext(known) if known else code

    def model(self, name: str) -> str:
        """An attribution model's name."""
        known = MODEL_NAMES.get(name)
        return self.gettext(known) if known else name

    def short_duration(self, seconds: float) -> str:
        """`6h`, `30d` in the reader's language."""
        if seconds <= 0:
            return "0"
        return dates.format_timedelta(
            timedelta(seconds=seconds),
            format="narrow",
            threshold=1,
            locale=Locale.parse(self.language),
        )


def _with_urls(values: Sequence[int], urls: Sequence[str | None]) -> list[Any]:
    return [
        {"value": value, "url": url} if url else value
        for value, url in zip(values, urls, strict=True)
    ]


def step_label(index: int, name: str) -> str:
    """A funnel step on an axis: its number and its name."""
    return f"{index}. {name}"


def funnel_steps(
    result: FunnelResult, words: Words, dropped_url: Callable[[int], str]
) -> dict[str, Any]:
    """People reaching each step, and stacked on them those who dropped before it: clicking
    a drop-off lists those people."""
    _ = words.gettext
    reached, dropped = _("Reached the step"), _("Dropped before the step")
    option = charts.bar(
        [step_label(s.index, s.name) for s in result.steps],
        {reached: [s.count for s in result.steps], dropped: [s.dropped for s in result.steps]},
        stacked=True,
        rtl=words.rtl,
    )
    urls = [dropped_url(s.index) if s.index > 1 and s.dropped else None for s in result.steps]
    option["series"][1]["data"] = _with_urls([s.dropped for s in result.steps], urls)
    option["series"][1]["itemStyle"] = {"color": DROPPED_COLOR, "opacity": 0.55}
    option["series"][1]["cursor"] = "pointer"
    return option


def group_label(group: FunnelGroup, words: Words, breakdown: str | None) -> str:
    """A breakdown value as shown: a channel's name, `Other`, or `(none)`."""
    _ = words.gettext
    if group.other:
        return _("Other")
    if group.value is None:
        return _("(none)")
    return words.channel(group.value) if breakdown == "channel" else group.value


def funnel_groups(result: FunnelResult, words: Words) -> dict[str, Any]:
    """Conversion (first step to last) per breakdown value, in percent."""
    _ = words.gettext
    return charts.bar(
        [group_label(g, words, result.breakdown) for g in result.groups],
        {
            _("Conversion"): [
                round(100 * g.steps[-1].conversion_from_start, 1)
                if g.steps[-1].conversion_from_start is not None
                else None
                for g in result.groups
            ]
        },
        percent=True,
        rtl=words.rtl,
    )


def time_to_convert(result: FunnelResult, words: Words) -> dict[str, Any]:
    """People converting per time band (from the first step to the last)."""
    _ = words.gettext
    bins = result.time_to_convert.histogram
    return charts.bar(
        [bin_label(b.from_seconds, b.to_seconds, words) for b in bins],
        {_("People"): [b.count for b in bins]},
        rtl=words.rtl,
    )


def bin_label(low: float, high: float, words: Words) -> str:
    """A time band: `1h–6h`."""
    return f"{words.short_duration(low)}–{words.short_duration(high)}"


def path_node_name(step: int, name: str, by: str, words: Words) -> str:
    """A path's node: its position and its channel or event."""
    shown = words.channel(name) if by == "channel" else name
    return f"{step}. {shown}"


def paths_sankey(result: PathsResult, words: Words) -> dict[str, Any]:
    """The top paths as a Sankey diagram (positions left to right)."""
    names = {n.id: path_node_name(n.step, n.name, result.by, words) for n in result.nodes}
    return charts.sankey(
        [{"name": names[n.id], "value": n.people} for n in result.nodes],
        [
            {"source": names[link.source], "target": names[link.target], "value": link.value}
            for link in result.links
        ],
    )


def transitions_heatmap(result: PathsResult, words: Words, limit: int = 15) -> dict[str, Any]:
    """Transitions between the `limit` busiest nodes: from (rows) to (columns)."""
    busiest: dict[str, int] = {}
    for t in result.transitions:
        busiest[t.source] = busiest.get(t.source, 0) + t.transitions
        busiest[t.target] = busiest.get(t.target, 0) + t.transitions
    names = [n for n, _ in sorted(busiest.items(), key=lambda i: (-i[1], i[0]))[:limit]]
    index = {name: i for i, name in enumerate(names)}
    shown = [words.channel(n) if result.by == "channel" else n for n in names]
    cells = [
        (index[t.target], index[t.source], float(t.transitions))
        for t in result.transitions
        if t.source in index and t.target in index
    ]
    top = max((c[2] for c in cells), default=1.0)
    return charts.heatmap(shown, shown, cells, maximum=top, rtl=words.rtl)


def retention_heatmap(report: RetentionReport, words: Words) -> dict[str, Any]:
    """Each cohort's retention per period after it, in percent."""
    _ = words.gettext
    columns = [str(k) for k in range(report.periods + 1)]
    rows = [cohort_label(c.start.isoformat(), c.channel, words) for c in report.cohorts]
    cells = [
        (k, j, round(100 * rate, 1))
        for j, cohort in enumerate(report.cohorts)
        for k, rate in enumerate(cohort.rates)
        if rate is not None
    ]
    option = charts.heatmap(columns, rows, cells, rtl=words.rtl)
    option["xAxis"]["name"] = _("Periods later")
    return option


def cohort_label(start: str, channel: str | None, words: Words) -> str:
    """A cohort: its first period, and its first channel when split by it."""
    return f"{start} · {words.channel(channel)}" if channel else start


def lifecycle_bars(report: LifecycleReport, words: Words) -> dict[str, Any]:
    """New, returning and resurrecting people (up) and dormant people (down) per period."""
    _ = words.gettext
    periods = report.periods
    option = charts.bar(
        [p.start.isoformat() for p in periods],
        {
            _("New"): [p.new for p in periods],
            _("Returning"): [p.returning for p in periods],
            _("Resurrecting"): [p.resurrecting for p in periods],
            _("Dormant"): [p.dormant for p in periods],
        },
        stacked=True,
        rtl=words.rtl,
    )
    option["color"] = ["#1a7f4b", "#0b5cad", "#6f42c1", DROPPED_COLOR]
    return option


def stage_sankey(report: StageReport, words: Words) -> dict[str, Any]:
    """Each person from their stage at the range's start to their stage at its end."""
    names = {node["id"]: stage_node_name(node, words) for node in report.flows.nodes()}
    links = [
        {
            "source": names[f"start:{link.source}"],
            "target": names[f"end:{link.target}"],
            "value": link.people,
        }
        for link in report.flows.links
    ]
    return charts.sankey([{"name": name} for name in names.values()], links)


def stage_node_name(node: Mapping[str, Any], words: Words) -> str:
    """A stage at the range's start or at its end."""
    _ = words.gettext
    stage = stage_name(str(node["stage"]), words)
    if node["side"] == "start":
        return _("%(stage)s at the start") % {"stage": stage}
    return _("%(stage)s at the end") % {"stage": stage}


def stage_name(stage: str, words: Words) -> str:
    """A stage's name (`new`: in no stage yet)."""
    _ = words.gettext
    return _("in no stage") if stage == "new" else stage


def stage_periods(report: StageReport, words: Words) -> dict[str, Any]:
    """People in each stage at the end of every period, stacked."""
    periods = sorted({p.period for p in report.periods})
    people = {(p.period, p.stage): p.people for p in report.periods}
    return charts.bar(
        [p.isoformat() for p in periods],
        {stage: [people.get((p, stage), 0) for p in periods] for stage in report.stages},
        stacked=True,
        rtl=words.rtl,
    )


CHANNEL_MEASURES = ("reach", "engaged", "converted", "revenue", "conversion_rate")


def channel_trend(report: ChannelReport, measure: str, words: Words) -> dict[str, Any]:
    """One measure per channel and period, one line per channel."""
    periods = sorted({f.period for f in report.periods if f.period})
    channels = [t.channel for t in report.totals]
    values: dict[tuple[str, Any], float | int | None] = {}
    for f in report.periods:
        value = f.conversion_rate if measure == "conversion_rate" else getattr(f, measure)
        if measure == "conversion_rate" and value is not None:
            value = round(100 * value, 2)
        values[(f.channel, f.period)] = value
    return charts.line(
        [p.isoformat() for p in periods],
        {words.channel(c): [values.get((c, p)) for p in periods] for c in channels},
        rtl=words.rtl,
    )


def attribution_bars(result: AttributionResult, words: Words) -> dict[str, Any]:
    """Conversions credited to each channel, one bar per model."""
    return charts.bar(
        [words.channel(c.channel) for c in result.channels],
        {
            words.model(model): [
                round(c.credit[model].conversions, 2) if model in c.credit else None
                for c in result.channels
            ]
            for model in result.models
        },
        rtl=words.rtl,
    )


def value_bars(report: MultichannelReport, words: Words) -> dict[str, Any]:
    """Orders and revenue per customer by how many channels they used."""
    _ = words.gettext
    groups = report.by_channels
    return charts.bar(
        [g.label for g in groups],
        {
            _("Revenue per customer"): [
                round(g.revenue_per_customer, 2) if g.revenue_per_customer is not None else None
                for g in groups
            ],
        },
        rtl=words.rtl,
    )


def value_orders(report: MultichannelReport, words: Words) -> dict[str, Any]:
    """Orders per customer by how many channels they used."""
    _ = words.gettext
    groups = report.by_channels
    return charts.bar(
        [g.label for g in groups],
        {
            _("Orders per customer"): [
                round(g.orders_per_customer, 2) if g.orders_per_customer is not None else None
                for g in groups
            ],
        },
        rtl=words.rtl,
    )
