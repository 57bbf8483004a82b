"""The console's sources section, in-process on SQLite and PostgreSQL: who may see and do
what, adding sources, rotating and disabling keys (audited), the live debugger's events,
rejected events with their reasons, and the copy-paste snippets."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.access import audit
from omnicx.collect import inspection
from omnicx.collect import sources as source_service
from omnicx.collect.emit import system_source_id
from omnicx.collect.processing import SourceActivity, process_available
from omnicx.console.sources_view import masked, masked_text
from omnicx.pipeline import stream_consumers
from tests.collect.helpers import basic
from tests.console.support import ROLE_EMAILS, sign_in

READERS = ("admin", "marketer")
NOT_READERS = ("analyst", "support")
NOT_MANAGERS = ("marketer", "analyst", "support")


def _add(engine: Engine, name: str = "Web shop", channel: str = "web") -> source_service.Source:
    with engine.begin() as connection:
        return source_service.add(connection, name=name, channel=channel)


def _audit(engine: Engine, action: str) -> list[audit.AuditEntry]:
    with engine.connect() as connection:
        return audit.entries(connection, action=action)


def _keys(engine: Engine, source_id: int) -> list[inspection.WriteKeyInfo]:
    with engine.connect() as connection:
        return inspection.valid_keys(connection, [source_id]).get(source_id, [])


def _text(answer: Any) -> str:
    """The page's text without tags, entities decoded and whitespace collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", answer.text)).split())


def _track(client: TestClient, key: str, body: bytes | dict[str, Any]) -> Any:
    if isinstance(body, dict):
        return client.post("/v1/track", json=body, headers=basic(key))
    return client.post(
        "/v1/track", content=body, headers={**basic(key), "Content-Type": "application/json"}
    )


# --- who may see and do what ---------------------------------------------------------------


@pytest.mark.parametrize("role", READERS + NOT_READERS)
def test_pages_render_for_readers_and_refuse_others(
    console: TestClient, engine: Engine, role: str
) -> None:
    source = _add(engine)
    assert (
        _track(console, source.write_keys[0], {"userId": "u1", "event": "Seen"}).status_code == 200
    )
    sign_in(console, role)
    pages = [
        "/console/sources",
        "/console/sources/debugger",
        "/console/sources/debugger/events",
        f"/console/sources/{source.id}/debugger",
        f"/console/sources/{source.id}/debugger/events",
        f"/console/sources/{source.id}/rejected",
        f"/console/sources/{source.id}/snippets",
    ]
    for page in pages:
        answer = console.get(page)
        if role in READERS:
            assert answer.status_code == 200, (page, answer.text[:500])
        else:
            assert answer.status_code == 403, page
            assert "sources.read" in answer.text
    listing = console.get("/console/sources")
    if role in READERS:
        assert "Web shop" in _text(listing)


@pytest.mark.parametrize("role", NOT_MANAGERS)
def test_only_managers_add_rotate_disable_and_enable(
    console: TestClient, engine: Engine, role: str
) -> None:
    source = _add(engine)
    csrf = sign_in(console, role)
    for page in (f"/console/sources/{source.id}/rotate", f"/console/sources/{source.id}/disable"):
        assert console.get(page).status_code == 403
    attempts = [
        ("/console/sources", {"name": "Sneaky", "channel": "web"}),
        (f"/console/sources/{source.id}/rotate", {"grace": "0"}),
        (f"/console/sources/{source.id}/disable", {}),
        (f"/console/sources/{source.id}/enable", {}),
    ]
    for path, form in attempts:
        answer = console.post(path, data={**form, "csrf_token": csrf}, follow_redirects=False)
        assert answer.status_code == 403, path
        assert "sources.manage" in answer.text
    with engine.connect() as connection:
        assert [s.name for s in source_service.list_all(connection)] == ["Web shop"]
        assert source_service.list_all(connection)[0].write_keys == source.write_keys
    assert _audit(engine, "sources") == []
    if role == "marketer":  # sees the sources, but not the actions
        listing = console.get("/console/sources").text
        assert "Add a source" not in listing
        assert f"/console/sources/{source.id}/rotate" not in listing
        assert f"/console/sources/{source.id}/disable" not in listing


