"""The sources section in a real browser against `omnicx serve` on the demo retailer: an
admin adds a source, opens its live debugger, and watches an event sent by the official
Segment Python SDK appear without reloading; then its rejected events and its snippets."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect
from segment.analytics import Client

from tests.console.conftest import DemoConsole
from tests.console.support import browser_sign_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console")]

LIVE_SECONDS = 15_000
"""How long (ms) an event may take to show in the debugger: polled every 2 s, on a busy machine."""


def _add_source_in_the_ui(page: Page, base: str, name: str) -> str:
    page.goto(f"{base}/console/sources")
    page.fill("#source-name", name)
    page.select_option("#source-channel", "crm")
    page.get_by_role("button", name="Add the source").click()
    expect(page.get_by_role("heading", name=f"Source {name} added")).to_be_visible()
    key = page.locator("#new-write-key").inner_text().strip()
    assert re.fullmatch(r"[A-Za-z0-9]{32}", key), key
    return key


def test_admin_watches_an_sdk_event_arrive_live(
    demo_console: DemoConsole, browser: Browser
) -> None:
    base = demo_console.url
    backend = demo_console.backend
    page = browser.new_page()
    browser_sign_in(page, base, "admin")

    page.goto(f"{base}/console/sources")
    expect(page.get_by_role("heading", name="Sources", exact=True)).to_be_visible()
    assert page.locator("table.sources-table tbody tr").count() >= 2  # the demo's sources
    screenshot(page, f"{backend}-sources-list")

    name = f"Backend {backend}"
    key = _add_source_in_the_ui(page, base, name)
    screenshot(page, f"{backend}-sources-added")

    page.get_by_role("link", name="Watch its events arrive").click()
    expect(page.get_by_role("heading", name=re.compile(name))).to_be_visible()
    expect(page.get_by_text("No events from this source yet")).to_be_visible()
    page.evaluate("window.stillTheSamePage = true")

    analytics = Client(key, host=base, sync_mode=True, max_retries=1)
    queued, message = analytics.track(
        "user-browser-1", "Debugger Seen", {"plan": "gold", "revenue": 12.5}
    )
    assert queued
    event = page.locator(".debugger-event", has_text="Debugger Seen")
    expect(event).to_be_visible(timeout=LIVE_SECONDS)
    assert page.evaluate("window.stillTheSamePage") is True  # arrived without a reload
    expect(page.get_by_text("No events from this source yet")).to_be_hidden()

    event.locator("summary").click()
    payload = event.locator(".event-json")
    expect(payload).to_be_visible()
    expect(payload).to_contain_text('"event": "Debugger Seen"')
    expect(payload).to_contain_text('"revenue": 12.5')
    expect(payload).to_contain_text('"receivedAt"')
    expect(payload).to_contain_text(message["messageId"])
    expect(payload).to_contain_text('"library"')  # the SDK's context

    # Paused, new events wait; resumed, they come in, newest on top.
    page.get_by_role("button", name="Pause").click()
    expect(page.get_by_text("Paused: new events wait until you resume.")).to_be_visible()
    analytics.track("user-browser-1", "While Paused")
    page.wait_for_timeout(4500)
    expect(page.locator(".debugger-event", has_text="While Paused")).to_have_count(0)
    page.get_by_role("button", name="Resume").click()
    expect(page.locator(".debugger-event", has_text="While Paused")).to_be_visible(
        timeout=LIVE_SECONDS
    )
    first = page.locator(".debugger-event").first
    expect(first).to_contain_text("While Paused")
    screenshot(page, f"{backend}-sources-debugger")

    # A request the intake refuses shows on the Rejected events tab, with its reason.
    refused = httpx.post(
        f"{base}/v1/track",
        content=b'{"userId": "user-browser-1", "event": "Broken"',
        auth=(key, ""),
        headers={"Content-Type": "application/json"},
    )
    assert refused.status_code == 400
    page.get_by_role("link", name="Rejected events").click()
    row = page.locator("table.rejected-table tbody tr").first
    expect(row).to_contain_text("invalid_json")
    expect(row).to_contain_text("Body is not valid JSON")
    row.get_by_text("Show").click()
    expect(row.locator(".event-json")).to_contain_text('"event": "Broken"')
    screenshot(page, f"{backend}-sources-rejected")

    page.get_by_role("link", name="Code snippets").click()
    snippet = page.locator("#snippet-analytics-js")
    expect(snippet).to_contain_text(f'writeKey: "{key}"')
    expect(snippet).to_contain_text(f'cdnURL: "{base}"')
    expect(page.locator("#snippet-segment-python")).to_contain_text(f'host="{base}"')
    expect(page.locator("#snippet-import-cli")).to_contain_text(f"--source '{name}'")
    screenshot(page, f"{backend}-sources-snippets")

    page.goto(f"{base}/console/sources/debugger")
    everything = page.locator(".debugger-event", has_text="While Paused")
    expect(everything).to_be_visible()
    expect(everything).to_contain_text(name)
    screenshot(page, f"{backend}-sources-debugger-all")
    page.close()


def test_marketer_sees_sources_but_not_keys_or_actions(
    demo_console: DemoConsole, browser: Browser
) -> None:
    base = demo_console.url
    page = browser.new_page()
    browser_sign_in(page, base, "marketer")
    page.goto(f"{base}/console/sources")
    expect(page.locator("table.sources-table")).to_be_visible()
    expect(page.get_by_role("heading", name="Add a source")).to_have_count(0)
    expect(page.get_by_role("link", name="Rotate the key")).to_have_count(0)
    expect(page.get_by_text("Show the key")).to_have_count(0)
    expect(page.locator(".key-hint").first).to_contain_text("…")
    screenshot(page, f"{demo_console.backend}-sources-list-marketer")
    answer = page.goto(f"{base}/console/sources/1/rotate")
    assert answer is not None and answer.status == 403
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    page.close()
