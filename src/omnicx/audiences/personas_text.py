"""The words of personas: a short name and a one-line description from a persona's figures
(docs/personas.md#reading-a-persona).

    Store-first regulars: 18% of customers; buy 4.2 times as often as average, mostly in
    store (91% of them), last seen 12 days ago on median

Every word is in PHRASES, so a translation replaces that dictionary and nothing else; the
templates use `str.format` fields, so a language can put the words in its own order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from omnicx.audiences.personas import Distinction

PHRASES: dict[str, str] = {
    # The description: name, share of customers, then the facts that set the persona apart.
    "description": "{name}: {share} of customers; {facts}",
    "fact_separator": ", ",
    "percent": "{percent}%",
    "percent.small": "under 1%",
    "decimal_separator": ".",
    # Names: a qualifier (the channel the persona favours, if any) and a noun (its behaviour).
    "name": "{qualifier} {noun}",
    "name.duplicate": "{name} ({n})",
    "qualifier.channel": "{channel}-first",
    "qualifier.omnichannel": "Omnichannel",
    "noun.regulars": "regulars",
    "noun.big_spenders": "big spenders",
    "noun.occasional_buyers": "occasional buyers",
    "noun.lapsed_customers": "lapsed customers",
    "noun.browsers": "browsers",
    "noun.visitors": "casual visitors",
    "noun.lapsed_visitors": "lapsed visitors",
    # Channels: as part of a name, and where people are active on them.
    "channel.web": "Web",
    "channel.ios": "iOS",
    "channel.android": "Android",
    "channel.store_pos": "Store",
    "channel.email": "Email",
    "channel.sms": "SMS",
    "channel.social": "Social",
    "channel.chat": "Chat",
    "channel.phone": "Phone",
    "channel.support": "Support",
    "channel.crm": "Sales",
    "channel.other": "Other-channel",
    "where.web": "on the web",
    "where.ios": "in the iOS app",
    "where.android": "in the Android app",
    "where.store_pos": "in store",
    "where.email": "by email",
    "where.sms": "by SMS",
    "where.social": "on social media",
    "where.chat": "in chat",
    "where.phone": "by phone",
    "where.support": "with support",
    "where.crm": "with sales (CRM)",
    "where.other": "on other channels",
    "where.unknown": "on {channel}",
    # Facts; {ratio} is "4.2" (times the average), {percent} a whole number.
    "orders.more": "buy {ratio} times as often as average",
    "orders.less": "buy {percent}% less often than average",
    "orders.none": "have never ordered",
    "orders.mostly_none": "most have never ordered",
    "lifetime_value.more": "spend {ratio} times as much as average",
    "lifetime_value.less": "spend {percent}% less than average",
    "lifetime_value.none": "have spent nothing",
    "lifetime_value.mostly_none": "most have spent nothing",
    "events.more": "are {ratio} times as active as average",
    "events.less": "are {percent}% less active than average",
    "events.none": "have no activity",
    "events.mostly_none": "most have no activity",
    "events_last_30_days.more": "are {ratio} times as active as average in the last 30 days",
    "events_last_30_days.less": "are {percent}% less active than average in the last 30 days",
    "events_last_30_days.none": "inactive in the last 30 days",
    "events_last_30_days.mostly_none": "most inactive in the last 30 days",
    "channels": "use {value} channels on average, against {population} overall",
    "channel.mostly": "mostly {where} ({percent}% of them)",
    "channel.more": "{percent}% {where}, against {population}% overall",
    "channel.less": "rarely {where} ({percent}% of them)",
    "channel.never": "never {where}",
    "category.more": "{percent}% of their purchases in {category}, against {population}% overall",
    "category.less": "few purchases in {category} ({percent}%, against {population}% overall)",
    "recency": "last seen {days} days ago on median",
    "recency.one": "last seen 1 day ago on median",
    "recency.today": "last seen today on median",
}
"""Every word of persona names and descriptions."""

DISTINCT: Final = 0.5
"""Standardised difference from which a feature sets a persona apart (personas.NAMED_DIFFERENCE)."""
MAX_FACTS: Final = 3
"""Facts in a description besides recency, most distinctive first."""
MORE: Final = 1.15
LESS: Final = 0.87
"""Ratios to the average between these are "about average" and not worth a fact."""
_AMOUNTS: Final = ("orders", "lifetime_value", "events", "events_last_30_days")


def persona_name(distinctions: Sequence[Distinction]) -> str:
    """A short name: the channel the persona favours (if any) and what it does."""
    by = {d.feature: d for d in distinctions}
    noun = PHRASES[f"noun.{_noun(by)}"]
    qualifier = _qualifier(by)
    if not qualifier:
        return noun[:1].upper() + noun[1:]
    return PHRASES["name"].format(qualifier=qualifier, noun=noun)


def unique_name(name: str, taken: Sequence[str]) -> str:
    """`name`, numbered when an earlier persona already has it."""
    found, n = name, 1
    while found in taken:
        n += 1
        found = PHRASES["name.duplicate"].format(name=name, n=n)
    return found


def describe(name: str, share: float, distinctions: Sequence[Distinction]) -> str:
    """The description: name, share of customers, the most distinctive facts, recency."""
    by = {d.feature: d for d in distinctions}
    facts: list[str] = []
    topics: set[str] = set()
    for d in distinctions:
        if len(facts) == MAX_FACTS:
            break
        if abs(d.difference) < DISTINCT or d.feature == "recency_days":
            continue
        found = _fact(d, by)
        if found and found[0] not in topics:
            topics.add(found[0])
            facts.append(found[1])
    recency = by.get("recency_days")
    if recency is not None:
        facts.append(_recency(recency.median))
    return PHRASES["description"].format(
        name=name, share=_share(share), facts=PHRASES["fact_separator"].join(facts)
    )


def channel_label(channel: str) -> str:
    """The channel as part of a name ("Store" for store_pos)."""
    return PHRASES.get(f"channel.{channel}", channel)


def _difference(by: Mapping[str, Distinction], feature: str) -> float:
    found = by.get(feature)
    return found.difference if found else 0.0


def _buyers(by: Mapping[str, Distinction]) -> bool:
    """Whether most of the persona has ordered."""
    orders = by.get("orders")
    return orders is not None and orders.median > 0


def _noun(by: Mapping[str, Distinction]) -> str:
    buyers = _buyers(by)
    lapsed = (
        _difference(by, "recency_days") >= DISTINCT and _difference(by, "events_last_30_days") <= 0
    )
    if not buyers:
        if lapsed:
            return "lapsed_visitors"
        active = max(_difference(by, "events"), _difference(by, "events_last_30_days"))
        return "browsers" if active >= DISTINCT else "visitors"
    if lapsed:
        return "lapsed_customers"
    value, frequency = _difference(by, "lifetime_value"), _difference(by, "orders")
    if value >= DISTINCT and value >= frequency + DISTINCT:
        return "big_spenders"
    if frequency >= DISTINCT:
        return "regulars"
    return "occasional_buyers"


def _qualifier(by: Mapping[str, Distinction]) -> str:
    favoured = [
        d
        for d in by.values()
        if d.feature.startswith("channel_") and d.value >= 0.5 and d.difference >= DISTINCT
    ]
    if favoured:
        best = max(favoured, key=lambda d: (d.difference, d.feature))
        return PHRASES["qualifier.channel"].format(channel=channel_label(best.feature[8:]))
    if _difference(by, "channels") >= DISTINCT:
        return PHRASES["qualifier.omnichannel"]
    return ""


def _fact(d: Distinction, by: Mapping[str, Distinction]) -> tuple[str, str] | None:
    """The topic and phrase of one distinctive feature, or None when it says nothing worth
    saying. A topic is said once: no orders and no spending are both "no_orders", said as
    no orders when that is true."""
    if d.feature in _AMOUNTS:
        ratio = d.ratio
        if ratio is None:
            return None
        if d.value == 0 or (d.median == 0 and ratio < LESS):
            said, topic = d, d.feature
            if d.feature in ("orders", "lifetime_value"):
                topic, orders = "no_orders", by.get("orders")
                if orders is not None and orders.median == 0:
                    said = orders
            key = f"{said.feature}.none" if said.value == 0 else f"{said.feature}.mostly_none"
            return topic, PHRASES[key]
        if ratio >= MORE:
            return d.feature, PHRASES[f"{d.feature}.more"].format(ratio=_number(ratio))
        if ratio <= LESS:
            percent = round((1 - ratio) * 100)
            return d.feature, PHRASES[f"{d.feature}.less"].format(percent=percent)
        return None
    if d.feature == "channels":
        text = PHRASES["channels"].format(value=_number(d.value), population=_number(d.population))
        return d.feature, text
    percent, population = round(d.value * 100), round(d.population * 100)
    if d.feature.startswith("channel_"):
        where = _where(d.feature[8:])
        if d.difference < 0:
            key = "channel.never" if d.value == 0 else "channel.less"
            return d.feature, PHRASES[key].format(where=where, percent=percent)
        key = "channel.mostly" if d.value >= 0.5 else "channel.more"
        return d.feature, PHRASES[key].format(where=where, percent=percent, population=population)
    if d.feature.startswith("category_") and _buyers(by):
        category = d.feature[9:].replace("_", " ")
        key = "category.more" if d.difference > 0 else "category.less"
        text = PHRASES[key].format(category=category, percent=percent, population=population)
        return d.feature, text
    return None


def _where(channel: str) -> str:
    found = PHRASES.get(f"where.{channel}")
    return found if found is not None else PHRASES["where.unknown"].format(channel=channel)


def _recency(days: float) -> str:
    whole = round(days)
    if whole == 0:
        return PHRASES["recency.today"]
    if whole == 1:
        return PHRASES["recency.one"]
    return PHRASES["recency"].format(days=whole)


def _share(share: float) -> str:
    percent = round(share * 100)
    if percent == 0:
        return PHRASES["percent.small"]
    return PHRASES["percent"].format(percent=percent)


def _number(value: float) -> str:
    return f"{value:.1f}".replace(".", PHRASES["decimal_separator"])
