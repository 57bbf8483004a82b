"""Attribution's heuristic models and journeys: a worked example with hand-computed credits,
window edges, and the reference implementation on random lakes (merges, shuffled arrival in
several batches, date ranges, filters)."""

from __future__ import annotations

import random
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from omnicx.analytics.attribution import MODELS, AttributionError, AttributionResult, attribution
from omnicx.analytics.lake import open_lake
from omnicx.analytics.scope import Filter, Scope
from tests.analytics import reference_attribution as reference
from tests.analytics.lakes import Row, build_lake, reattribute
from tests.analytics.reference_paths import attribute

T0 = datetime(2026, 3, 1)
DAY = timedelta(days=1)


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def shop() -> list[Row]:
    """ann: web, email, order (100) in store; 33 days later app, 30 days later web, then an
    order (20); bob: app, web, web, an order on the web (50); cat: an order in store with no
    touchpoint and no revenue; dan: an e-mail opened, nothing bought."""
    return [
        Row("ann", "Page Viewed", at(0), channel="web"),
        Row("ann", "Email Delivered", at(1), channel="email", active=False),
        Row("ann", "Email Opened", at(24), channel="email"),
        Row("ann", "Order Completed", at(48), channel="store", revenue=100.0),
        Row("ann", "App Opened", at(960 - 33 * 24), channel="app"),  # beyond the lookback
        Row("ann", "Page Viewed", at(960 - 30 * 24), channel="web"),  # exactly at its edge
        Row("ann", "Order Completed", at(960), channel="store", revenue=20.0),
        Row("bob", "App Opened", at(0), channel="app"),
        Row("bob", "Page Viewed", at(1), channel="web"),
        Row("bob", "Page Viewed", at(2), channel="web"),
        Row("bob", "Order Completed", at(3), channel="web", revenue=50.0),
        Row("cat", "Order Completed", at(5), channel="store"),
        Row("dan", "Email Opened", at(7), channel="email"),
    ]


def credit(result: AttributionResult, model: str) -> dict[str, tuple[float, float]]:
    return {
        c.channel: (round(c.credit[model].conversions, 9), round(c.credit[model].revenue, 9))
        for c in result.channels
        if c.credit[model].conversions
    }


def test_each_heuristic_model_on_a_worked_example(tmp_path: Path) -> None:
    # Journeys: ann [web, email] (100), ann [web] (20; the app visit is 33 days old),
    # bob [app, web, web] (50), cat [store] (0: an order with no touchpoint is credited to
    # its own channel); dan's [email] did not convert.
    result = attribution(build_lake(tmp_path, shop()), half_life=DAY)
    assert (result.conversions, result.revenue, result.journeys_without_conversion) == (4, 170.0, 1)
    assert credit(result, "first_touch") == {
        "web": (2.0, 120.0), "app": (1.0, 50.0), "store": (1.0, 0.0),
    }  # fmt: skip
    assert credit(result, "last_touch") == {
        "web": (2.0, 70.0), "email": (1.0, 100.0), "store": (1.0, 0.0),
    }  # fmt: skip
    # linear: web 1/2 + 2/3 + 1, email 1/2, app 1/3; revenue 50 + 100/3 + 20, 50, 50/3.
    assert credit(result, "linear") == {
        "web": (round(13 / 6, 9), round(50 + 100 / 3 + 20, 9)),
        "email": (0.5, 50.0),
        "app": (round(1 / 3, 9), round(50 / 3, 9)),
        "store": (1.0, 0.0),
    }
    # position-based: two touches 50/50; bob's three: app 40%, web 20% + 40%.
    assert credit(result, "position_based") == {
        "web": (2.1, 50 + 30 + 20.0), "email": (0.5, 50.0), "app": (0.4, 20.0), "store": (1.0, 0.0),
    }  # fmt: skip
    # time decay, half-life one day: ann's web 48 h and e-mail 24 h before: 1/4 : 1/2;
    # bob's touches 3, 2 and 1 hours before: 2^(-3/24) : 2^(-2/24) : 2^(-1/24).
    bob = [2 ** (-h / 24) for h in (3, 2, 1)]
    web = 1 / 3 + (bob[1] + bob[2]) / sum(bob) + 1
    assert credit(result, "time_decay") == {
        "web": (round(web, 9), round(100 / 3 + 50 * (bob[1] + bob[2]) / sum(bob) + 20, 9)),
        "email": (round(2 / 3, 9), round(200 / 3, 9)),
        "app": (round(bob[0] / sum(bob), 9), round(50 * bob[0] / sum(bob), 9)),
        "store": (1.0, 0.0),
    }
    for model in MODELS:
        assert sum(c.credit[model].conversions for c in result.channels) == pytest.approx(4)
        assert sum(c.credit[model].revenue for c in result.channels) == pytest.approx(170)