def test_state_changes_need_the_csrf_token(console: TestClient, engine: Engine) -> None:
    source = _add(engine)
    sign_in(console, "admin")
    for path, form in [
        ("/console/sources", {"name": "No token", "channel": "web"}),
        (f"/console/sources/{source.id}/rotate", {"grace": "0"}),
        (f"/console/sources/{source.id}/disable", {}),
    ]:
        answer = console.post(path, data=form, follow_redirects=False)
        assert answer.status_code == 403, path
        assert "This form has expired" in answer.text
    assert _keys(engine, source.id)[0].key == source.write_keys[0]
    with engine.connect() as connection:
        assert len(source_service.list_all(connection)) == 1
        assert inspection.get_source(connection, source.id).enabled  # type: ignore[union-attr]


# --- managing sources ----------------------------------------------------------------------


def test_admin_adds_a_source_and_sees_its_key_once_added(
    console: TestClient, engine: Engine
) -> None:
    csrf = sign_in(console, "admin")
    answer = console.post(
        "/console/sources",
        data={"name": "Amsterdam store", "channel": "store_pos", "csrf_token": csrf},
    )
    assert answer.status_code == 201
    with engine.connect() as connection:
        [source] = source_service.list_all(connection, name="Amsterdam store")
    assert source.channel == "store_pos"
    [key] = source.write_keys
    assert key in answer.text
    assert "Source Amsterdam store added" in _text(answer)
    [entry] = _audit(engine, "sources.add")
    assert entry.actor == f"console:{ROLE_EMAILS['admin']}"
    assert entry.target == "Amsterdam store"
    assert entry.detail == {"source_id": source.id, "channel": "store_pos"}
    assert key not in str(entry.detail)  # the audit log holds no secret
    # The new key works at once.
    assert _track(console, key, {"userId": "u1", "event": "Visit"}).status_code == 200


def test_admin_rotates_a_key_after_confirming(console: TestClient, engine: Engine) -> None:
    source = _add(engine)
    old = source.write_keys[0]
    csrf = sign_in(console, "admin")
    confirm = console.get(f"/console/sources/{source.id}/rotate")
    assert confirm.status_code == 200
    assert "Rotate the write key of Web shop?" in _text(confirm)
    assert _keys(engine, source.id)[0].key == old  # asking changes nothing

    answer = console.post(
        f"/console/sources/{source.id}/rotate", data={"grace": "24h", "csrf_token": csrf}
    )
    assert answer.status_code == 200
    keys = _keys(engine, source.id)
    assert [k.key for k in keys][1:] == [old]
    new = keys[0].key
    assert new != old
    assert new in answer.text
    assert keys[0].expires_at is None and keys[1].expires_at is not None
    assert "keeps working for 24 more hours" in _text(answer)
    [entry] = _audit(engine, "sources.rotate")
    assert (entry.actor, entry.target) == (f"console:{ROLE_EMAILS['admin']}", "Web shop")
    assert entry.detail == {"source_id": source.id, "grace_seconds": 86400}
    assert _track(console, new, {"userId": "u1", "event": "A"}).status_code == 200
    assert _track(console, old, {"userId": "u1", "event": "B"}).status_code == 200  # grace

    # Without grace the old keys stop at once (the server forgets its cached answers).
    console.post(f"/console/sources/{source.id}/rotate", data={"grace": "0", "csrf_token": csrf})
    [latest] = _keys(engine, source.id)
    assert _track(console, new, {"userId": "u1", "event": "C"}).status_code == 401
    assert _track(console, latest.key, {"userId": "u1", "event": "D"}).status_code == 200


