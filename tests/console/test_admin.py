"""Administration in the console (server side, SQLite and PostgreSQL): console users, API
tokens and the audit log; every change audited as `console:EMAIL`, refused forms change
nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.access import audit, users
from omnicx.access import service as tokens
from omnicx.access.users import User
from tests.console.support import PASSWORD, ROLE_EMAILS, csrf_of, sign_in

ADMIN_ACTOR = f"console:{ROLE_EMAILS['admin']}"
PAGES = ("/console/admin", "/console/admin/tokens", "/console/admin/audit")
NEW_PASSWORD = "a-brand-new-passphrase"


def user(engine: Engine, email: str) -> User | None:
    with engine.connect() as connection:
        return users.find_user(connection, email)


def entries(engine: Engine, **filters: Any) -> list[audit.AuditEntry]:
    with engine.connect() as connection:
        return audit.entries(connection, limit=1000, **filters)


def alert(html: str) -> str:
    """The text of the page's error notice."""
    found = re.search(r'<div class="notice error" role="alert">(.*?)</div>', html, re.S)
    assert found, "no error notice on the page"
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def can_sign_in(app_client: TestClient, email: str, password: str) -> bool:
    """Tries the login form in a browser of its own."""
    other = TestClient(app_client.app, base_url="http://testserver")
    form = other.get("/console/login")
    answer = other.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    return answer.status_code == 303


def user_id(engine: Engine, role: str) -> int:
    found = user(engine, ROLE_EMAILS[role])
    assert found is not None
    return found.id


@pytest.mark.parametrize("role", ["admin", "marketer", "analyst", "support"])
def test_only_admins_open_the_administration(console: TestClient, role: str) -> None:
    sign_in(console, role)
    for path in PAGES:
        page = console.get(path)
        if role == "admin":
            assert page.status_code == 200, path
            assert "<h1>Administration</h1>" in page.text
        else:
            assert page.status_code == 403, path
            assert "users.manage" in page.text
    menu = console.get("/console/account").text
    assert ('href="/console/admin"' in menu) == (role == "admin")


def test_the_users_page_lists_everyone_with_their_role(console: TestClient) -> None:
    sign_in(console, "admin")
    page = console.get("/console/admin").text
    for role, email in ROLE_EMAILS.items():
        row = re.search(
            rf'<tr id="user-\d+" data-email="{re.escape(email)}">(.*?)</tr>', page, re.S
        )
        assert row, email
        if role == "admin":  # one's own role is not a form
            assert "you" in row.group(1) and "/role" not in row.group(1)
        else:
            assert re.search(rf'<option value="{role}" selected>', row.group(1))


def test_adding_a_user_lets_them_sign_in_and_is_audited(
    console: TestClient, engine: Engine
) -> None:
    csrf = sign_in(console, "admin")
    added = console.post(
        "/console/admin/users",
        data={"email": " Grace@Example.com ", "name": "Grace", "role": "analyst",
              "password": NEW_PASSWORD, "csrf_token": csrf},
    )  # fmt: skip
    assert added.status_code == 200
    assert "grace@example.com was added and can sign in now." in added.text
    created = user(engine, "grace@example.com")
    assert created is not None and created.role == "analyst" and created.name == "Grace"
    assert can_sign_in(console, "grace@example.com", NEW_PASSWORD)
    (entry,) = entries(engine, action="users.add")[:1]
    assert (entry.actor, entry.target) == (ADMIN_ACTOR, "grace@example.com")
    assert entry.detail == {"role": "analyst", "name": "Grace"}


@pytest.mark.parametrize(
    ("form", "field", "words"),
    [
        ({"email": "not-an-address"}, "E-mail address", "not a valid e-mail address"),
        ({"email": ROLE_EMAILS["support"]}, "E-mail address", "already exists"),
        ({"password": "too-short"}, "Password", "at least 10 characters"),
        ({"role": "owner"}, "Role", "Choose one of the roles"),
    ],
)
def test_a_user_form_that_cannot_be_used_names_the_field_and_adds_nobody(
    console: TestClient, engine: Engine, form: dict[str, str], field: str, words: str
) -> None:
    csrf = sign_in(console, "admin")
    before = (len(entries(engine)), _count_users(engine))
    data = {"email": "ada@example.com", "role": "marketer", "password": NEW_PASSWORD, **form}
    answer = console.post("/console/admin/users", data={**data, "csrf_token": csrf})
    assert answer.status_code == 422
    problem = alert(answer.text)
    assert f"{field}:" in problem and words in problem, problem
    assert (len(entries(engine)), _count_users(engine)) == before
    assert f'value="{data["email"]}"' in answer.text  # what was typed is kept
    assert NEW_PASSWORD not in answer.text  # a password is not


