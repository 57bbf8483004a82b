"""The journeys section in a real browser over a served demo retailer: an analyst builds a
three-step funnel and reads the same numbers the analytics API answers, clicks a drop-off and
sees who dropped (masked), and every tab draws its report."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from omnicx.analytics.consumer import CONSUMER_NAME, LakeWriter
from omnicx.collect.processing import lag
from omnicx.store.engine import make_engine
from tests.console.conftest import DemoConsole
from tests.console.support import browser_sign_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console")]

STEPS = ["Product Viewed", "Product Added", "Order Completed"]
TABS = ("funnel", "paths", "retention", "stages", "channels", "attribution", "value")
REPORT_TIMEOUT = 120_000


def _api(demo: DemoConsole) -> httpx.Client:
    return httpx.Client(
        base_url=f"{demo.url}/api/analytics",
        headers={"Authorization": f"Bearer {demo.token}"},
        timeout=60,
    )


def _wait_for_settled_lake(demo: DemoConsole, timeout: float = 240.0) -> None:
    """Until the lake holds every event the demo stored (its writer has nothing left to
    process) and nothing changes for a few seconds: the page then reads what the API reads."""
    engine = make_engine(demo.database_url)
    deadline = time.monotonic() + timeout
    previous, quiet_since = None, time.monotonic()
    try:
        with _api(demo) as api:
            while True:
                behind = lag(engine, [LakeWriter()])[CONSUMER_NAME]
                status = api.get("/lake").json()
                now = (behind, status["events"], status["events_through"])
                if now != previous:
                    previous, quiet_since = now, time.monotonic()
                elif behind == 0 and status["events"] and time.monotonic() - quiet_since > 3:
                    return
                assert time.monotonic() < deadline, f"the lake did not settle: {now}"
                time.sleep(0.5)
    finally:
        engine.dispose()


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _report(page: Page) -> None:
    page.wait_for_selector("#journey-result .journey-result", timeout=REPORT_TIMEOUT)


def test_an_analyst_builds_a_funnel_reads_the_apis_numbers_and_sees_who_dropped(
    demo_console: DemoConsole, browser: Browser
) -> None:
    _wait_for_settled_lake(demo_console)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    browser_sign_in(page, demo_console.url, "analyst")
    page.goto(f"{demo_console.url}/console/journeys")
    expect(page).to_have_url(re.compile(r"/console/journeys/funnel$"))
    for number, step in enumerate(STEPS, 1):
        page.select_option(f"#step-{number}", step)
    page.fill("#window", "30")
    page.select_option("#unit", "days")
    page.select_option("#breakdown", "channel")
    page.get_by_role("button", name="Show the funnel").click()
    _report(page)
    # The funnel lives in the address: it can be bookmarked and shared.
    assert "step=Product+Viewed" in page.url and "step=Order+Completed" in page.url
    expect(page.locator("#step-3")).to_have_value("Order Completed")

    counts = [_number(t) for t in page.locator("table.funnel-steps td.people").all_inner_texts()]
    with _api(demo_console) as api:
        answer = api.get("/funnel", params={"step": STEPS, "window": "30d"})
        assert answer.status_code == 200, answer.text
        funnel = answer.json()
        dropped = api.get("/funnel/dropped", params={"step": STEPS, "window": "30d", "dropped": 2})
        assert dropped.status_code == 200, dropped.text
    assert counts == [s["count"] for s in funnel["steps"]]
    assert counts[0] > counts[1] > counts[2] > 0
    conversion = page.locator(".figure", has_text="Conversion").first.inner_text()
    assert f"{100 * funnel['conversion']:.1f}%" in conversion
    expect(page.locator(".chart svg").first).to_be_visible()
    screenshot(page, f"{demo_console.backend}-journeys-funnel")

    # A drop-off on the chart lists its people: those who reached step 2, not step 3.
    third = funnel["steps"][2]
    page.locator(".funnel-report .chart").first.scroll_into_view_if_needed()
    x, y = page.evaluate(
        """([count, dropped]) => {
            const chart = echarts.getInstanceByDom(document.querySelector('.funnel-report .chart'));
            return chart.convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, [2, count + dropped / 2]);
        }""",
        [third["count"], third["dropped"]],
    )
    box = page.locator(".funnel-report .chart").first.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + x, box["y"] + y)
    expect(page.locator("#dropped-people .dropped-count")).to_contain_text(
        f"{third['dropped']:,} people dropped at step 3.", timeout=REPORT_TIMEOUT
    )

    page.locator("tr[data-step='2'] td.dropped a").click()
    people = page.locator("#dropped-people table.people tbody tr")
    expect(people.first).to_be_visible(timeout=REPORT_TIMEOUT)
    expected = dropped.json()["count"]
    assert expected == funnel["steps"][1]["dropped"] > 0
    expect(page.locator("#dropped-people .dropped-count")).to_contain_text(
        f"{expected:,} people dropped at step 2."
    )
    assert people.count() == min(expected, 50)
    first_link = people.first.locator("a").first.get_attribute("href") or ""
    assert re.fullmatch(r"/console/customers/[0-9a-f-]{36}", first_link)
    assert first_link.rsplit("/", 1)[1] in {p["profile_id"] for p in dropped.json()["people"]}
    # An analyst does not see personal data: e-mail addresses are masked.
    emails = page.locator("#dropped-people table.people tbody td .masked")
    assert emails.count() > 0 and "•••" in emails.first.inner_text()
    assert "@" not in (page.locator("#dropped-people").inner_text().replace("•••@", ""))
    csv_link = page.get_by_role("link", name="Download all as CSV")
    with page.expect_download() as download:
        csv_link.click()
    assert download.value.suggested_filename == "funnel-dropped-step-2.csv"
    screenshot(page, f"{demo_console.backend}-journeys-funnel-dropped")
    page.close()


def test_every_journeys_tab_draws_its_report(demo_console: DemoConsole, browser: Browser) -> None:
    _wait_for_settled_lake(demo_console)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    browser_sign_in(page, demo_console.url, "marketer")
    for tab in TABS[1:]:
        page.goto(f"{demo_console.url}/console/journeys/{tab}")
        expect(page.locator(".tabs a[aria-current='page']")).to_have_attribute(
            "href", f"/console/journeys/{tab}"
        )
        _report(page)
        assert page.locator("#journey-result .notice.error").count() == 0
        expect(page.locator("#journey-result .chart svg").first).to_be_visible()
        screenshot(page, f"{demo_console.backend}-journeys-{tab}")
    # A bad value answers with the form and the field named, nothing computed.
    answer = page.goto(f"{demo_console.url}/console/journeys/attribution?lookback_days=0")
    assert answer is not None and answer.status == 422
    expect(page.locator(".notice.error")).to_contain_text("Lookback (days)")
    assert page.locator("#journey-result").count() == 0
    screenshot(page, f"{demo_console.backend}-journeys-invalid")
    page.close()
