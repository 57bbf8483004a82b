"""analytics.js (@segment/analytics-next, pinned in browser/package.json) in headless Chromium.

A shop page on its own origin loads analytics.js with `cdnURL` pointing at omnicx, exactly as
the README tells site owners to: analytics.js fetches its settings document from omnicx, then
sends page, identify and track cross-origin to omnicx's /v1/p, /v1/i and /v1/t (with an
Authorization header, so each POST is preflighted). Nothing may be fetched from anywhere else:
the browser resolves no host name but 127.0.0.1.

Chromium's own flags do the blocking rather than Playwright's `page.route`: with any route
installed, Playwright answers CORS preflights itself, which would hide omnicx's CORS handling.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import Engine

from tests.e2e.events import Expected, assert_stored_once, source_id, stored_rows
from tests.e2e.server import OmnicxServer

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

BROWSER_DIR = Path(__file__).with_name("browser")
# The UMD build: defines window.AnalyticsNext.AnalyticsBrowser (dist/umd/standalone.js is the
# snippet loader, which expects Segment's CDN script tag instead).
BUNDLE = BROWSER_DIR / "node_modules/@segment/analytics-next/dist/umd/index.js"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    # No internet here, and the test must not depend on it: every host but 127.0.0.1 fails
    # to resolve, so only the shop's and omnicx's origins are reachable.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

SEND_EVENTS = """
async ({ writeKey, cdnURL }) => {
  const [analytics] = await AnalyticsNext.AnalyticsBrowser.load({ writeKey, cdnURL });
  // Each call resolves once the Segment.io destination has had omnicx's answer.
  const sent = [
    await analytics.page("Shop", "Home", { path: "/" }),
    await analytics.identify("user-42", { email: "ada@example.com" }),
    await analytics.track("Order Completed", { revenue: 42.5, currency: "EUR" }),
  ];
  return sent.map((ctx) => ({
    messageId: ctx.event.messageId,
    type: ctx.event.type,
    failed: ctx.failedDelivery() ? String(ctx.failedDelivery().reason) : null,
  }));
}
"""


class _ShopPage(BaseHTTPRequestHandler):
    """Serves the shop page and the analytics.js bundle, as a site serves its own assets."""

    files: ClassVar[dict[str, tuple[Path, str]]] = {
        "/": (BROWSER_DIR / "shop.html", "text/html"),
        "/analytics-next.js": (BUNDLE, "text/javascript"),
    }

    def do_GET(self) -> None:
        path, content_type = self.files.get(self.path, (None, ""))
        if path is None:
            self.send_error(HTTPStatus.NOT_FOUND)
            return
        body = path.read_bytes()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the browser's requests are recorded by the test itself


@pytest.fixture
def shop_origin() -> Iterator[str]:
    """A local site (127.0.0.1 on its own port: a different origin from omnicx)."""
    assert BUNDLE.is_file(), f"{BUNDLE} is missing: run `make browser-deps` (npm ci)"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ShopPage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, driven by Playwright; one launch serves both backends."""
    assert CHROMIUM.exists(), "the browser test needs Debian's chromium: run `make chromium`"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@dataclass
class _Traffic:
    """What the page asked for, and what went wrong, for assertions and their messages."""

    requests: list[str] = field(default_factory=list)  # "METHOD URL"
    responses: list[tuple[str, int]] = field(default_factory=list)  # ("METHOD URL", status)
    failures: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        return (
            f"requests: {self.requests}\nresponses: {self.responses}\n"
            f"failed: {self.failures}\nconsole errors: {self.console}"
        )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.mark.sources(storefront="web")
def test_analytics_js_sends_to_omnicx(
    omnicx_server: OmnicxServer, engine: Engine, browser: Browser, shop_origin: str
) -> None:
    key = omnicx_server.write_keys["storefront"]
    context = browser.new_context()
    page = context.new_page()
    traffic = _Traffic()
    page.on("request", lambda request: traffic.requests.append(f"{request.method} {request.url}"))
    page.on(
        "response",
        lambda r: traffic.responses.append((f"{r.request.method} {r.url}", r.status)),
    )
    page.on("requestfailed", lambda r: traffic.failures.append(f"{r.url}: {r.failure}"))
    page.on("console", lambda m: traffic.console.append(m.text) if m.type == "error" else None)

    page.goto(f"{shop_origin}/")
    sent: list[dict[str, Any]] = page.evaluate(
        SEND_EVENTS, {"writeKey": key, "cdnURL": omnicx_server.url}
    )
    context.close()

    assert [(s["type"], s["failed"]) for s in sent] == [
        ("page", None),
        ("identify", None),
        ("track", None),
    ], traffic
    # The settings document came from omnicx, and sent each event back to omnicx, once.
    omnicx = omnicx_server.url
    assert [(r, status) for r, status in traffic.responses if r.startswith(f"GET {omnicx}")] == [
        (f"GET {omnicx}/v1/projects/{key}/settings", 200)
    ], traffic
    assert [r for r in traffic.responses if r[0].startswith("POST")] == [
        (f"POST {omnicx}/v1/{path}", 200) for path in "pit"
    ], traffic
    assert {_origin(r.split(" ", 1)[1]) for r in traffic.requests} == {shop_origin, omnicx}, traffic
    assert traffic.failures == [], traffic
    assert traffic.console == [], traffic  # analytics.js logged no error on the shop's page

    source = source_id(engine, "storefront")
    expected = {
        sent[0]["messageId"]: Expected("page", None, "Home", "web"),
        sent[1]["messageId"]: Expected("identify", "user-42", None, "web"),
        sent[2]["messageId"]: Expected("track", "user-42", "Order Completed", "web"),
    }
    # Each call resolved after omnicx's 200, which it sends only once the event is committed.
    assert_stored_once(engine, source, expected)
    rows = stored_rows(engine, source)
    # One browser, one visitor: analytics.js gives all three the same anonymousId.
    assert len({row["anonymous_id"] for row in rows}) == 1
    assert rows[0]["anonymous_id"]
