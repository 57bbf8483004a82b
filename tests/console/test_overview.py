"""The overview (server side, SQLite and PostgreSQL): who may open it, the page loading its
blocks after itself, and each block's figures against a lake built for the test."""

from __future__ import annotations

import re
import threading
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.console import overview_data
from omnicx.store.memo import Memo
from tests.analytics.lakes import Row, build_lake
from tests.console.support import sign_in
from tests.profiles.helpers import Shop, identify, track

ALLOWED = ("admin", "marketer", "analyst")
BLOCKS = (
    "/console/overview/totals",
    "/console/overview/customers",
    "/console/overview/activity?days=30",
    "/console/overview/churn",
)
TODAY = datetime.now(UTC).date()


def on(days_ago: int, hour: int = 12) -> datetime:
    """That day (before today, UTC) at `hour`."""
    return datetime.combine(TODAY - timedelta(days=days_ago), time(hour))


def figures(html: str) -> dict[str, str]:
    """The page's key figures: label -> value as shown."""
    pairs = re.findall(
        r'<div class="figure-value">([^<]*)</div><div class="figure-label">([^<]*)</div>', html
    )
    return {label: value for value, label in pairs}


@pytest.fixture
def lake(lake_dir: Path) -> Path:
    """Five customers (a to e) over the last 100 days:

    - a: web view 1 day ago, store order 2 days ago: active over 7 and 30 days, two
      channels, ordered;
    - b: web view 10 days ago: active over 30 days;
    - c: e-mail opened 3 days ago: active over 7 days;
    - d: web view 100 days ago, nothing since: went quiet (its last touch: web, Product
      Viewed);
    - e: web order 20 days ago: active over 30 days, ordered.
    An e-mail delivered to b yesterday is not b's own action (inactive).
    """
    build_lake(
        lake_dir,
        sorted(
            [
                Row("d", "Product Viewed", on(100)),
                Row("e", "Order Completed", on(20), revenue=30.0),
                Row("b", "Product Viewed", on(10)),
                Row("c", "Email Opened", on(3), channel="email"),
                Row("a", "Order Completed", on(2), channel="store_pos", revenue=80.0),
                Row("a", "Product Viewed", on(1)),
                Row("b", "Email Delivered", on(1), channel="email", active=False),
            ],
            key=lambda row: row.ts,
        ),
    )
    return lake_dir


@pytest.mark.parametrize("role", ["admin", "marketer", "analyst", "support"])
def test_the_overview_opens_for_the_roles_with_overview_read(
    console: TestClient, role: str
) -> None:
    sign_in(console, role)
    for path in ("/console/overview", *BLOCKS):
        answer = console.get(path)
        if role in ALLOWED:
            assert answer.status_code == 200, path
        else:
            assert answer.status_code == 403, path
            assert "overview.read" in answer.text


def test_the_page_loads_its_blocks_after_itself_every_30_seconds(console: TestClient) -> None:
    sign_in(console, "analyst")
    page = console.get("/console/overview")
    assert page.status_code == 200
    for block in BLOCKS:
        loader = re.search(rf'hx-get="{re.escape(block)}" hx-trigger="([^"]+)"', page.text)
        assert loader, block
        assert loader.group(1) == "load, every 30s"
    assert page.text.count("Loading…") == len(BLOCKS)
    assert 'aria-current="page">Overview<' in page.text
    # The page itself computed nothing: every figure comes with its block.
    assert getattr(console.app.state, "console_overview_memo", Memo())._entries == {}  # type: ignore[attr-defined]


def test_the_chart_period_is_30_or_90_days(console: TestClient) -> None:
    sign_in(console, "marketer")
    quarter = console.get("/console/overview", params={"days": "90"})
    assert 'hx-get="/console/overview/activity?days=90"' in quarter.text
    assert re.search(r'href="/console/overview\?days=90" aria-current="page"', quarter.text)
    for path in ("/console/overview", "/console/overview/activity"):
        refused = console.get(path, params={"days": "7"})
        assert refused.status_code == 422
        assert "days" in refused.text and "is not one of the choices: 30, 90" in refused.text
        assert "query.days" not in refused.text


