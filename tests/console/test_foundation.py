"""The console's foundation, server side, on SQLite and PostgreSQL: signing in and out,
throttling, cookies, CSRF, security headers, languages, error pages, and the permission of
every console route (walked from the application's routes, so a new page is covered as soon
as it exists)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html import unescape

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine

from omnicx.access import users
from omnicx.access.permissions import PERMISSIONS, allows
from omnicx.access.users import MAX_EMAIL_FAILURES
from omnicx.api.app import create_app
from omnicx.console.rendering import NAV
from omnicx.console.security import permission_required_by
from omnicx.settings import Settings
from tests.console.support import PASSWORD, ROLE_EMAILS, csrf_of, sign_in
from tests.profiles.helpers import token

GENERIC_REFUSAL = "That e-mail address and password do not match an active account."
ROLES = tuple(ROLE_EMAILS)
PUBLIC_ROUTES = {("GET", "/console/"), ("GET", "/console/login"), ("POST", "/console/login")}
"""Console routes anyone may open: the front door (it sends the reader on) and signing in."""
SAMPLE_PARAMETER = "999999"
"""What a path parameter is given when walking the routes: nothing has that id."""


def login_form(client: TestClient, **headers: str) -> str:
    """Opens the login page (setting its CSRF cookie); returns the form's CSRF token."""
    page = client.get("/console/login", headers=headers)
    assert page.status_code == 200, page.text
    return csrf_of(page.text)


def attempt(client: TestClient, email: str, password: str) -> Response:
    """Signs in through the form, as a browser would."""
    token = login_form(client)
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token},
        follow_redirects=False,
    )


def alert_of(html: str) -> str:
    """The text of the page's alert notice."""
    found = re.search(r'role="alert"[^>]*>(.*?)</div>', html, re.S)
    assert found, "the page has no alert"
    return re.sub(r"<[^>]+>", "", found.group(1)).strip()


def cookie_header(response: Response, name: str) -> str:
    """The Set-Cookie header setting `name`."""
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(f"{name}="):
            return header
    raise AssertionError(f"no Set-Cookie for {name}: {response.headers.get_list('set-cookie')}")


def attributes(header: str) -> dict[str, str]:
    """A Set-Cookie header's attributes, names lower-cased (`httponly` -> "")."""
    parts = [part.strip() for part in header.split(";")[1:]]
    return {
        name.lower(): value for name, _, value in (part.partition("=") for part in parts) if name
    }


# --------------------------------------------------------------------------- signing in