def test_a_missing_field_is_a_422_naming_it(console: TestClient, engine: Engine) -> None:
    csrf = sign_in(console, "admin")
    answer = console.post(
        "/console/admin/users", data={"email": "x@example.com", "csrf_token": csrf}
    )
    assert answer.status_code == 422
    assert "role" in answer.text and "password" in answer.text
    assert user(engine, "x@example.com") is None


def _count_users(engine: Engine) -> int:
    with engine.connect() as connection:
        return len(users.list_users(connection))


def test_changes_without_the_csrf_token_are_refused(console: TestClient, engine: Engine) -> None:
    sign_in(console, "admin")
    marketer = user_id(engine, "marketer")
    before = len(entries(engine))
    for path, data in [
        ("/console/admin/users", {"email": "z@example.com", "role": "admin",
                                  "password": NEW_PASSWORD}),
        (f"/console/admin/users/{marketer}/role", {"role": "admin"}),
        (f"/console/admin/users/{marketer}/disable", {}),
        (f"/console/admin/users/{marketer}/password", {"password": NEW_PASSWORD}),
        ("/console/admin/tokens", {"role": "admin", "name": "sneaky"}),
    ]:  # fmt: skip
        answer = console.post(path, data=data)
        assert answer.status_code == 403, path
        assert "This form has expired" in answer.text
    assert len(entries(engine)) == before
    found = user(engine, ROLE_EMAILS["marketer"])
    assert found is not None and found.role == "marketer" and found.active
    assert can_sign_in(console, ROLE_EMAILS["marketer"], PASSWORD)
    with engine.connect() as connection:
        assert tokens.list_tokens(connection) == []


