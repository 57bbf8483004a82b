"""The collection API on SQLite and PostgreSQL: what SDKs send, answer, and store."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import Engine

from omnicx.collect import sources
from omnicx.collect.processing import process_available
from omnicx.pipeline import stream_consumers
from omnicx.store.clock import as_utc
from tests.collect.helpers import add_source, basic, rejected, running_app, stored


def _track(message_id: str, **extra: object) -> dict[str, object]:
    return {
        "type": "track",
        "userId": "u-1",
        "event": "Product Viewed",
        "messageId": message_id,
    } | extra


def test_batch_is_stored_with_source_and_channel(engine: Engine, database_url: str) -> None:
    key = add_source(engine, "shop-app", "ios")
    batch = {
        "batch": [
            _track("m-1"),
            {
                "type": "identify",
                "anonymousId": "a-1",
                "traits": {"email": "x@y.z"},
                "messageId": "m-2",
            },
        ]
    }
    with running_app(database_url) as client:
        response = client.post("/v1/batch", json=batch, headers=basic(key))
    assert response.status_code == 200
    assert response.json() == {"success": True}
    rows = stored(engine)
    assert [(r["message_id"], r["type"], r["channel"]) for r in rows] == [
        ("m-1", "track", "ios"),
        ("m-2", "identify", "ios"),
    ]
    assert rows[0]["event"] == "Product Viewed"
    assert rows[1]["anonymous_id"] == "a-1"
    assert orjson.loads(rows[1]["payload"])["traits"] == {"email": "x@y.z"}


@pytest.mark.parametrize(
    ("path", "message", "kind", "name"),
    [
        ("/v1/track", {"userId": "u", "event": "Signed Up"}, "track", "Signed Up"),
        ("/v1/t", {"userId": "u", "event": "Signed Up"}, "track", "Signed Up"),
        ("/v1/identify", {"userId": "u", "traits": {"plan": "pro"}}, "identify", None),
        ("/v1/i", {"userId": "u"}, "identify", None),
        ("/v1/page", {"anonymousId": "a", "name": "Home"}, "page", "Home"),
        ("/v1/p", {"anonymousId": "a", "name": "Home"}, "page", "Home"),
        ("/v1/screen", {"userId": "u", "name": "Cart"}, "screen", "Cart"),
        ("/v1/s", {"userId": "u", "name": "Cart"}, "screen", "Cart"),
        ("/v1/group", {"userId": "u", "groupId": "acme"}, "group", None),
        ("/v1/g", {"userId": "u", "groupId": 42}, "group", None),
        ("/v1/alias", {"userId": "u", "previousId": "a"}, "alias", None),
        ("/v1/a", {"userId": "u", "previousId": "a"}, "alias", None),
    ],
)
def test_single_message_routes(
    engine: Engine,
    database_url: str,
    path: str,
    message: dict[str, object],
    kind: str,
    name: str | None,
) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        response = client.post(path, json=message, headers=basic(key))
    assert response.status_code == 200, response.text
    [row] = stored(engine)
    assert (row["type"], row["event"]) == (kind, name)


def test_write_key_from_header_and_body_and_text_plain(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        by_header = client.post("/v1/track", json=_track("h"), headers={"X-Write-Key": key})
        # analytics.js: no header, writeKey in a text/plain body.
        by_body = client.post(
            "/v1/t",
            content=orjson.dumps(_track("b") | {"writeKey": key}),
            headers={"Content-Type": "text/plain"},
        )
        by_batch_body = client.post(
            "/v1/b", content=orjson.dumps({"batch": [_track("bb")], "writeKey": key})
        )
    assert [r.status_code for r in (by_header, by_body, by_batch_body)] == [200, 200, 200]
    rows = stored(engine)
    assert sorted(r["message_id"] for r in rows) == ["b", "bb", "h"]
    assert all("writeKey" not in orjson.loads(r["payload"]) for r in rows)


def test_gzip_body(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    body = gzip.compress(orjson.dumps({"batch": [_track(f"g{i}") for i in range(50)]}))
    with running_app(database_url) as client:
        response = client.post(
            "/v1/batch", content=body, headers=basic(key) | {"Content-Encoding": "gzip"}
        )
    assert response.status_code == 200
    assert len(stored(engine)) == 50


def test_same_message_id_is_stored_once(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    batch = {"batch": [_track("dup"), _track("dup"), _track("other")]}
    with running_app(database_url) as client:
        first = client.post("/v1/batch", json=batch, headers=basic(key))
        retry = client.post("/v1/batch", json=batch, headers=basic(key))
    assert (first.status_code, retry.status_code) == (200, 200)
    assert sorted(r["message_id"] for r in stored(engine)) == ["dup", "other"]
    # A restart (new app, same database) still knows the message.
    with running_app(database_url) as client:
        client.post("/v1/batch", json=batch, headers=basic(key))
    assert len(stored(engine)) == 2


def test_same_message_id_from_two_sources_is_two_events(engine: Engine, database_url: str) -> None:
    web, app = add_source(engine, "web", "web"), add_source(engine, "app", "android")
    with running_app(database_url) as client:
        client.post("/v1/track", json=_track("same"), headers=basic(web))
        client.post("/v1/track", json=_track("same"), headers=basic(app))
    assert sorted(r["channel"] for r in stored(engine)) == ["android", "web"]


def test_clock_skew_correction(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    # The device clock is 1 hour behind: it stamped the event 10 s before sending.
    message = _track("skew", timestamp="2024-05-01T10:00:00.000Z", sentAt="2024-05-01T10:00:10Z")
    with running_app(database_url) as client:
        client.post("/v1/track", json=message, headers=basic(key))
    [row] = stored(engine)
    received = as_utc(row["received_at"])  # type: ignore[arg-type]
    assert as_utc(row["timestamp"]) == received - timedelta(seconds=10)  # type: ignore[arg-type]
    payload = orjson.loads(row["payload"])
    assert payload["originalTimestamp"] == "2024-05-01T10:00:00Z"
    assert payload["sentAt"] == "2024-05-01T10:00:10Z"


def test_timestamp_without_sent_at_is_kept(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        client.post(
            "/v1/import",
            json={"batch": [_track("old", timestamp="2023-01-02T03:04:05+02:00")]},
            headers=basic(key),
        )
    [row] = stored(engine)
    assert as_utc(row["timestamp"]) == datetime(2023, 1, 2, 1, 4, 5, tzinfo=UTC)  # type: ignore[arg-type]


def test_batch_context_and_sent_at_apply_to_each_message(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    batch = {
        "batch": [
            _track("c1"),
            _track("c2", context={"ip": "1.2.3.4", "library": {"name": "mine"}}),
        ],
        "context": {"library": {"name": "analytics-python"}, "locale": "tr-TR"},
        "integrations": {"All": True},
    }
    with running_app(database_url) as client:
        client.post("/v1/batch", json=batch, headers=basic(key))
    first, second = (orjson.loads(r["payload"]) for r in stored(engine))  # type: ignore[arg-type]
    assert first["context"] == {"library": {"name": "analytics-python"}, "locale": "tr-TR"}
    assert second["context"] == {"library": {"name": "mine"}, "locale": "tr-TR", "ip": "1.2.3.4"}
    assert first["integrations"] == {"All": True}


@pytest.mark.parametrize(
    ("body", "status", "code", "where"),
    [
        (b"{not json", 400, "invalid_json", "line 1"),
        (b"[]", 400, "invalid_body", "body"),
        (b'{"batch": {}}', 400, "invalid_body", "batch"),
        (b'{"batch": []}', 400, "empty_batch", "batch"),
        (b'{"batch": [{"type": "track", "event": "x"}]}', 400, "all_rejected", "batch[0]"),
        (b'{"batch": [{"type": "nope", "userId": "u"}]}', 400, "all_rejected", "batch[0].type"),
        (b'{"batch": [{"userId": "u"}]}', 400, "all_rejected", "batch[0].type"),
        (b'{"batch": [{"type": "track", "userId": "u"}]}', 400, "all_rejected", "batch[0].event"),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e", "properties": "x"}]}',
            400,
            "all_rejected",
            "batch[0].properties",
        ),
        (
            b'{"batch": [{"type": "track", "userId": true, "event": "e"}]}',
            400,
            "all_rejected",
            "batch[0].userId",
        ),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e", "timestamp": "x"}]}',
            400,
            "all_rejected",
            "batch[0].timestamp",
        ),
        (
            b'{"batch": [{"type": "alias", "userId": "u"}]}',
            400,
            "all_rejected",
            "batch[0].previousId",
        ),
        (b'{"batch": [{"type": "group", "userId": "u"}]}', 400, "all_rejected", "batch[0].groupId"),
        (
            b'{"batch": [{"type": "track", "userId": "u", "event": "e"}], "context": 3}',
            400,
            "invalid_body",
            "context",
        ),
    ],
)
def test_bad_batches_are_refused_whole_and_say_where(
    engine: Engine, database_url: str, body: bytes, status: int, code: str, where: str
) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        response = client.post("/v1/batch", content=body, headers=basic(key))
    assert response.status_code == status
    assert response.json()["code"] == code
    assert where in response.json()["message"]
    assert stored(engine) == []
    assert rejected(engine), "the refusal is kept for the source's owner to see"


def test_partly_invalid_batch_keeps_the_valid_messages(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    batch = {"batch": [_track("ok-1"), {"type": "track", "event": "no identity"}, _track("ok-2")]}
    with running_app(database_url) as client:
        response = client.post("/v1/batch", json=batch, headers=basic(key))
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 2
    assert body["rejected_count"] == 1
    assert body["rejected"] == [
        {
            "index": 1,
            "code": "missing_identity",
            "message": "batch[1]: a message needs a userId or an anonymousId.",
        }
    ]
    assert [r["message_id"] for r in stored(engine)] == ["ok-1", "ok-2"]
    [refused] = rejected(engine)
    assert refused["code"] == "missing_identity"
    assert orjson.loads(refused["payload"]) == {"type": "track", "event": "no identity"}  # type: ignore[arg-type]


def test_track_without_event_on_single_route(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        response = client.post("/v1/track", json={"userId": "u"}, headers=basic(key))
    assert response.status_code == 400
    assert response.json() == {
        "code": "missing_field",
        "message": "body.event: required for a track message.",
    }


def test_write_key_problems(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        missing = client.post("/v1/track", json=_track("1"))
        unknown = client.post("/v1/track", json=_track("1"), headers=basic("nope"))
        with engine.begin() as connection:
            sources.set_enabled(connection, name="web", enabled=False)
        disabled = client.post("/v1/track", json=_track("1"), headers=basic(key))
    assert (missing.status_code, missing.json()["code"]) == (401, "missing_write_key")
    assert (unknown.status_code, unknown.json()["code"]) == (401, "unknown_write_key")
    assert (disabled.status_code, disabled.json()["code"]) == (403, "source_disabled")
    assert stored(engine) == []


def test_rotated_key(engine: Engine, database_url: str) -> None:
    old = add_source(engine)
    with engine.begin() as connection:
        new = sources.rotate_key(connection, name="web")
    with running_app(database_url) as client:
        assert client.post("/v1/track", json=_track("1"), headers=basic(old)).status_code == 401
        assert client.post("/v1/track", json=_track("2"), headers=basic(new)).status_code == 200


def test_size_limits(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url, max_body_bytes=10_000, max_message_bytes=1_000) as client:
        big_body = client.post(
            "/v1/batch", json={"batch": [_track(str(i)) for i in range(200)]}, headers=basic(key)
        )
        big_message = client.post(
            "/v1/track", json=_track("big", properties={"x": "y" * 2000}), headers=basic(key)
        )
        bomb = gzip.compress(b'{"batch": [' + b" " * 50_000 + b"]}")
        big_unzipped = client.post(
            "/v1/batch", content=bomb, headers=basic(key) | {"Content-Encoding": "gzip"}
        )
    assert (big_body.status_code, big_body.json()["code"]) == (413, "body_too_large")
    assert (big_message.status_code, big_message.json()["code"]) == (413, "message_too_large")
    assert (big_unzipped.status_code, big_unzipped.json()["code"]) == (413, "body_too_large")
    assert stored(engine) == []


def test_bad_gzip_and_unknown_encoding(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        bad = client.post(
            "/v1/batch", content=b"not gzip", headers=basic(key) | {"Content-Encoding": "gzip"}
        )
        truncated = client.post(
            "/v1/batch",
            content=gzip.compress(orjson.dumps({"batch": [_track("1")]}))[:-10],
            headers=basic(key) | {"Content-Encoding": "gzip"},
        )
        brotli = client.post(
            "/v1/batch", content=b"x", headers=basic(key) | {"Content-Encoding": "br"}
        )
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_gzip")
    assert (truncated.status_code, truncated.json()["code"]) == (400, "invalid_gzip")
    assert (brotli.status_code, brotli.json()["code"]) == (415, "unsupported_encoding")
    assert stored(engine) == []


def test_overload_answers_429_with_retry_after(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url, max_pending_events=5) as client:
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        runtime.writer._pending = 5  # as if 5 events were waiting for their commit
        sent = datetime.now(UTC).timestamp()  # not after the app stops: that can take seconds
        response = client.post(
            "/v1/batch", json={"batch": [_track(str(i)) for i in range(3)]}, headers=basic(key)
        )
        answered = datetime.now(UTC).timestamp()
        runtime.writer._pending = 0
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    reset = int(response.headers["X-RateLimit-Reset"])
    assert sent < reset <= answered + int(response.headers["Retry-After"])
    assert response.json()["code"] == "overloaded"
    assert stored(engine) == []


def test_cors_preflight_for_browsers(engine: Engine, database_url: str) -> None:
    with running_app(database_url) as client:
        response = client.options(
            "/v1/t",
            headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST"},
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] in ("*", "https://shop.example")


def test_analytics_js_settings_document(engine: Engine, database_url: str) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        found = client.get(f"/v1/projects/{key}/settings")
        missing = client.get("/v1/projects/nope/settings")
    assert found.status_code == 200
    segment = found.json()["integrations"]["Segment.io"]
    assert segment["apiKey"] == key
    assert segment["apiHost"] == "testserver/v1"
    assert missing.status_code == 404


def test_healthz(engine: Engine, database_url: str) -> None:
    with running_app(database_url) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["database"] == "ok"


def test_healthz_says_how_far_behind_each_consumer_is(engine: Engine, database_url: str) -> None:
    # Processing runs elsewhere (`--no-processing`, `omnicx worker`, the supervisor of
    # `serve --workers N`): the server still tells how much is left to process.
    key = add_source(engine)
    with running_app(database_url, run_processing=False) as client:
        answer = client.post(
            "/v1/batch", json={"batch": [_track(f"m{i}") for i in range(3)]}, headers=basic(key)
        )
        assert answer.status_code == 200
        before = client.get("/healthz").json()
        process_available(engine, stream_consumers())
        after = client.get("/healthz").json()
    names = [c.name for c in stream_consumers()]
    assert set(before["processing_lag"]) == set(names)
    assert before["processed_events"] is None
    head = max(r["id"] for r in stored(engine))
    assert before["processing_lag"] == dict.fromkeys(names, head)  # nothing processed yet
    assert after["processing_lag"] == dict.fromkeys(names, 0)


def test_many_refused_messages_are_counted_not_all_listed(
    engine: Engine, database_url: str
) -> None:
    key = add_source(engine)
    batch = {"batch": [_track("good"), *([0] * 5000)]}
    with running_app(database_url) as client:
        response = client.post("/v1/batch", json=batch, headers=basic(key))
    body = response.json()
    assert response.status_code == 200
    assert body["rejected_count"] == 5000
    assert len(body["rejected"]) == 100
    assert len(rejected(engine)) == 100
    assert [r["message_id"] for r in stored(engine)] == ["good"]


def test_key_in_body_is_used_when_the_authorization_header_has_none(
    engine: Engine, database_url: str
) -> None:
    key = add_source(engine)
    with running_app(database_url) as client:
        response = client.post(
            "/v1/track",
            json=_track("b") | {"writeKey": key},
            headers={"Authorization": "Bearer something-else"},
        )
    assert response.status_code == 200
    assert len(stored(engine)) == 1