def test_login_page_renders_a_form_with_its_own_csrf_token(console: TestClient) -> None:
    page = console.get("/console/login")
    assert page.status_code == 200
    assert '<html lang="en" dir="ltr">' in page.text
    assert 'id="email"' in page.text and 'id="password"' in page.text
    token = csrf_of(page.text)
    assert console.cookies.get("omnicx_login_csrf") == token
    assert "Sign out" not in page.text  # nobody is signed in


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(
    console: TestClient,
) -> None:
    wrong = attempt(console, ROLE_EMAILS["marketer"], "not-the-password-at-all")
    unknown = attempt(console, "nobody@example.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert alert_of(wrong.text) == alert_of(unknown.text) == GENERIC_REFUSAL
    assert "omnicx_session" not in console.cookies
    # The address typed is kept in the form, the password never.
    assert 'value="nobody@example.com"' in unknown.text
    assert PASSWORD not in unknown.text


def test_repeated_failures_are_throttled_with_retry_after(console: TestClient) -> None:
    email = ROLE_EMAILS["analyst"]
    for _ in range(MAX_EMAIL_FAILURES):
        assert attempt(console, email, "wrong-password-again").status_code == 401
    throttled = attempt(console, email, "wrong-password-again")
    assert throttled.status_code == 429
    retry_after = int(throttled.headers["retry-after"])
    assert 0 < retry_after <= 16 * 60
    assert "Too many failed attempts" in alert_of(throttled.text)
    assert f"{retry_after} seconds" in alert_of(throttled.text)
    # While throttled, even the right password does not open a session.
    right = attempt(console, email, PASSWORD)
    assert right.status_code == 429
    assert "omnicx_session" not in console.cookies
    # Another address from the same client is not held back by this one's failures.
    assert attempt(console, ROLE_EMAILS["marketer"], PASSWORD).status_code == 303


@pytest.mark.parametrize("missing", ["cookie", "field", "both", "mismatch"])
def test_login_without_the_login_csrf_token_is_refused(console: TestClient, missing: str) -> None:
    token = login_form(console)
    data = {"email": ROLE_EMAILS["admin"], "password": PASSWORD, "csrf_token": token}
    if missing in ("cookie", "both"):
        console.cookies.clear()
    if missing in ("field", "both"):
        del data["csrf_token"]
    if missing == "mismatch":
        # Change the first character to one it is not, so the token always differs.
        data["csrf_token"] = ("y" if token[0] == "x" else "x") + token[1:]
    answer = console.post("/console/login", data=data, follow_redirects=False)
    assert answer.status_code == 403
    assert "This form has expired" in answer.text
    assert "omnicx_session" not in console.cookies


def test_the_session_cookie_is_httponly_strict_and_limited_to_the_console(
    console: TestClient,
) -> None:
    answer = attempt(console, ROLE_EMAILS["support"], PASSWORD)
    assert answer.status_code == 303
    found = attributes(cookie_header(answer, "omnicx_session"))
    assert "httponly" in found
    assert found["samesite"].lower() == "strict"
    assert found["path"] == "/console"
    assert "secure" not in found  # plain HTTP here; over HTTPS it is Secure:
    over_https = TestClient(console.app, base_url="https://testserver")
    secure = attempt(over_https, ROLE_EMAILS["support"], PASSWORD)
    assert secure.status_code == 303
    assert "secure" in attributes(cookie_header(secure, "omnicx_session"))


def test_signing_out_ends_the_session_on_the_server(console: TestClient) -> None:
    csrf = sign_in(console, "marketer")
    old = console.cookies["omnicx_session"]
    assert console.get("/console/account").status_code == 200
    out = console.post("/console/logout", data={"csrf_token": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/console/login"
    assert "max-age=0" in cookie_header(out, "omnicx_session").lower()
    # The browser forgets the cookie; someone who copied it finds it opens nothing now.
    console.cookies.set("omnicx_session", old, path="/console")
    again = console.get("/console/account", follow_redirects=False)
    assert again.status_code == 303
    assert again.headers["location"] == "/console/login?next=/console/account"


def first_section(role: str) -> str:
    """The first section of the menu the role may open."""
    return next(path for _, path, permission in NAV if allows(role, permission))


@pytest.mark.parametrize("role", ROLES)
def test_the_front_door_sends_each_role_to_its_first_section(
    console: TestClient, role: str
) -> None:
    sign_in(console, role)
    answer = console.get("/console/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == first_section(role)
    expected = {"support": "/console/customers"}.get(role, "/console/overview")
    assert answer.headers["location"] == expected
    assert console.get("/", follow_redirects=False).headers["location"] == "/console/"


def test_the_front_door_sends_a_stranger_to_the_login_page(console: TestClient) -> None:
    answer = console.get("/console/", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"] == "/console/login"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(
    console: TestClient, engine: Engine
) -> None:
    csrf = sign_in(console, "analyst")
    refused = console.post("/console/language", data={"language": "nl"})
    assert refused.status_code == 403
    assert "This form has expired" in refused.text and "Nothing was changed" in refused.text
    wrong = console.post(
        "/console/language", data={"language": "nl"}, headers={"X-CSRF-Token": "forged"}
    )
    assert wrong.status_code == 403
    assert "omnicx_lang" not in console.cookies
    with engine.connect() as connection:
        user = users.find_user(connection, ROLE_EMAILS["analyst"])
    assert user is not None and user.language is None
    # Signing out needs it too: the session is still open.
    assert console.post("/console/logout").status_code == 403
    assert console.get("/console/account").status_code == 200
    # With the token (the form field or htmx's header), the same request is accepted.
    assert (
        console.post(
            "/console/language", data={"language": "nl"}, headers={"X-CSRF-Token": csrf}
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("path", "role"),
    [
        ("/console/login", None),
        ("/console/account", "support"),
        ("/console/no-such-page", "support"),
        ("/console/admin", "support"),  # the 403 page
    ],
)
def test_pages_carry_the_security_headers(console: TestClient, path: str, role: str | None) -> None:
    if role:
        sign_in(console, role)
    page = console.get(path, follow_redirects=False)
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["content-security-policy"]
    for directive in ("default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"):
        assert directive in csp
    scripts = csp.split("script-src")[1].split(";")[0]
    assert "unsafe-eval" not in csp and "unsafe-inline" not in scripts
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["cache-control"] == "no-store"
    assert re.fullmatch(r"app;dur=\d+\.\d", page.headers["server-timing"])


# --------------------------------------------------------------------------- languages


def test_the_browser_language_chooses_persian_right_to_left(console: TestClient) -> None:
    page = console.get("/console/login", headers={"accept-language": "fa-IR,fa;q=0.9,en;q=0.5"})
    assert '<html lang="fa" dir="rtl">' in page.text
    dutch = console.get("/console/login", headers={"accept-language": "nl-BE, en;q=0.8"})
    assert '<html lang="nl" dir="ltr">' in dutch.text
    unknown = console.get("/console/login", headers={"accept-language": "xx, yy;q=0.5"})
    assert '<html lang="en" dir="ltr">' in unknown.text


def test_the_language_picker_sets_the_cookie_and_the_account_language(
    console: TestClient, engine: Engine
) -> None:
    csrf = sign_in(console, "marketer")
    picked = console.post(
        "/console/language",
        data={"language": "fa", "back": "/console/account", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert picked.status_code == 303 and picked.headers["location"] == "/console/account"
    assert attributes(cookie_header(picked, "omnicx_lang"))["path"] == "/console"
    assert console.cookies["omnicx_lang"] == "fa"
    assert '<html lang="fa" dir="rtl">' in console.get("/console/account").text
    with engine.connect() as connection:
        user = users.find_user(connection, ROLE_EMAILS["marketer"])
    assert user is not None and user.language == "fa"
    # Another browser without the cookie: the account's language, whatever the browser says.
    sign_in(console, "marketer")
    assert "omnicx_lang" not in console.cookies
    page = console.get("/console/account", headers={"accept-language": "en-GB"})
    assert '<html lang="fa" dir="rtl">' in page.text
    # Somewhere else to go back to than a console page is ignored.
    away = console.post(
        "/console/language",
        data={
            "language": "en",
            "back": "https://elsewhere.example/",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert away.headers["location"] == "/console/"


def test_an_unknown_language_is_refused(console: TestClient) -> None:
    csrf = sign_in(console, "analyst")
    answer = console.post("/console/language", data={"language": "xx", "csrf_token": csrf})
    assert answer.status_code == 422
    assert "Unknown language" in answer.text


# --------------------------------------------------------------------------- errors


def test_an_unknown_console_page_is_a_404_page_with_the_menu(console: TestClient) -> None:
    anonymous = console.get("/console/no-such-page")
    assert anonymous.status_code == 404 and "<h1>Not found</h1>" in anonymous.text
    sign_in(console, "support")
    page = console.get("/console/no-such-page/at/all")
    assert page.status_code == 404
    assert "<h1>Not found</h1>" in page.text
    assert 'href="/console/customers"' in page.text  # the reader keeps their menu


def test_a_bad_form_value_is_a_422_page_naming_the_field(console: TestClient) -> None:
    csrf = sign_in(console, "admin")
    answer = console.post("/console/language", data={"language": "x" * 40, "csrf_token": csrf})
    assert answer.status_code == 422
    assert "Some values are not valid" in answer.text
    assert "language" in alert_of(answer.text)
    missing = console.post("/console/language", data={"csrf_token": csrf})
    assert missing.status_code == 422 and "language" in alert_of(missing.text)


@pytest.mark.parametrize(
    ("language", "address", "said"),
    [
        ("nl", "/console/admin?user=0", "user: moet minstens 1 zijn; '0' werd opgegeven"),
        ("nl", "/console/admin?user=abc", "user: 'abc' is geen geheel getal"),
        (
            "tr",
            "/console/admin/tokens?done=eaten",
            "done: 'eaten' seçeneklerden biri değil: 'revoked'",
        ),
        ("lv", "/console/admin/audit?action=Bad!", "action: 'Bad!' šeit nevar izmantot"),
        # Right to left: the limit in Persian digits, the value typed isolated.
        ("fa", "/console/admin?user=0", "user: باید دست‌کم ۱ باشد؛ \u2068'0'\u2069 وارد شد"),
    ],
)
def test_a_bad_parameter_is_named_in_the_readers_language(
    console: TestClient, language: str, address: str, said: str
) -> None:
    sign_in(console, "admin", language=language)
    answer = console.get(address)
    assert answer.status_code == 422
    alert = unescape(alert_of(answer.text))
    assert said in alert, alert
    assert "Input should" not in alert and "valid integer" not in alert


def test_the_api_keeps_pydantics_words(console: TestClient, engine: Engine) -> None:
    # Programs get the English whatever the console's reader chose.
    sign_in(console, "admin", language="nl")
    answer = console.get(
        "/api/personas?k=1", headers={**token(engine, "analyst"), "Accept-Language": "nl"}
    )
    assert answer.status_code == 422
    assert "greater than or equal to 2" in answer.json()["message"]


@pytest.mark.parametrize(
    ("language", "said"),
    [
        ("nl", "Dit adres beantwoordt geen POST-verzoeken."),
        ("fa", "این نشانی به درخواست‌های \u2068POST\u2069 پاسخ نمی‌دهد."),
    ],
)
def test_a_page_asked_the_wrong_way_says_so_in_the_readers_language(
    console: TestClient, language: str, said: str
) -> None:
    csrf = sign_in(console, "analyst", language=language)
    answer = console.post("/console/overview", data={"csrf_token": csrf})
    assert answer.status_code == 405
    assert said in answer.text
    assert "Method Not Allowed" not in answer.text
    assert answer.headers["allow"] == "GET"


def test_an_htmx_request_without_a_session_gets_401_and_where_to_sign_in(
    console: TestClient,
) -> None:
    answer = console.get(
        "/console/account",
        headers={
            "HX-Request": "true",
            "HX-Current-URL": "http://testserver/console/overview?days=90",
        },
        follow_redirects=False,
    )
    assert answer.status_code == 401
    assert answer.headers["hx-redirect"] == "/console/login?next=/console/overview%3Fdays%3D90"
    plain = console.get("/console/account", follow_redirects=False)
    assert plain.status_code == 303
    assert plain.headers["location"] == "/console/login?next=/console/account"


def test_signing_in_goes_back_to_the_page_asked_for_and_never_elsewhere(
    console: TestClient,
) -> None:
    token = login_form(console)
    back = console.post(
        "/console/login",
        data={"email": ROLE_EMAILS["analyst"], "password": PASSWORD, "csrf_token": token,
              "next": "/console/account"},
        follow_redirects=False,
    )  # fmt: skip
    assert back.headers["location"] == "/console/account"
    console.cookies.clear()
    for elsewhere in ("https://evil.example/", "//evil.example/", "/console\\..\\x"):
        token = login_form(console)
        answer = console.post(
            "/console/login",
            data={"email": ROLE_EMAILS["analyst"], "password": PASSWORD, "csrf_token": token,
                  "next": elsewhere},
            follow_redirects=False,
        )  # fmt: skip
        assert answer.headers["location"] == "/console/", elsewhere
        console.cookies.clear()


# --------------------------------------------------------------------------- permissions


def _asked(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        found = permission_required_by(dependency.call)
        if found is not None:
            yield found
        yield from _asked(dependency)


def console_routes(app: FastAPI) -> list[tuple[str, str, str | None]]:
    """(method, path, permission) of every console route: the permission its `require(...)`
    asks for, "" for any signed-in reader (`signed_in()`), None when it asks for neither."""
    found = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if not path.startswith("/console") or not isinstance(route.original_route, APIRoute):
            continue
        asked = set(_asked(route.dependant))
        permissions = asked - {""}
        assert len(permissions) <= 1, f"{path} asks for {permissions}"
        permission = next(iter(permissions), "" if asked else None)
        found.extend((method, path, permission) for method in route.methods)
    return sorted(found, key=lambda r: (r[1], r[0]))


def sample_path(path: str) -> str:
    """The path with every parameter given SAMPLE_PARAMETER."""
    return re.sub(r"\{[^}]+\}", SAMPLE_PARAMETER, path)


def test_every_console_route_declares_who_may_use_it() -> None:
    routes = console_routes(create_app(Settings(database_url="sqlite://", run_processing=False)))
    assert len(routes) > 10
    undeclared = [
        (method, path)
        for method, path, permission in routes
        if permission is None and (method, path) not in PUBLIC_ROUTES
    ]
    assert not undeclared, f"console routes without require(...) or signed_in(): {undeclared}"
    known = {permission for _, _, permission in routes if permission}
    assert known <= set(PERMISSIONS)


@pytest.mark.parametrize("role", ROLES)
def test_every_console_route_refuses_the_roles_without_its_permission(
    console: TestClient, role: str
) -> None:
    csrf = sign_in(console, role)
    checked = 0
    for method, path, permission in console_routes(console.app):  # type: ignore[arg-type]
        if not permission:
            continue
        url = sample_path(path)
        answer = console.request(
            method, url, headers={"X-CSRF-Token": csrf}, follow_redirects=False
        )
        where = f"{role}: {method} {url} ({permission})"
        if allows(role, permission):
            assert answer.status_code != 403, where
            assert answer.status_code < 500, f"{where}: {answer.status_code}"
            assert "/console/login" not in answer.headers.get("location", ""), where
        else:
            assert answer.status_code == 403, f"{where}: {answer.status_code}"
            assert "Not allowed" in answer.text and permission in answer.text, where
        checked += 1
    assert checked > 10
    # The walk left the reader signed in (no route ended the session on the way).
    assert console.get("/console/account").status_code == 200