def test_changing_a_role_applies_at_once_and_is_audited(
    console: TestClient, engine: Engine
) -> None:
    analyst = TestClient(console.app, base_url="http://testserver")
    sign_in(analyst, "analyst")
    assert analyst.get("/console/admin").status_code == 403
    csrf = sign_in(console, "admin")
    changed = console.post(
        f"/console/admin/users/{user_id(engine, 'analyst')}/role",
        data={"role": "admin", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    assert (
        "analyst@example.com now has the role admin."
        in console.get(changed.headers["location"]).text
    )
    # The analyst's open session has the new role's permissions on its next request.
    assert analyst.get("/console/admin").status_code == 200
    entry = entries(engine, action="users.role")[0]
    assert (entry.actor, entry.target) == (ADMIN_ACTOR, ROLE_EMAILS["analyst"])
    assert entry.detail == {"from": "analyst", "to": "admin"}


def test_nobody_changes_their_own_role_or_disables_themselves(
    console: TestClient, engine: Engine
) -> None:
    csrf = sign_in(console, "admin")
    me = user_id(engine, "admin")
    for path, data in [(f"/console/admin/users/{me}/role", {"role": "support"}),
                       (f"/console/admin/users/{me}/disable", {})]:  # fmt: skip
        answer = console.post(path, data={**data, "csrf_token": csrf})
        assert answer.status_code == 422
        assert "You cannot change your own role or disable your own account" in alert(answer.text)
    found = user(engine, ROLE_EMAILS["admin"])
    assert found is not None and found.role == "admin" and found.active
    assert entries(engine, action="users") == entries(engine, action="users.add")


def test_an_unknown_user_is_a_404(console: TestClient) -> None:
    csrf = sign_in(console, "admin")
    for action in ("role", "disable", "enable", "password"):
        answer = console.post(
            f"/console/admin/users/424242/{action}",
            data={"role": "analyst", "csrf_token": csrf},
        )
        assert answer.status_code == 404, action
        assert "Not found" in answer.text


def test_disabling_signs_the_user_out_and_enabling_lets_them_back(
    console: TestClient, engine: Engine
) -> None:
    support = TestClient(console.app, base_url="http://testserver")
    sign_in(support, "support")
    csrf = sign_in(console, "admin")
    supporter = user_id(engine, "support")
    disabled = console.post(f"/console/admin/users/{supporter}/disable", data={"csrf_token": csrf})
    assert disabled.status_code == 200
    assert "support@example.com can no longer sign in; their sessions have ended." in (
        disabled.text
    )
    assert support.get("/console/customers", follow_redirects=False).status_code == 303
    assert not can_sign_in(console, ROLE_EMAILS["support"], PASSWORD)
    row = re.search(rf'<tr id="user-{supporter}".*?</tr>', disabled.text, re.S)
    assert row and "disabled" in row.group(0) and "/enable" in row.group(0)
    enabled = console.post(f"/console/admin/users/{supporter}/enable", data={"csrf_token": csrf})
    assert "support@example.com can sign in again." in enabled.text
    assert can_sign_in(console, ROLE_EMAILS["support"], PASSWORD)
    done = [(e.action, e.actor, e.target) for e in entries(engine, action="users")][:2]
    assert done == [
        ("users.enable", ADMIN_ACTOR, ROLE_EMAILS["support"]),
        ("users.disable", ADMIN_ACTOR, ROLE_EMAILS["support"]),
    ]


def test_resetting_a_password_to_a_typed_one(console: TestClient, engine: Engine) -> None:
    marketer = TestClient(console.app, base_url="http://testserver")
    sign_in(marketer, "marketer")
    csrf = sign_in(console, "admin")
    answer = console.post(
        f"/console/admin/users/{user_id(engine, 'marketer')}/password",
        data={"password": NEW_PASSWORD, "csrf_token": csrf},
    )
    assert answer.status_code == 200
    assert "marketer@example.com has a new password; their sessions have ended." in answer.text
    assert NEW_PASSWORD not in answer.text
    assert marketer.get("/console/account", follow_redirects=False).status_code == 303
    assert not can_sign_in(console, ROLE_EMAILS["marketer"], PASSWORD)
    assert can_sign_in(console, ROLE_EMAILS["marketer"], NEW_PASSWORD)
    entry = entries(engine, action="users.password")[0]
    assert (entry.actor, entry.target) == (ADMIN_ACTOR, ROLE_EMAILS["marketer"])
    assert NEW_PASSWORD not in str(entry)
    short = console.post(
        f"/console/admin/users/{user_id(engine, 'marketer')}/password",
        data={"password": "short", "csrf_token": csrf},
    )
    assert short.status_code == 422 and "Password:" in alert(short.text)


def test_resetting_a_password_generates_one_shown_once(console: TestClient, engine: Engine) -> None:
    csrf = sign_in(console, "admin")
    answer = console.post(
        f"/console/admin/users/{user_id(engine, 'analyst')}/password", data={"csrf_token": csrf}
    )
    assert answer.status_code == 200
    shown = re.search(r'<code class="secret" id="generated-password">([^<]+)</code>', answer.text)
    assert shown
    generated = shown.group(1)
    assert len(generated) >= 20
    assert can_sign_in(console, ROLE_EMAILS["analyst"], generated)
    assert generated not in console.get("/console/admin").text
    assert all(generated not in str(entry) for entry in entries(engine))


# --------------------------------------------------------------------------- tokens


def test_a_token_is_shown_once_works_and_is_revoked(console: TestClient, engine: Engine) -> None:
    csrf = sign_in(console, "admin")
    created = console.post(
        "/console/admin/tokens", data={"name": "CRM export", "role": "analyst", "csrf_token": csrf}
    )
    assert created.status_code == 200
    shown = re.search(r'id="new-token" class="secret" type="text" readonly value="(ocx_[^"]+)"',
                      created.text)  # fmt: skip
    assert shown
    plaintext = shown.group(1)
    assert "it is shown only this once" in created.text
    assert console.get("/api/whoami", headers={"Authorization": f"Bearer {plaintext}"}).json() == {
        "role": "analyst",
        "name": "CRM export",
    }
    listing = console.get("/console/admin/tokens").text
    assert plaintext not in listing and plaintext[:8] in listing and "CRM export" in listing
    with engine.connect() as connection:
        (token,) = tokens.list_tokens(connection)
    revoked = console.post(f"/console/admin/tokens/{token.id}/revoke", data={"csrf_token": csrf})
    assert "The token CRM export was revoked: it no longer opens the API." in revoked.text
    with engine.connect() as connection:
        assert tokens.authenticate(connection, plaintext) is None
    done = [(e.action, e.actor, e.target) for e in entries(engine, action="tokens")]
    assert done == [
        ("tokens.revoke", ADMIN_ACTOR, f"token {token.id} (CRM export)"),
        ("tokens.create", ADMIN_ACTOR, f"token {token.id} (CRM export)"),
    ]
    assert all(plaintext not in str(entry) for entry in entries(engine))


def test_a_token_form_that_cannot_be_used_names_the_field(
    console: TestClient, engine: Engine
) -> None:
    csrf = sign_in(console, "admin")
    answer = console.post(
        "/console/admin/tokens", data={"name": "x", "role": "root", "csrf_token": csrf}
    )
    assert answer.status_code == 422 and "Role:" in alert(answer.text)
    assert (
        console.post("/console/admin/tokens/424242/revoke", data={"csrf_token": csrf}).status_code
        == 404
    )
    with engine.connect() as connection:
        assert tokens.list_tokens(connection) == []
    assert entries(engine, action="tokens") == []


# --------------------------------------------------------------------------- audit log


def _rows(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="audit-(\d+)">', html)]


def test_the_audit_log_pages_newest_first_with_a_cursor(
    console: TestClient, engine: Engine
) -> None:
    with engine.begin() as connection:
        for n in range(60):
            audit.record(connection, actor="cli", action="sources.rotate", target=f"source {n}")
    sign_in(console, "admin")
    first = console.get("/console/admin/audit")
    shown = _rows(first.text)
    everything = [entry.id for entry in entries(engine)]
    assert len(everything) == 64  # 4 users of the fixtures, 60 rotations
    assert shown == everything[:50]
    older = re.search(r'rel="next" href="([^"]+)"', first.text)
    assert older and older.group(1) == f"/console/admin/audit?before={shown[-1]}"
    second = console.get(older.group(1).replace("&amp;", "&"))
    assert _rows(second.text) == everything[50:]
    assert 'rel="next"' not in second.text
    assert "Newest entries" in second.text
    assert "source 59" in first.text and "source 0" not in first.text


def test_the_audit_log_filters_by_action_or_area(console: TestClient, engine: Engine) -> None:
    with engine.begin() as connection:
        for n in range(55):
            audit.record(connection, actor="cli", action="sources.rotate", target=f"s{n}")
        audit.record(connection, actor="cli", action="sources.add", target="pos")
    sign_in(console, "admin")
    added = console.get("/console/admin/audit", params={"action": "users.add"})
    assert len(_rows(added.text)) == 4
    assert "<code>users.add</code>" in added.text and "sources.rotate</code>" not in added.text
    area = console.get("/console/admin/audit", params={"action": "sources"})
    assert len(_rows(area.text)) == 50
    older = re.search(r'rel="next" href="([^"]+)"', area.text)
    assert older and "action=sources" in older.group(1)
    rest = console.get(older.group(1).replace("&amp;", "&"))
    assert len(_rows(rest.text)) == 6 and "users.add</code>" not in rest.text
    none = console.get("/console/admin/audit", params={"action": "profiles.erase"})
    assert "No entry for profiles.erase." in none.text


@pytest.mark.parametrize(
    ("query", "field"), [({"action": "Drop Table!"}, "action"), ({"before": "0"}, "before")]
)
def test_a_bad_audit_filter_is_a_422_naming_it(
    console: TestClient, query: dict[str, str], field: str
) -> None:
    sign_in(console, "admin")
    answer = console.get("/console/admin/audit", params=query)
    assert answer.status_code == 422
    assert field in alert(answer.text)