def test_markov_credit_follows_the_removal_effects(tmp_path: Path) -> None:
    result = attribution(build_lake(tmp_path, shop()), models=["markov", "linear"])
    effects = {c.channel: c.removal_effect for c in result.channels}
    expected_probability, expected = reference.exact_removal_effects(
        {
            ("web", "email"): (1, 0),
            ("web",): (1, 0),
            ("app", "web", "web"): (1, 0),
            ("store",): (1, 0),
            ("email",): (0, 1),
        }
    )
    assert result.conversion_probability == pytest.approx(expected_probability)
    assert expected_probability == pytest.approx(4 / 5)  # a first-order chain keeps the rate
    assert effects == pytest.approx(expected)
    total = sum(expected.values())
    for channel in result.channels:
        assert channel.credit["markov"].conversions == pytest.approx(
            4 * expected[channel.channel] / total
        )
        assert channel.credit["markov"].revenue == pytest.approx(
            170 * expected[channel.channel] / total
        )
    assert result.models == ("markov", "linear")
    assert result.channels[0].channel == "web"  # best first under markov


def test_the_lookback_and_the_previous_conversion_bound_a_journey(tmp_path: Path) -> None:
    rows = [
        Row("ann", "Page Viewed", at(0), channel="web"),
        Row("ann", "Email Opened", at(10), channel="email"),
        Row("ann", "Order Completed", at(10), channel="store", revenue=5.0),  # same instant
        Row("ann", "App Opened", at(11), channel="app"),
        Row("ann", "Order Completed", at(12), channel="store", revenue=7.0),
        Row("ann", "Order Completed", at(12), channel="web", revenue=1.0),  # a second one
    ]
    result = attribution(build_lake(tmp_path, rows), lookback=timedelta(hours=10))
    # First order: web (10 h before, the edge) and the e-mail at its instant; second: the
    # app only; third, at the same instant as the second: no touchpoint, its own channel.
    assert credit(result, "linear") == {
        "web": (1.5, 3.5), "email": (0.5, 2.5), "app": (1.0, 7.0),
    }  # fmt: skip
    shorter = attribution(open_lake(tmp_path), lookback=timedelta(hours=10) - timedelta(seconds=1))
    assert credit(shorter, "first_touch") == {
        "email": (1.0, 5.0),
        "app": (1.0, 7.0),
        "web": (1.0, 1.0),
    }


def test_time_decay_with_a_tiny_half_life_stays_exact(tmp_path: Path) -> None:
    # 2^(-2000) underflows a double: weights count from the latest touchpoint instead.
    rows = [
        Row("ann", "Page Viewed", at(-2001 / 60), channel="web"),
        Row("ann", "Email Opened", at(-2000 / 60), channel="email"),
        Row("ann", "Order Completed", at(0), channel="store", revenue=3.0),
    ]
    result = attribution(
        build_lake(tmp_path, rows), half_life=timedelta(minutes=1), models=["time_decay"]
    )
    assert credit(result, "time_decay") == {
        "email": (round(2 / 3, 9), 2.0),
        "web": (round(1 / 3, 9), 1.0),
    }


def test_a_merge_joins_touchpoints_to_the_conversion(tmp_path: Path) -> None:
    rows = [
        Row("ann", "Order Completed", at(2), channel="store", revenue=9.0, anchor=1),
        Row("ann-phone", "App Opened", at(1), channel="app", anchor=2),
    ]
    before = attribution(build_lake(tmp_path, rows), models=["last_touch"])
    assert credit(before, "last_touch") == {"store": (1.0, 9.0)}
    assert before.journeys_without_conversion == 1
    after = attribution(reattribute(tmp_path, {2: "ann"}), models=["last_touch"])
    assert credit(after, "last_touch") == {"app": (1.0, 9.0)}
    assert after.journeys_without_conversion == 0


def test_the_date_range_picks_conversions_and_the_lookback_reaches_before_it(
    tmp_path: Path,
) -> None:
    lake = build_lake(tmp_path, shop())
    # Only ann's second order is on April 10; its web touch is from March 11.
    result = attribution(lake, scope=Scope(start=date(2026, 4, 10), end=date(2026, 4, 10)))
    assert (result.conversions, result.revenue) == (1, 20.0)
    assert credit(result, "first_touch") == {"web": (1.0, 20.0)}
    assert result.journeys_without_conversion == 0  # nobody touched anything in the range


def test_filters_apply_to_conversions_and_touchpoints(tmp_path: Path) -> None:
    result = attribution(
        build_lake(tmp_path, shop()), scope=Scope(filters=(Filter("channel", "!=", "web"),))
    )
    # bob's web order is gone and so are the web visits: ann's second order has no touch.
    assert result.conversions == 3
    assert credit(result, "first_touch") == {"email": (1.0, 100.0), "store": (2.0, 20.0)}


def test_the_json_shape(tmp_path: Path) -> None:
    document = attribution(build_lake(tmp_path, shop()), models=["linear", "markov"]).to_dict()
    assert set(document) == {
        "conversion", "models", "lookback_days", "half_life_days", "markov_order", "conversions",
        "revenue", "journeys_without_conversion", "conversion_probability", "channels",
    }  # fmt: skip
    assert (document["lookback_days"], document["half_life_days"]) == (30.0, 7.0)
    web = next(c for c in document["channels"] if c["channel"] == "web")
    assert set(web) == {"channel", "credit", "removal_effect"}
    assert set(web["credit"]) == {"linear", "markov"}
    assert web["credit"]["linear"] == {
        "conversions": pytest.approx(13 / 6),
        "revenue": pytest.approx(310 / 3),
    }


