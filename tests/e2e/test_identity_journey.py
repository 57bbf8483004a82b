"""A customer's journey across three sources, resolved by the running server, end to end.

The official Segment Python SDK sends, from three sources: an anonymous page view on the web,
a purchase at a store till paid with a loyalty card, then the backend's identify that carries
the web anonymousId, the e-mail and the card. The profile API must show one profile with all
three channels in its timeline; undoing the merge must give two profiles back; erasing the
person must leave nothing findable by any identifier, even after an SDK retry.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from segment.analytics import Client as SegmentClient

from tests.e2e.server import OmnicxServer, run_cli, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("e2e")]

SETTINGS = """
[sources.store.fields]
anonymousId = "loyalty_card"
"""
CARD = "7100 0004 318"


def _send(key: str, host: str, method: str, **arguments: Any) -> dict[str, Any]:
    client = SegmentClient(key, host=host, sync_mode=True, max_retries=1)
    queued, message = getattr(client, method)(**arguments)
    assert queued
    return dict(message)


@pytest.mark.sources(web="web", store="store_pos", backend="crm")
def test_one_customer_across_web_store_and_backend(
    omnicx_server: OmnicxServer, database_url: str, tmp_path: Path
) -> None:
    settings = tmp_path / "identity.toml"
    settings.write_text(SETTINGS)
    run_cli(database_url, "identity", "configure", str(settings))
    token = run_cli(database_url, "tokens", "create", "--role", "admin").strip().splitlines()[-1]
    keys, host = omnicx_server.write_keys, omnicx_server.url
    api = httpx.Client(
        base_url=f"{host}/api", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )

    def profile_of(kind: str, value: str) -> str | None:
        answer = api.get("/profiles/lookup", params={"type": kind, "value": value})
        return answer.json()["id"] if answer.status_code == 200 else None

    _send(keys["web"], host, "page", anonymous_id="anon-web-1", name="Lamps")
    web_profile = wait_until(lambda: profile_of("anonymous_id", "anon-web-1"), "the page view")
    purchase = _send(
        keys["store"],
        host,
        "track",
        anonymous_id=CARD,
        event="Order Completed",
        properties={"order_id": "r-1", "revenue": 42.0},
    )
    store_profile = wait_until(lambda: profile_of("loyalty_card", "71000004318"), "the purchase")
    assert store_profile != web_profile
    _send(
        keys["backend"],
        host,
        "identify",
        user_id="u-1",
        anonymous_id="anon-web-1",
        traits={"email": "Ada@Example.com", "loyaltyCard": CARD},
    )

    def merged() -> str | None:
        ids = {profile_of(k, v) for k, v in [("email", "ada@example.com"), ("user_id", "u-1"),
                                              ("anonymous_id", "anon-web-1"),
                                              ("loyalty_card", CARD)]}  # fmt: skip
        return ids.pop() if len(ids) == 1 and None not in ids else None

    profile = wait_until(merged, "one profile for the three sources")
    timeline = api.get(f"/profiles/{profile}/events").json()
    assert {e["channel"] for e in timeline["events"]} == {"web", "store_pos", "crm"}
    assert [e["type"] for e in timeline["events"]] == ["identify", "track", "page"]
    # The id that was merged away still finds the person.
    other = store_profile if profile == web_profile else web_profile
    assert api.get(f"/profiles/{other}").json()["id"] == profile

    changes = api.get(f"/profiles/{profile}/merges").json()
    [merge] = [c for c in changes if c["kind"] == "merged"]
    undone = api.post(f"/identity/changes/{merge['id']}/unmerge")
    assert undone.status_code == 200, undone.text
    assert profile_of("anonymous_id", "anon-web-1") != profile_of("loyalty_card", CARD)
    assert {profile_of("anonymous_id", "anon-web-1"), profile_of("loyalty_card", CARD)} == {
        web_profile,
        store_profile,
    }

    customer = profile_of("email", "ada@example.com")
    erased = api.delete(f"/profiles/{customer}", params={"confirm": customer})
    assert erased.status_code == 200, erased.text
    for kind, value in [("email", "ada@example.com"), ("user_id", "u-1"), ("loyalty_card", CARD)]:
        assert api.get("/profiles/lookup", params={"type": kind, "value": value}).status_code == 404
    # The till's SDK retries the purchase: it must not bring the person back.
    SegmentClient(keys["store"], host=host, sync_mode=True, max_retries=1).track(
        anonymous_id=CARD,
        event="Order Completed",
        properties={"order_id": "r-1", "revenue": 42.0},
        message_id=purchase["messageId"],
    )
    time.sleep(2.5)  # more than the processing stage's poll interval
    assert profile_of("loyalty_card", CARD) is None
    api.close()
