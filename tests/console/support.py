"""Signing in to the console from tests: in-process (TestClient) and in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from playwright.sync_api import Page

PASSWORD = "console-test-password-1"
"""Every test user's password (long enough for the policy)."""

ROLE_EMAILS = {
    "admin": "admin@example.com",
    "marketer": "marketer@example.com",
    "analyst": "analyst@example.com",
    "support": "support@example.com",
}
"""One console user per role, created by the fixtures."""

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console-screenshots"
"""Where browser tests save a screenshot of every page they see (kept by CI)."""

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token a console page's forms carry."""
    found = _CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def sign_in(
    client: TestClient, role: str, *, password: str = PASSWORD, language: str | None = None
) -> str:
    """Signs `client` in as the test user of `role` (reading the console in `language`, when
    given, as the language picker sets it); returns the session's CSRF token."""
    client.cookies.clear()
    form = client.get("/console/login")
    assert form.status_code == 200, form.text
    answer = client.post(
        "/console/login",
        data={"email": ROLE_EMAILS[role], "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    if language is not None:
        client.cookies.set("omnicx_lang", language)
    return csrf_of(client.get("/console/account").text)


def browser_sign_in(page: Page, base_url: str, role: str) -> None:
    """Signs in through the login form, as a person would."""
    page.goto(f"{base_url}/console/login")
    page.fill("#email", ROLE_EMAILS[role])
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "/console/login" not in page.url, page.content()[:2000]


def screenshot(page: Page, name: str) -> Path:
    """Saves a full-page screenshot under SCREENSHOTS (kept with the test run's artifacts)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
