"""Sign-in throttling behind a reverse proxy: the client is read from X-Forwarded-For only
when the peer is a trusted proxy (OMNICX_TRUSTED_PROXIES)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from starlette.requests import Request

from omnicx.access.users import MAX_CLIENT_FAILURES
from omnicx.api.app import create_app
from omnicx.api.forwarded import client_address, parse_networks
from omnicx.settings import Settings
from tests.console.conftest import add_role_users
from tests.console.support import PASSWORD, ROLE_EMAILS, csrf_of

PROXIES = parse_networks("10.0.0.0/8, 2001:db8::/32")


def _request(peer: str, forwarded: str | None) -> Request:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return Request({"type": "http", "client": (peer, 40000), "headers": headers})


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("10.1.2.3", "203.0.113.7", "203.0.113.7"),  # one trusted proxy
        ("10.1.2.3", "203.0.113.7, 10.9.9.9", "203.0.113.7"),  # two proxies in a row
        ("10.1.2.3", "198.51.100.1, 203.0.113.7", "203.0.113.7"),  # the client's own claim
        ("10.1.2.3", None, "10.1.2.3"),  # a proxy sending nothing: itself
        ("10.1.2.3", "10.4.4.4", "10.4.4.4"),  # only proxies: the farthest
        ("2001:db8::1", "2001:db8::2, 203.0.113.8", "203.0.113.8"),
        ("192.0.2.50", "203.0.113.7", "192.0.2.50"),  # untrusted peer: header ignored
        ("testclient", "203.0.113.7", "testclient"),  # not an address at all
    ],
)
def test_the_client_is_the_nearest_untrusted_hop(
    peer: str, forwarded: str | None, client: str
) -> None:
    assert client_address(_request(peer, forwarded), PROXIES) == client


@pytest.mark.parametrize("text", ["10.0.0.0/33", "proxy.example.com", "10.0.0.1;10.0.0.2"])
def test_a_wrong_proxy_list_names_the_wrong_part(text: str) -> None:
    with pytest.raises(ValueError, match=r"OMNICX_TRUSTED_PROXIES: .* is not an IP address"):
        parse_networks(text)


@pytest.fixture
def behind_proxy(database_url: str) -> Iterator[TestClient]:
    """The application as a proxy at 10.1.2.3 reaches it."""
    add_role_users(database_url)
    settings = Settings(database_url=database_url, run_processing=False, trusted_proxies=PROXIES)
    with TestClient(create_app(settings), client=("10.1.2.3", 50000)) as client:
        yield client


def _attempt(client: TestClient, email: str, password: str, forwarded: str) -> int:
    token = csrf_of(client.get("/console/login").text)
    return client.post(
        "/console/login",
        data={"email": email, "password": password, "csrf_token": token},
        headers={"X-Forwarded-For": forwarded},
        follow_redirects=False,
    ).status_code


def test_one_clients_failures_through_the_proxy_do_not_lock_out_the_others(
    behind_proxy: TestClient,
) -> None:
    for n in range(MAX_CLIENT_FAILURES):
        assert _attempt(behind_proxy, f"guess{n}@example.com", "wrong", "203.0.113.7") == 401
    assert _attempt(behind_proxy, ROLE_EMAILS["analyst"], PASSWORD, "203.0.113.7") == 429
    assert _attempt(behind_proxy, ROLE_EMAILS["analyst"], PASSWORD, "198.51.100.9") == 303
