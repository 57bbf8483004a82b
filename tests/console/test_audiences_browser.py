"""The audiences section in a real browser over a served demo retailer: a marketer builds a
segment from two conditions without writing JSON, watches the preview count, saves it, and
finds on its page the member count the API gives once the processing stage has evaluated it;
then reads a scoring model (its histogram and a score explained) and the personas."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from omnicx.collect.processing import lag
from omnicx.pipeline import stream_consumers
from omnicx.store.engine import make_engine
from tests.console.conftest import DemoConsole
from tests.console.support import browser_sign_in, screenshot
from tests.e2e.server import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console")]

SLOW = 120_000
"""Milliseconds to wait for what reads everyone (personas, a count on a busy machine)."""
MODEL = {
    "name": "Web engagement",
    "half_life_days": 30,
    "rules": [
        {"id": "order", "label": "Bought", "points": 40, "cap": 120,
         "when": {"event": "Order Completed"}},
        {"id": "viewed", "points": 2, "cap": 20, "when": {"event": "Product Viewed"}},
        {"id": "reachable", "points": 5, "when": {"identity": "email"}},
    ],
    "stages": [{"stage": "lead", "min": 10}, {"stage": "mql", "min": 50}],
}  # fmt: skip


def _api(demo: DemoConsole) -> httpx.Client:
    return httpx.Client(
        base_url=f"{demo.url}/api",
        headers={"Authorization": f"Bearer {demo.token}"},
        timeout=60,
    )


WATCHED = ("identity.resolution", "profiles.builder", "audiences.membership")
"""The consumers whose work a segment's members depend on."""


def _wait_for_quiet_processing(demo: DemoConsole, timeout: float = 240.0) -> None:
    """Until identity, profiles and the membership consumer have processed every stored event
    (the membership consumer's own events included) for a few seconds: counts stand still."""
    engine = make_engine(demo.database_url)
    deadline = time.monotonic() + timeout
    quiet_since: float | None = None
    try:
        while True:
            behind = {n: v for n, v in lag(engine, stream_consumers()).items() if n in WATCHED}
            if any(behind.values()):
                quiet_since = None
            elif quiet_since is None:
                quiet_since = time.monotonic()
            elif time.monotonic() - quiet_since > 3:
                return
            assert time.monotonic() < deadline, f"processing did not catch up: {behind}"
            time.sleep(0.5)
    finally:
        engine.dispose()


