"""The customers section in a real browser against `omnicx serve` on the demo retailer: a
marketer finds a multichannel customer by e-mail, reads their timeline across channels and
scrolls for older events; an analyst sees the same customer with the e-mail masked; a support
agent finds customers too."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import Engine

from omnicx.collect.processing import lag
from omnicx.identity import service as identity
from omnicx.identity.consumer import CONSUMER_NAME as IDENTITY
from omnicx.pipeline import stream_consumers
from omnicx.profiles import service
from omnicx.profiles.consumer import CONSUMER_NAME as PROFILES
from omnicx.store.engine import make_engine
from tests.console.conftest import DemoConsole
from tests.console.support import browser_sign_in, screenshot

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("console")]


@dataclass(frozen=True)
class DemoCustomer:
    """A demo customer whose newest 50 events span at least three channels, with more."""

    profile_id: str
    email: str
    channels: frozenset[str]


def _wait_for_profiles(engine: Engine, timeout: float = 300.0) -> None:
    """Until the server's processing stage has built the profiles of every event the demo
    sent (it finishes what `omnicx demo` left), and the stream is quiet for a few seconds."""
    deadline = time.monotonic() + timeout
    builders = [c for c in stream_consumers() if c.name in (IDENTITY, PROFILES)]
    previous, quiet_since = None, time.monotonic()
    while True:
        behind = lag(engine, builders)
        if behind != previous:
            previous, quiet_since = behind, time.monotonic()
        elif not any(behind.values()) and time.monotonic() - quiet_since > 3:
            return
        assert time.monotonic() < deadline, f"processing did not settle: {behind}"
        time.sleep(0.5)


def _multichannel_customer(demo: DemoConsole) -> DemoCustomer:
    """Read from the demo's database with the profiles domain's own functions."""
    engine = make_engine(demo.database_url)
    try:
        _wait_for_profiles(engine)
        with engine.connect() as connection:
            ids = identity.profile_ids(connection, page=1000)
            documents = service.documents(connection, ids)
            candidates = sorted(
                (d for d in documents.values() if d.identities.get("email")),
                key=lambda d: (-len(d.computed.channels), -d.computed.events, d.id),
            )
            for document in candidates:
                if document.computed.events <= 60:
                    continue
                first = service.timeline(connection, document.id, limit=50)
                channels = frozenset(e.channel for e in first.events)
                if len(channels) >= 3 and first.next_cursor:
                    email = document.identities["email"][0].value
                    return DemoCustomer(document.id, email, channels)
    finally:
        engine.dispose()
    raise AssertionError("the demo has no customer with three channels among 50 events")


@pytest.fixture(scope="module")
def customer(demo_console: DemoConsole) -> DemoCustomer:
    return _multichannel_customer(demo_console)


def _shown_channels(page: Page) -> set[str]:
    classes = page.locator(".timeline .event .event-channel .channel").evaluate_all(
        "nodes => nodes.map(n => n.className)"
    )
    return {m.group(1) for c in classes if (m := re.search(r"channel-(\w+)", c))}


def test_marketer_finds_a_customer_by_email_and_scrolls_the_timeline(
    demo_console: DemoConsole, browser: Browser, customer: DemoCustomer
) -> None:
    base, backend = demo_console.url, demo_console.backend
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    browser_sign_in(page, base, "marketer")

    page.goto(f"{base}/console/customers")
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.get_by_label("Search", exact=True).fill("a")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name=re.compile(r"customers found"))).to_be_visible()
    assert page.locator("table.customer-results tbody tr").count() >= 2
    screenshot(page, f"{backend}-customers-search")

    page.get_by_label("Search", exact=True).fill(customer.email.upper())
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/console/customers/{customer.profile_id}")
    expect(page.locator(".customer-contact")).to_contain_text(customer.email)
    expect(page.get_by_role("heading", name="Timeline")).to_be_visible()

    events = page.locator(".timeline .event")
    expect(events).to_have_count(50)
    shown = _shown_channels(page)
    assert len(shown) >= 3, shown
    assert shown == set(customer.channels)
    screenshot(page, f"{backend}-customers-360")

    # Scrolling to the end of the timeline loads the next page in place.
    page.locator(".timeline-more").scroll_into_view_if_needed()
    expect(events.nth(50)).to_be_attached(timeout=15_000)
    assert events.count() > 50
    assert page.url.endswith(f"/console/customers/{customer.profile_id}")
    screenshot(page, f"{backend}-customers-360-scrolled")

    # Filtered by one channel, only that channel's events are listed.
    channel = sorted(customer.channels)[0]
    page.select_option("#timeline-channel", channel)
    page.get_by_role("button", name="Filter").click()
    expect(events.first).to_be_visible()
    assert _shown_channels(page) == {channel}
    context.close()


def test_analyst_sees_the_customer_with_the_email_masked(
    demo_console: DemoConsole, browser: Browser, customer: DemoCustomer
) -> None:
    base, backend = demo_console.url, demo_console.backend
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    browser_sign_in(page, base, "analyst")
    page.goto(f"{base}/console/customers")
    page.get_by_label("Search", exact=True).fill(customer.email)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/console/customers/{customer.profile_id}")
    contact = page.locator(".customer-contact .masked").first
    local, _, domain = customer.email.partition("@")
    expect(contact).to_have_text(
        re.compile(rf"^{re.escape(local[0])}•••@{re.escape(domain[0])}•••")
    )
    assert customer.email not in page.content()
    expect(page.locator(".timeline .event").first).to_be_visible()
    screenshot(page, f"{backend}-customers-360-analyst")
    context.close()


def test_support_agent_finds_customers(
    demo_console: DemoConsole, browser: Browser, customer: DemoCustomer
) -> None:
    base, backend = demo_console.url, demo_console.backend
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    browser_sign_in(page, base, "support")
    # The console opens on Customers for a support agent (no overview).
    expect(page.get_by_role("heading", name="Customers", exact=True)).to_be_visible()
    page.get_by_label("Search", exact=True).fill(customer.email)
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(f"**/console/customers/{customer.profile_id}")
    expect(page.locator(".customer-contact")).to_contain_text(customer.email)
    # Support agents repair merges but do not export or erase.
    expect(page.get_by_role("heading", name="Merges and conflicts")).to_be_visible()
    expect(page.get_by_text("Erase this customer")).to_have_count(0)
    screenshot(page, f"{backend}-customers-360-support")
    context.close()