def test_admin_disables_after_confirming_and_enables(console: TestClient, engine: Engine) -> None:
    source = _add(engine)
    key = source.write_keys[0]
    csrf = sign_in(console, "admin")
    assert _track(console, key, {"userId": "u1", "event": "Before"}).status_code == 200
    confirm = console.get(f"/console/sources/{source.id}/disable")
    assert "Disable Web shop?" in _text(confirm)

    answer = console.post(
        f"/console/sources/{source.id}/disable", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303
    page = console.get(answer.headers["location"])
    assert "The source Web shop is disabled" in _text(page)
    row = re.search(rf'<tr id="source-{source.id}">.*?</tr>', page.text, re.S)
    assert row and "disabled" in row.group(0)
    assert _track(console, key, {"userId": "u1", "event": "During"}).status_code == 403
    [entry] = _audit(engine, "sources.disable")
    assert (entry.actor, entry.target) == (f"console:{ROLE_EMAILS['admin']}", "Web shop")

    answer = console.post(
        f"/console/sources/{source.id}/enable", data={"csrf_token": csrf}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert "is enabled" in _text(console.get(answer.headers["location"]))
    assert _track(console, key, {"userId": "u1", "event": "After"}).status_code == 200
    assert len(_audit(engine, "sources.enable")) == 1


@pytest.mark.parametrize(
    ("form", "field", "says"),
    [
        ({"name": "", "channel": "web"}, "Name", "use 1 to 200 letters"),
        ({"name": "  ", "channel": "web"}, "Name", "use 1 to 200 letters"),
        ({"name": "Web shop", "channel": "web"}, "Name", "already exists"),
        ({"name": "omnicx", "channel": "web"}, "Name", "reserved"),
        ({"name": "Fax", "channel": "fax"}, "Channel", "choose one of the channels"),
        ({"name": "Fax", "channel": "system"}, "Channel", "choose one of the channels"),
    ],
)
def test_adding_refuses_bad_input_naming_the_field(
    console: TestClient, engine: Engine, form: dict[str, str], field: str, says: str
) -> None:
    _add(engine)
    csrf = sign_in(console, "admin")
    answer = console.post("/console/sources", data={**form, "csrf_token": csrf})
    assert answer.status_code == 422
    problems = re.search(r'<div class="notice error" role="alert" id="form-problems">.*?</div>',
                         answer.text, re.S)  # fmt: skip
    assert problems, answer.text[:2000]
    assert field in problems.group(0) and says in problems.group(0)
    assert f'value="{html.escape(form["name"])}"' in answer.text  # what was typed stays
    with engine.connect() as connection:
        assert [s.name for s in source_service.list_all(connection)] == ["Web shop"]
    assert _audit(engine, "sources") == []


def test_bad_grace_and_cursor_are_refused_naming_the_field(
    console: TestClient, engine: Engine
) -> None:
    source = _add(engine)
    csrf = sign_in(console, "admin")
    answer = console.post(
        f"/console/sources/{source.id}/rotate", data={"grace": "3y", "csrf_token": csrf}
    )
    assert answer.status_code == 422
    assert "Old key keeps working for" in _text(answer)
    assert "choose one of the periods" in _text(answer)
    assert [k.key for k in _keys(engine, source.id)] == list(source.write_keys)
    assert _audit(engine, "sources") == []
    for page in (
        f"/console/sources/{source.id}/debugger/events?after=-1",
        "/console/sources/debugger/events?after=soon",
        f"/console/sources/{source.id}/rejected?before=0",
    ):
        answer = console.get(page)
        assert answer.status_code == 422, page
        assert re.search(r"<strong>(after|before)</strong>", answer.text), page


def test_unknown_and_built_in_sources(console: TestClient, engine: Engine) -> None:
    with engine.begin() as connection:
        builtin = system_source_id(connection)
    csrf = sign_in(console, "admin")
    assert console.get("/console/sources/999999/debugger").status_code == 404
    assert console.get("/console/sources/999999/rotate").status_code == 404
    listing = console.get("/console/sources")
    assert "built in" in listing.text
    assert f"/console/sources/{builtin}/rotate" not in listing.text
    for path in (f"/console/sources/{builtin}/rotate", f"/console/sources/{builtin}/disable"):
        answer = console.post(path, data={"grace": "0", "csrf_token": csrf})
        assert answer.status_code == 422
        assert "This source is built in" in answer.text
    assert _audit(engine, "sources") == []


# --- write keys: in full only for those who manage sources ---------------------------------


def test_write_keys_in_full_only_for_managers(console: TestClient, engine: Engine) -> None:
    source = _add(engine)
    key = source.write_keys[0]
    hint = inspection.key_hint(key)

    sign_in(console, "marketer")
    for page in ("/console/sources", f"/console/sources/{source.id}/snippets"):
        text = console.get(page).text
        assert key not in text, page
        assert html.escape(hint) in text or hint in text, page
    snippets = console.get(f"/console/sources/{source.id}/snippets").text
    assert 'writeKey: "WRITE_KEY"' in html.unescape(snippets)
    assert "Your role does not see write keys" in snippets

    sign_in(console, "admin")
    assert key in console.get("/console/sources").text
    snippets = html.unescape(console.get(f"/console/sources/{source.id}/snippets").text)
    assert f'writeKey: "{key}"' in snippets


# --- traffic figures -----------------------------------------------------------------------


def test_the_list_counts_events_today_in_all_and_rejections(
    console: TestClient, engine: Engine
) -> None:
    source = _add(engine)
    key = source.write_keys[0]
    for n in range(3):
        assert _track(console, key, {"userId": f"u{n}", "event": "Visit"}).status_code == 200
    assert _track(console, key, b"{not json").status_code == 400
    process_available(engine, [SourceActivity()])
    sign_in(console, "marketer")
    row = re.search(
        rf'<tr id="source-{source.id}">.*?</tr>', console.get("/console/sources").text, re.S
    )
    assert row
    numbers = re.findall(r'<td class="number">(?:<a [^>]*>)?([^<]*)<', row.group(0))
    assert numbers == ["3", "3", "1"]  # today, in all, rejected in the last 24 hours


# --- the live debugger ---------------------------------------------------------------------


def test_the_debugger_lists_sent_events_newest_first_and_polls_after_them(
    console: TestClient, engine: Engine
) -> None:
    source = _add(engine)
    other = _add(engine, "Till", "store_pos")
    key = source.write_keys[0]
    sign_in(console, "marketer")
    page = console.get(f"/console/sources/{source.id}/debugger")
    assert "No events from this source yet" in page.text
    assert f'hx-get="/console/sources/{source.id}/debugger/events?after=0"' in page.text
    assert 'hx-trigger="every 2s"' in page.text

    sent = {
        "userId": "user-42",
        "event": "Order Completed",
        "messageId": "msg-debugger-1",
        "properties": {"revenue": 42.5},
        "context": {"library": {"name": "test"}},
    }
    assert _track(console, key, sent).status_code == 200
    assert (
        _track(console, key, {**sent, "messageId": "msg-2", "event": "Refund"}).status_code == 200
    )
    assert (
        _track(
            console, other.write_keys[0], {**sent, "messageId": "till-1", "event": "Till sale"}
        ).status_code
        == 200
    )

    fragment = console.get(f"/console/sources/{source.id}/debugger/events?after=0")
    assert fragment.status_code == 200
    text = html.unescape(fragment.text)
    assert text.index("Refund") < text.index("Order Completed")  # newest on top
    assert "Till sale" not in text
    assert "msg-debugger-1" in text and "user-42" in text
    assert '"revenue": 42.5' in text and '"receivedAt"' in text and '"library"' in text
    polled = re.search(r'hx-get="[^"]*\?after=(\d+)"[^>]*hx-swap-oob="true"', fragment.text)
    assert polled, fragment.text[-500:]
    # Asked again after the newest: nothing new, nothing to swap.
    cursor = int(polled.group(1))
    assert (
        console.get(f"/console/sources/{source.id}/debugger/events?after={cursor}").status_code
        == 204
    )
    assert _track(console, key, {**sent, "messageId": "msg-3", "event": "Later"}).status_code == 200
    newer = html.unescape(
        console.get(f"/console/sources/{source.id}/debugger/events?after={cursor}").text
    )
    assert "Later" in newer and "Refund" not in newer

    everything = html.unescape(console.get("/console/sources/debugger").text)
    assert "Till sale" in everything and "Later" in everything
    assert everything.index("Later") < everything.index("Till sale") < everything.index("Refund")


# --- rejected events -----------------------------------------------------------------------


def test_a_rejected_request_appears_with_its_reason(console: TestClient, engine: Engine) -> None:
    source = _add(engine)
    key = source.write_keys[0]
    sign_in(console, "marketer")
    empty = console.get(f"/console/sources/{source.id}/rejected")
    assert "No rejected events" in empty.text

    assert _track(console, key, b'{"userId": "u1", "event": ').status_code == 400
    assert _track(console, key, {"event": "Nobody", "properties": {"a": 1}}).status_code == 400
    page = console.get(f"/console/sources/{source.id}/rejected")
    assert page.status_code == 200
    rows = re.findall(r'<tr id="rejection-\d+">.*?</tr>', page.text, re.S)
    assert len(rows) == 2
    newest, oldest = (" ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows)
    assert "missing_identity" in newest and "userId or an anonymousId" in newest
    assert "body" in newest and '"event": "Nobody"' in newest
    assert "invalid_json" in oldest and "the whole request" in oldest
    assert '{"userId": "u1", "event":' in oldest


def test_rejected_events_page_through_older_ones(console: TestClient, engine: Engine) -> None:
    source = _add(engine)
    key = source.write_keys[0]
    for n in range(55):
        _track(console, key, {"event": f"Bad {n}"})
    sign_in(console, "admin")
    first = console.get(f"/console/sources/{source.id}/rejected")
    assert len(re.findall(r'<tr id="rejection-', first.text)) == 50
    assert "Bad 54" in first.text and "Bad 4&#34;" not in first.text
    older = re.search(r'href="(/console/sources/\d+/rejected\?before=\d+)"', first.text)
    assert older
    second = console.get(older.group(1))
    assert len(re.findall(r'<tr id="rejection-', second.text)) == 5
    assert "Bad 0" in second.text and "Bad 54" not in second.text


# --- snippets ------------------------------------------------------------------------------


def test_snippets_send_to_this_server(console: TestClient, engine: Engine) -> None:
    source = _add(engine, "Back office", "crm")
    key = source.write_keys[0]
    sign_in(console, "admin")
    page = html.unescape(console.get(f"/console/sources/{source.id}/snippets").text)
    assert 'cdnURL: "http://testserver"' in page
    assert f'Client("{key}", host="http://testserver")' in page
    assert "from segment.analytics import Client" in page
    assert "from rudderstack.analytics import Client" in page
    assert f"curl -u {key}: http://testserver/v1/track" in page
    assert f"curl -u {key}: http://testserver/v1/import" in page
    assert "omnicx import receipts.csv --source 'Back office'" in page


# --- personal data in payloads -------------------------------------------------------------


def test_payloads_mask_personal_data_for_roles_without_it() -> None:
    message = {
        "userId": "u1",
        "traits": {"email": "ada@example.com", "phone": "+31612345678", "plan": "gold"},
        "context": {"note": "write to bob@example.org please"},
    }
    hidden = masked(message)
    assert hidden["traits"] == {"email": "a•••@e•••.com", "phone": "+31•••••••78", "plan": "gold"}
    assert hidden["context"]["note"] == "write to b•••@e•••.org please"
    assert masked_text("no address here") == "no address here"


def test_the_list_says_how_far_processing_is(console: TestClient, engine: Engine) -> None:
    source = _add(engine)
    for n in range(3):
        answer = _track(console, source.write_keys[0], {"userId": f"u{n}", "event": "Visit"})
        assert answer.status_code == 200
    sign_in(console, "marketer")
    behind = _text(console.get("/console/sources"))
    # Nothing processed yet: the first step holds up the others.
    assert re.search(
        r"Processing has [\d,]+ events left to handle; the step furthest behind: counting "
        r"events per source\.",
        behind,
    ), behind
    sign_in(console, "marketer", language="lv")
    assert "Vēl jāapstrādā" in _text(console.get("/console/sources"))
    process_available(engine, stream_consumers())
    sign_in(console, "marketer")
    assert "Processing is up to date" in _text(console.get("/console/sources"))