def _number(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def _settled(page: Page) -> None:
    """Waits until no htmx request is in flight and the last swap has settled."""
    page.wait_for_function(
        "() => !document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping')"
    )


def _build_segment(page: Page, demo: DemoConsole) -> int:
    """Builds "ordered on the web in the last 90 days, and has an e-mail trait" in the
    builder; returns the preview's count."""
    page.goto(f"{demo.url}/console/audiences")
    page.get_by_role("link", name="New segment").click()
    expect(page).to_have_url(re.compile(r"/console/audiences/new$"))
    page.fill("#segment-name", "Recent web buyers with e-mail")
    page.fill("#c-0-event", "Order Completed")
    page.select_option("#c-0-window", "last_days")  # the row comes back with a days field
    page.wait_for_selector("#c-0-span")
    page.fill("#c-0-span", "90")
    page.locator("#c-0 details.channels summary").click()
    page.check("input[name='c-0.channel'][value='web']")
    page.click("#c-add")
    page.wait_for_selector("#c-1-kind")
    _settled(page)  # a person waits for the new row; a change before htmx wired it is lost
    page.select_option("#c-1-kind", "trait")
    page.wait_for_selector("#c-1-trait")
    page.fill("#c-1-trait", "email")
    page.select_option("#c-1-op", "exists")
    expect(page.locator("#c-1-value")).to_have_count(0)
    expect(page.locator("#preview-text")).to_have_text(
        'did "Order Completed" in the last 90 days on web AND trait email is set', timeout=SLOW
    )
    expect(page.locator("#preview-count")).to_be_visible(timeout=SLOW)
    counted = _number(page.locator("#preview-count").inner_text())
    screenshot(page, f"{demo.backend}-audiences-builder")
    return counted


def test_a_marketer_builds_a_segment_and_its_count_is_the_apis(
    demo_console: DemoConsole, browser: Browser
) -> None:
    _wait_for_quiet_processing(demo_console)
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    browser_sign_in(page, demo_console.url, "marketer")
    previewed = _build_segment(page, demo_console)
    assert previewed > 0

    page.click("#save-segment")
    expect(page).to_have_url(re.compile(r"/console/audiences/\d+\?saved=1$"))
    segment_id = int(re.search(r"/console/audiences/(\d+)", page.url).group(1))  # type: ignore[union-attr]
    with _api(demo_console) as api:
        stored = wait_until(
            lambda: (found := api.get(f"/segments/{segment_id}").json())["ready"] and found,
            "the segment evaluated by the processing stage",
            timeout=120,
        )
        _wait_for_quiet_processing(demo_console)
        stored = api.get(f"/segments/{segment_id}").json()
        assert stored["key"] == "recent-web-buyers-with-e-mail"
        assert stored["definition"] == {"all": [
            {"event": "Order Completed", "within": {"last_days": 90}, "channel": "web"},
            {"trait": "email", "op": "exists"},
        ]}  # fmt: skip
        members, cursor = [], None
        while True:
            answer = api.get(
                f"/segments/{segment_id}/members", params={"limit": 1000, "cursor": cursor}
            ).json()
            members += answer["members"]
            if not (cursor := answer["next_cursor"]):
                break
    assert stored["members"] == len(members) == previewed

    page.reload()
    expect(page.locator("#definition-text")).to_have_text(stored["text"])
    figure = page.locator(".figure", has_text="Members now").locator(".figure-value")
    assert _number(figure.inner_text()) == stored["members"]
    first = page.locator("#members tbody tr a").first
    expect(first).to_have_attribute("href", re.compile(r"^/console/customers/[0-9a-f-]{36}$"))
    screenshot(page, f"{demo_console.backend}-audiences-segment")

    page.goto(f"{demo_console.url}/console/audiences")
    count = page.locator('[data-segment="recent-web-buyers-with-e-mail"] .member-count')
    expect(count).to_have_text(str(stored["members"]), timeout=SLOW)
    screenshot(page, f"{demo_console.backend}-audiences-list")


def test_scores_and_personas_are_explained_with_charts(
    demo_console: DemoConsole, browser: Browser
) -> None:
    with _api(demo_console) as api:
        created = api.put("/scoring-models/web-engagement", json=MODEL)
        assert created.status_code == 200, created.text
        wait_until(
            lambda: api.get("/scoring-models/web-engagement").json()["ready"],
            "the model scoring everyone",
            timeout=120,
        )
    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    browser_sign_in(page, demo_console.url, "analyst")
    page.goto(f"{demo_console.url}/console/audiences/scores")
    page.get_by_role("link", name="Web engagement").click()
    expect(page.locator("#rules-heading")).to_be_visible()
    expect(page.locator("#distribution .chart[data-drawn] svg").first).to_be_visible(timeout=SLOW)
    screenshot(page, f"{demo_console.backend}-audiences-scores")

    page.locator("#distribution a", has_text="Why?").first.click()
    expect(page).to_have_url(re.compile(r"/console/audiences/scores/web-engagement/[0-9a-f-]{36}$"))
    expect(page.locator(".rule-score").first).to_be_visible()
    expect(page.get_by_text("Where the points come from")).to_be_visible()
    screenshot(page, f"{demo_console.backend}-audiences-explanation")

    page.goto(f"{demo_console.url}/console/audiences/personas")
    expect(page.locator("#personas .persona").first).to_be_visible(timeout=SLOW)
    expect(page.locator("#personas .chart[data-drawn] svg").first).to_be_visible()
    personas = page.locator("#personas .persona h2").all_inner_texts()
    assert len(personas) >= 2 and all(personas)
    screenshot(page, f"{demo_console.backend}-audiences-personas")