def test_totals_count_profiles_events_and_sources(console: TestClient, engine: Engine) -> None:
    shop = Shop(engine)
    shop.owner("pos", "store_pos")
    shop.send("web", identify("u1", traits={"email": "u1@example.com"}), track("Viewed", "u1"))
    shop.send("pos", identify("u2"), track("Order Completed", "u2"), track("Viewed", "u2"))
    sign_in(console, "marketer")
    block = console.get("/console/overview/totals").text
    assert figures(block) == {"Customer profiles": "2", "Events received": "5",
                              "Sources sending": "2"}  # fmt: skip
    assert "counted again every 5 minutes" in block
    # The profile count is kept a while; events are read on every request.
    shop.send("web", identify("u3"))
    again = figures(console.get("/console/overview/totals").text)
    assert again["Customer profiles"] == "2" and again["Events received"] == "6"


def test_active_customers_multichannel_and_conversion(console: TestClient, lake: Path) -> None:
    sign_in(console, "analyst")
    block = console.get("/console/overview/customers").text
    assert figures(block) == {
        "Active customers, last 7 days": "2",  # a, c
        "Active customers, last 30 days": "4",  # a, b, c, e
        "Multichannel customers": "25.0%",  # a of 4
        "Conversion": "50.0%",  # a and e of 4
    }
    assert re.search(r"Computed at [^;]+; computed again at most every 30 seconds", block)


def chart_option(html: str) -> dict[str, Any]:
    found = re.search(r'<script type="application/json" class="chart-option">(.*?)</script>', html)
    assert found, "no chart"
    option: dict[str, Any] = orjson.loads(found.group(1))
    return option


@pytest.mark.parametrize("days", [30, 90])
def test_events_per_day_by_channel(console: TestClient, lake: Path, days: int) -> None:
    sign_in(console, "analyst")
    block = console.get("/console/overview/activity", params={"days": days}).text
    option = chart_option(block)
    assert len(option["xAxis"]["data"]) == days
    series = {s["name"]: s["data"] for s in option["series"]}
    assert all(s["stack"] == "total" and s["type"] == "bar" for s in option["series"])
    web = {30: 3, 90: 3}[days]  # d's view 100 days ago is outside both
    assert {name: sum(values) for name, values in series.items()} == {
        "Web": web,
        "E-mail": 2,
        "Store": 1,
    }
    assert series["Store"][-3] == 1  # 2 days ago; the last bar is today
    assert f"{web + 3} events in the last {days} days." in block
    # The same numbers as a table, for those who would rather read.
    assert "Show the numbers" in block
    assert block.count('<tr><th scope="row">') == days


def test_the_chart_reads_right_to_left_in_persian(console: TestClient, lake: Path) -> None:
    sign_in(console, "marketer")
    block = console.get(
        "/console/overview/activity", headers={"accept-language": "fa"}, params={"days": 30}
    ).text
    option = chart_option(block)
    assert option["xAxis"]["inverse"] is True and option["yAxis"]["position"] == "right"


def test_an_empty_lake_says_so(console: TestClient) -> None:
    sign_in(console, "marketer")
    assert "No events in the last 30 days." in console.get("/console/overview/activity").text
    assert "No customer has gone quiet." in console.get("/console/overview/churn").text
    assert figures(console.get("/console/overview/customers").text)["Conversion"] == "–"


def test_top_churn_points(console: TestClient, lake: Path) -> None:
    sign_in(console, "admin")
    block = console.get("/console/overview/churn").text
    assert "1 of 5 customers went quiet (20.0%)" in block
    rows = re.findall(
        r"<tr>\s*<td>(.*?)</td>\s*<td>(.*?)</td>\s*<td class=\"number\">(\d+)<", block, re.S
    )
    assert len(rows) == 1
    channel, event, churned = rows[0]
    assert "Web" in channel and event == "Product Viewed" and churned == "1"