def test_nothing_to_attribute(tmp_path: Path) -> None:
    result = attribution(build_lake(tmp_path, []))
    assert (result.conversions, result.channels, result.conversion_probability) == (0, (), 0.0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"models": ["linear", "u_shaped"]}, "unknown attribution model 'u_shaped'"),
        ({"models": []}, "at least one model"),
        ({"lookback": timedelta(0)}, "lookback window must be positive"),
        ({"lookback": timedelta(days=40_000)}, "lookback window must be at most 36600 days"),
        ({"half_life": timedelta(hours=-1)}, "half-life must be positive"),
        ({"markov_order": 5}, "order must be 1 to 4"),
        ({"conversion": " "}, "name the conversion event"),
    ],
)
def test_bad_parameters_are_named(
    tmp_path: Path, arguments: dict[str, object], message: str
) -> None:
    with pytest.raises(AttributionError, match=message):
        attribution(build_lake(tmp_path, shop()), **arguments)  # type: ignore[arg-type]


CHANNELS = ["web", "app", "email", "store"]
EVENTS = ["Page Viewed", "Email Delivered", "Order Completed", "Order Completed"]


@st.composite
def lakes(draw: st.DrawFn) -> tuple[list[Row], dict[int, str | None], int]:
    """Rows of up to 4 people over six days, two anchors each, orders with or without
    revenue; anchors moved to another person; a batch count."""
    rows = []
    for _ in range(draw(st.integers(0, 30))):
        person = draw(st.integers(0, 3))
        event = draw(st.sampled_from(EVENTS))
        rows.append(
            Row(
                f"p{person}",
                event,
                at(draw(st.integers(0, 24 * 6))),  # whole hours: ties and window edges happen
                channel=draw(st.sampled_from(CHANNELS)),
                active=event != "Email Delivered",
                revenue=draw(st.sampled_from([None, 10.0, 25.5]))
                if event == "Order Completed"
                else None,
                anchor=100 + 10 * person + draw(st.integers(0, 1)),
            )
        )
    owners = draw(
        st.dictionaries(
            st.sampled_from([100 + 10 * p + a for p in range(4) for a in range(2)]),
            st.sampled_from(["p0", "p1", "p2", "p3"]),
            max_size=2,
        )
    )
    return rows, owners, draw(st.integers(1, 3))


@settings(max_examples=60, deadline=None)
@given(
    lakes(),
    st.sampled_from([timedelta(hours=12), DAY, 2 * DAY, 5 * DAY]),
    st.sampled_from([timedelta(hours=6), DAY, 3 * DAY]),
    st.sampled_from([None, date(2026, 3, 2), date(2026, 3, 4)]),
    st.sampled_from([None, date(2026, 3, 5)]),
    st.booleans(),
    st.integers(1, 2),
    st.randoms(use_true_random=False),
)
def test_attribution_matches_the_reference(
    lake: tuple[list[Row], dict[int, str | None], int],
    lookback: timedelta,
    half_life: timedelta,
    start: date | None,
    end: date | None,
    without_app: bool,
    order: int,
    shuffle: random.Random,
) -> None:
    rows, owners, batches = lake
    rows = list(rows)
    shuffle.shuffle(rows)  # arrival order is not time order
    filters = (Filter("channel", "!=", "app"),) if without_app else ()
    with tempfile.TemporaryDirectory() as directory:
        build_lake(Path(directory), rows, batches=batches)
        if owners:
            reattribute(Path(directory), owners)
        result = attribution(
            open_lake(Path(directory)),
            lookback=lookback,
            half_life=half_life,
            markov_order=order,
            scope=Scope(start=start, end=end, filters=filters),
        )
    journeys = reference.journeys(
        attribute(rows, owners),
        lookback=lookback,
        start=start,
        end=end,
        keep=lambda e: not (without_app and e.row.channel == "app"),
    )
    converted = [j for j in journeys if j.converted_at is not None]
    assert result.conversions == len(converted)
    assert result.revenue == pytest.approx(sum(j.revenue for j in converted))
    assert result.journeys_without_conversion == len(journeys) - len(converted)
    for model in ("first_touch", "last_touch", "linear", "time_decay", "position_based"):
        expected = reference.heuristic_credits(journeys, model, half_life)
        got = {c.channel: c.credit[model] for c in result.channels}
        for channel in set(expected) | set(got):
            conversions, revenue = expected.get(channel, (0.0, 0.0))
            assert got[channel].conversions == pytest.approx(conversions, abs=1e-9), (
                model,
                channel,
            )
            assert got[channel].revenue == pytest.approx(revenue, abs=1e-9), (model, channel)
    probability, effects = reference.exact_removal_effects(reference.aggregate(journeys), order)
    assert result.conversion_probability == pytest.approx(probability, abs=1e-12)
    assert {c.channel: c.removal_effect for c in result.channels} == pytest.approx(
        effects, abs=1e-9
    )
