"""The retailer's marketing calendar: e-mail newsletters and SMS blasts per market."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from random import Random

from omnicx.demo.catalog import CAMPAIGN_SUBJECTS, SMS_TEXTS
from omnicx.demo.markets import MARKETS, Market
from omnicx.demo.timeline import DAY, HOUR, Window


@dataclass(frozen=True, slots=True)
class Campaign:
    """One send of a campaign to a market's subscribers."""

    id: str
    channel: str
    """email or sms."""
    country: str
    sent_at: float
    name: str
    """The subject line (e-mail) or text (SMS), in the market's language."""
    slug: str
    """What links carry as utm_campaign."""


def language(market: Market) -> str:
    """The market's language code (tr, nl, lv, fa, en)."""
    return market.language.split("-")[0]


def calendar(seed: int, window: Window) -> dict[str, list[Campaign]]:
    """Every campaign of the window by country, oldest first: e-mail fortnightly, SMS monthly."""
    plan: dict[str, list[Campaign]] = {}
    for market in MARKETS:
        rng = Random(f"omnicx-demo/{seed}/campaigns/{market.country}")
        lang = language(market)
        subjects = CAMPAIGN_SUBJECTS[lang]
        campaigns: list[Campaign] = []
        for channel, every, first in (("email", 14 * DAY, 2 * DAY), ("sms", 30 * DAY, 9 * DAY)):
            instant = window.start + first + rng.uniform(0, 3) * DAY
            number = 0
            while instant < window.end - DAY:
                day = instant - instant % DAY
                sent_at = day + (10 - market.utc_offset_hours) * HOUR + rng.uniform(0, 1) * HOUR
                month = datetime.fromtimestamp(sent_at, UTC).strftime("%Y-%m")
                number += 1
                topic = subjects[number % len(subjects)]
                prefix = "em" if channel == "email" else "sms"
                campaign_id = f"{prefix}-{market.country.lower()}-{month}-{number:02d}"
                name = topic if channel == "email" else SMS_TEXTS[lang].format(link="krv.link")
                campaigns.append(
                    Campaign(campaign_id, channel, market.country, sent_at, name, campaign_id)
                )
                instant += every + rng.uniform(-2, 2) * DAY
        campaigns.sort(key=lambda c: c.sent_at)
        plan[market.country] = campaigns
    return plan