def test_a_failing_figure_says_so_instead_of_loading_forever(
    console: TestClient, lake: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the lake is unreadable")

    monkeypatch.setattr(overview_data, "churn_points", broken)
    sign_in(console, "admin")
    answer = console.get("/console/overview/churn")
    assert answer.status_code == 200  # htmx swaps it in
    assert "could not be computed just now" in answer.text


def test_lake_figures_are_kept_and_computed_again_when_the_lake_changes(
    console: TestClient, lake: Path
) -> None:
    now = [1000.0]
    memo = Memo(clock=lambda: now[0])
    console.app.state.console_overview_memo = memo  # type: ignore[attr-defined]
    sign_in(console, "analyst")
    first = console.get("/console/overview/customers").text
    build_lake(lake, [Row("f", "Product Viewed", on(1), anchor=99)])  # a sixth customer
    now[0] += 10  # younger than 30 s: kept, new events or not
    assert console.get("/console/overview/customers").text == first
    memo.settle()
    assert console.get("/console/overview/customers").text == first
    now[0] += 25  # older, and the lake changed: answered at once, computed again meanwhile
    assert console.get("/console/overview/customers").text == first
    memo.settle()
    fresh = console.get("/console/overview/customers").text
    assert figures(fresh)["Active customers, last 7 days"] == "3"
    assert figures(first)["Active customers, last 7 days"] == "2"
    now[0] += 3600  # the lake did not change since: the same answer is kept
    assert console.get("/console/overview/customers").text == fresh
    memo.settle()
    assert console.get("/console/overview/customers").text == fresh


def test_the_memo_computes_once_for_readers_arriving_together() -> None:
    memo = Memo()
    calls: list[int] = []
    started = threading.Event()

    def slow() -> int:
        calls.append(1)
        started.set()
        clock.sleep(0.2)
        return 42

    answers: list[int] = []
    threads = [
        threading.Thread(target=lambda: answers.append(memo.get("k", slow, seconds=30).value))
        for _ in range(5)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [42] * 5 and calls == [1]
    # Stale: the kept answer at once, the next one computed in the background.
    stale = memo.get("k", lambda: 43, seconds=0, version="v1")
    assert stale.value == 42
    memo.settle()
    assert memo.get("k", lambda: 44, seconds=0, version="v1").value == 43
    memo.settle()
    assert memo.get("k", lambda: 45, seconds=0, version="v1").value == 43  # same version
    assert memo.get("k", lambda: 46, seconds=0, version="v2").value == 43
    memo.settle()
    assert memo.get("k", lambda: 47, seconds=3600, version="v2").value == 46


def test_a_failing_background_computation_keeps_the_last_answer() -> None:
    memo = Memo()
    memo.get("k", lambda: 1, seconds=0)

    def broken() -> int:
        raise RuntimeError("no lake")

    assert memo.get("k", broken, seconds=0).value == 1
    memo.settle()
    assert memo.get("k", lambda: 2, seconds=0).value == 1
    memo.settle()
    assert memo.get("k", lambda: 3, seconds=3600).value == 2


def test_lake_version_follows_the_manifest_and_the_day(lake: Path) -> None:
    from omnicx.analytics.lake import open_lake

    before = overview_data.lake_version(open_lake(lake), date(2026, 1, 1))
    assert before == overview_data.lake_version(open_lake(lake), date(2026, 1, 1))
    assert before != overview_data.lake_version(open_lake(lake), date(2026, 1, 2))
    build_lake(lake, [Row("g", "Product Viewed", on(1), anchor=98)])
    assert before != overview_data.lake_version(open_lake(lake), date(2026, 1, 1))
