"""The customers section in-process, on SQLite and PostgreSQL: search by identifier and by
name, the customer 360 with its timeline, masking, undo merge, consent, export and erasure,
each for the roles allowed and refused to the others."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from omnicx.access import audit
from omnicx.audiences import scoring_store
from omnicx.identity import service as identity
from omnicx.profiles import service
from tests.audiences.live import LiveShop
from tests.console.support import sign_in
from tests.profiles.helpers import identify, page, track

ROLES = ("admin", "marketer", "analyst", "support")
EMAIL = "ayse.yilmaz@example.com"
PHONE = "+905321234567"
RETAIL: dict[str, Any] = {
    "key": "retail",
    "name": "Shoppers",
    "rules": [{"id": "order", "points": 10, "when": {"event": "Order Completed"}}],
    "stages": [{"stage": "customer", "min": 10}],
}


@pytest.fixture
def shop(engine: Engine, console: TestClient) -> LiveShop:
    """Ayşe, known on the web, by e-mail and in store, in a segment and with a lead score;
    Ahmet; and an anonymous browser that Ayşe signs in on later (a merge)."""
    found = LiveShop(engine, lake=False)
    with engine.begin() as connection:
        scoring_store.save_model(connection, RETAIL, actor="test")
    found.define("buyers", {"event": "Order Completed"}, name="Buyers")
    found.send(
        "crm",
        identify(
            "u-1",
            traits={"firstName": "Ayşe", "lastName": "Yılmaz", "email": EMAIL, "phone": PHONE},
        ),
        identify("u-2", traits={"firstName": "Ahmet", "lastName": "Yıldız"}),
    )
    found.send("web", *(page(f"Page {n}", "u-1", days=n / 100) for n in range(56)))
    found.send("email", track("Email Opened", "u-1", {"subject": "Hello"}, days=1))
    found.send("store_pos", track("Order Completed", "u-1", {"order_id": "R-1", "total": 80}))
    found.send("web", page("Home", anonymous_id="browser-9", days=2))
    return found


def _merge(shop: LiveShop) -> tuple[str, str, int]:
    """Ayşe signs in on browser-9: (her profile, the browser's old profile, the merge id)."""
    old = shop.profile_id("anonymous_id", "browser-9")
    shop.send("web", identify("u-1", "browser-9", days=3))
    current = shop.profile_id("user_id", "u-1")
    with shop.engine.connect() as connection:
        merge = next(c for c in identity.changes_of(connection, current) if c.kind == "merged")
    return current, old, merge.id


def _audit(engine: Engine, action: str) -> list[audit.AuditEntry]:
    with engine.connect() as connection:
        return audit.entries(connection, action=action)


@pytest.mark.parametrize("role", ROLES)
def test_every_role_that_reads_profiles_sees_search_360_and_timeline(
    console: TestClient, shop: LiveShop, role: str
) -> None:
    sign_in(console, role)
    profile_id = shop.profile_id("user_id", "u-1")
    assert console.get("/console/customers").status_code == 200
    found = console.get("/console/customers", params={"q": "ayş"})
    assert found.status_code == 200 and "Ayşe Yılmaz" in found.text
    page_ = console.get(f"/console/customers/{profile_id}")
    assert page_.status_code == 200, page_.text
    assert "Ayşe Yılmaz" in page_.text
    more = re.search(r'hx-get="([^"]+)" hx-trigger="revealed"', page_.text)
    assert more, "the first page of the timeline has a loader for the next"
    rest = console.get(more.group(1).replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert rest.status_code == 200 and "<html" not in rest.text
    # 56 pages, one e-mail, one order, one identify, omnicx's segment entered and lead stage
    # changed: 50 first, the rest after.
    assert page_.text.count('<li class="event">') == 50
    assert rest.text.count('<li class="event">') == 11
    assert "revealed" not in rest.text and "first event" in rest.text


def test_signed_out_readers_are_sent_to_sign_in(console: TestClient, shop: LiveShop) -> None:
    console.cookies.clear()
    answer = console.get("/console/customers?q=x", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/login?next=/console/customers")


@pytest.mark.parametrize(
    ("text", "by"),
    [(EMAIL.upper(), "any"), (PHONE, "phone"), ("u-1", "any"), ("0532 123 45 67", "phone")],
)
def test_an_exact_identifier_opens_the_customer(
    console: TestClient, shop: LiveShop, text: str, by: str
) -> None:
    sign_in(console, "support")
    answer = console.get("/console/customers", params={"q": text, "by": by}, follow_redirects=False)
    if text.startswith("0532"):  # a national number: no region is configured to read it
        assert answer.status_code == 422 and "Phone number" in answer.text
        return
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"] == f"/console/customers/{shop.profile_id('user_id', 'u-1')}"


def test_a_name_lists_everyone_it_starts_and_a_profile_id_opens_one(
    console: TestClient, shop: LiveShop
) -> None:
    sign_in(console, "marketer")
    listed = console.get("/console/customers", params={"q": "yil"})
    assert listed.status_code == 200
    assert "2 customers found" in listed.text
    assert "Ayşe Yılmaz" in listed.text and "Ahmet Yıldız" in listed.text
    assert EMAIL in listed.text  # a marketer sees personal data
    by_name = console.get("/console/customers", params={"q": "u-1", "by": "name"})
    assert "No customer matches" in by_name.text
    profile_id = shop.profile_id("user_id", "u-2")
    opened = console.get(
        "/console/customers", params={"q": profile_id.upper()}, follow_redirects=False
    )
    assert opened.headers["location"] == f"/console/customers/{profile_id}"


def test_bad_search_input_names_the_field(console: TestClient, shop: LiveShop) -> None:
    sign_in(console, "analyst")
    kind = console.get("/console/customers", params={"q": "x", "by": "passport"})
    assert kind.status_code == 422
    assert "Search by" in kind.text and "Choose one of the kinds of search listed" in kind.text
    phone = console.get("/console/customers", params={"q": "not a number", "by": "phone"})
    assert phone.status_code == 422 and (
        "This is not a usable value for this type of identifier (Phone number)" in phone.text
    )
    long = console.get("/console/customers", params={"q": "x" * 201})
    assert long.status_code == 422 and "q" in long.text


def test_analysts_see_personal_data_masked(console: TestClient, shop: LiveShop) -> None:
    profile_id = shop.profile_id("user_id", "u-1")
    sign_in(console, "analyst")
    listed = console.get("/console/customers", params={"q": "ayse"})
    page_ = console.get(f"/console/customers/{profile_id}")
    timeline = console.get(f"/console/customers/{profile_id}/timeline")
    for answer in (listed, page_, timeline):
        assert answer.status_code == 200
        assert EMAIL not in answer.text and PHONE not in answer.text
    assert "a•••@e•••.com" in listed.text and "a•••@e•••.com" in page_.text
    assert "+90••••••••67" in page_.text
    sign_in(console, "support")
    assert EMAIL in console.get(f"/console/customers/{profile_id}").text


def test_the_360_page_shows_every_part_of_the_profile(console: TestClient, shop: LiveShop) -> None:
    profile_id = shop.profile_id("user_id", "u-1")
    sign_in(console, "marketer")
    text = console.get(f"/console/customers/{profile_id}").text
    for expected in (
        "E-mail address",  # identities by type
        "u-1",
        "firstName",  # traits with their source
        ">crm<",
        "Buyers",  # segment
        "Shoppers",  # lead score and stage
        ">customer<",
        "Order R-1",  # last order
        "channel-store_pos",  # channels used, with icons
        "Email Opened",  # the timeline
    ):
        assert expected in text, expected
    assert "Undo merge" not in text and "Erase this customer" not in text  # a marketer


def test_the_timeline_filters_by_channel_and_type(console: TestClient, shop: LiveShop) -> None:
    profile_id = shop.profile_id("user_id", "u-1")
    sign_in(console, "analyst")
    email = console.get(f"/console/customers/{profile_id}", params={"channel": "email"})
    assert email.text.count('<li class="event">') == 1 and "Email Opened" in email.text
    orders = console.get(f"/console/customers/{profile_id}", params={"type": "Order Completed"})
    assert orders.text.count('<li class="event">') == 1 and "R-1" in orders.text
    pages = console.get(f"/console/customers/{profile_id}/timeline", params={"type": "page"})
    assert pages.text.count('<li class="event">') == 50 and "<html" in pages.text
    bad = console.get(f"/console/customers/{profile_id}", params={"channel": "fax"})
    assert bad.status_code == 422 and "Channel" in bad.text
    cursor = console.get(f"/console/customers/{profile_id}/timeline", params={"cursor": "nope"})
    assert cursor.status_code == 422 and "Timeline position" in cursor.text
    assert console.get("/console/customers/no-such-profile").status_code == 404


def test_a_merged_away_id_leads_to_the_surviving_profile(
    console: TestClient, shop: LiveShop
) -> None:
    current, old, _ = _merge(shop)
    assert old != current
    sign_in(console, "analyst")
    answer = console.get(f"/console/customers/{old}?channel=web", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/console/customers/{current}?channel=web"


def test_support_undoes_a_merge_and_sees_the_result(console: TestClient, shop: LiveShop) -> None:
    current, _, merge_id = _merge(shop)
    url = f"/console/customers/{current}/merges/{merge_id}/undo"
    for role in ("marketer", "analyst"):
        csrf = sign_in(console, role)
        assert console.post(url, data={"csrf_token": csrf}).status_code == 403
    csrf = sign_in(console, "support")
    page_ = console.get(f"/console/customers/{current}").text
    assert "Undo merge" in page_ and f"/merges/{merge_id}/undo" in page_
    assert console.post(url).status_code == 403  # no CSRF token
    assert console.post(url, data={"csrf_token": "forged"}).status_code == 403
    assert shop.profile_id("anonymous_id", "browser-9") == current

    done = console.post(url, data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303, done.text
    restored = shop.profile_id("anonymous_id", "browser-9")
    assert restored != current
    assert done.headers["location"].startswith(f"/console/customers/{current}?done=unmerged")
    shown = console.get(done.headers["location"])
    assert "The merge was undone" in shown.text and f"/console/customers/{restored}" in shown.text
    assert "Merge undone" in shown.text
    [entry] = _audit(shop.engine, "profiles.unmerge")
    assert entry.actor == "console:support@example.com"
    assert entry.target == f"change:{merge_id}"
    assert entry.detail["restored_profile_id"] == restored
    again = console.post(url, data={"csrf_token": csrf})
    assert again.status_code == 409 and "was already undone" in again.text


def test_a_consent_change_is_recorded_and_audited(console: TestClient, shop: LiveShop) -> None:
    profile_id = shop.profile_id("user_id", "u-1")
    url = f"/console/customers/{profile_id}/consents"
    form = {"channel": "sms", "purpose": "marketing", "granted": "no", "note": "called us"}
    csrf = sign_in(console, "analyst")
    assert console.post(url, data={**form, "csrf_token": csrf}).status_code == 403
    csrf = sign_in(console, "marketer")
    assert console.post(url, data=form).status_code == 403  # no CSRF token
    bad = console.post(url, data={**form, "purpose": "spam", "granted": "", "csrf_token": csrf})
    assert bad.status_code == 422
    assert "Purpose" in bad.text and "Choose one of the purposes listed" in bad.text
    assert "Choose whether the customer gives or withdraws consent" in bad.text
    assert _audit(shop.engine, "profiles.consent") == []

    done = console.post(url, data={**form, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    with shop.engine.connect() as connection:
        consents = service.consents(connection, profile_id).consents
    sms = next(c for c in consents if (c.channel, c.purpose) == ("sms", "marketing"))
    assert (sms.granted, sms.actor, sms.note) == (
        False,
        "console:marketer@example.com",
        "called us",
    )
    shown = console.get(done.headers["location"]).text
    assert "The consent was recorded" in shown and "called us" in shown
    [entry] = _audit(shop.engine, "profiles.consent")
    assert entry.detail == {"channel": "sms", "purpose": "marketing", "granted": False}


@pytest.mark.parametrize("role", ["marketer", "analyst", "support"])
def test_only_admins_export_or_erase(console: TestClient, shop: LiveShop, role: str) -> None:
    profile_id = shop.profile_id("user_id", "u-1")
    csrf = sign_in(console, role)
    assert "Erase this customer" not in console.get(f"/console/customers/{profile_id}").text
    export = console.post(f"/console/customers/{profile_id}/export", data={"csrf_token": csrf})
    erase = console.post(
        f"/console/customers/{profile_id}/erase", data={"csrf_token": csrf, "confirm": EMAIL}
    )
    assert (export.status_code, erase.status_code) == (403, 403)
    assert shop.profile_id("user_id", "u-1") == profile_id


def test_an_admin_exports_a_customer_as_json(console: TestClient, shop: LiveShop) -> None:
    profile_id = shop.profile_id("user_id", "u-1")
    csrf = sign_in(console, "admin")
    url = f"/console/customers/{profile_id}/export"
    assert console.post(url).status_code == 403  # no CSRF token
    answer = console.post(url, data={"csrf_token": csrf})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert "attachment" in answer.headers["content-disposition"]
    document = answer.json()
    assert document["profile"]["id"] == profile_id
    assert len(document["events"]) == 61
    [entry] = _audit(shop.engine, "profiles.export")
    assert (entry.actor, entry.target) == ("console:admin@example.com", f"profile:{profile_id}")


def test_an_admin_erases_a_customer_after_typing_their_email(
    console: TestClient, shop: LiveShop
) -> None:
    profile_id = shop.profile_id("user_id", "u-1")
    csrf = sign_in(console, "admin")
    page_ = console.get(f"/console/customers/{profile_id}").text
    assert "Erase this customer" in page_ and 'name="confirm"' in page_
    url = f"/console/customers/{profile_id}/erase"
    wrong = console.post(url, data={"csrf_token": csrf, "confirm": "someone@example.com"})
    assert wrong.status_code == 422 and "Confirmation" in wrong.text
    empty = console.post(url, data={"csrf_token": csrf, "confirm": " "})
    assert empty.status_code == 422 and "to confirm the erasure" in empty.text
    assert console.post(url, data={"confirm": EMAIL}).status_code == 403  # no CSRF token
    assert shop.profile_id("user_id", "u-1") == profile_id
    assert _audit(shop.engine, "profiles.erase") == []

    done = console.post(url, data={"csrf_token": csrf, "confirm": EMAIL.upper()})
    assert done.status_code == 200 and "Customer erased" in done.text
    assert console.get(f"/console/customers/{profile_id}").status_code == 404
    found = console.get("/console/customers", params={"q": EMAIL})
    assert "No customer matches" in found.text
    assert "Ayşe" not in console.get("/console/customers", params={"q": "ayse"}).text
    [entry] = _audit(shop.engine, "profiles.erase")
    assert entry.target == f"profile:{profile_id}" and entry.detail["deleted"]["events"] == 61
