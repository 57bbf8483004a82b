"""Scheduled webhook syncs on SQLite and PostgreSQL, delivered over real HTTP to a local
receiver: the signed body, the schedule, failures recorded and retried, the CLI."""

from __future__ import annotations

import csv
import hashlib
import hmac
import io
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.audiences.segments import SegmentError
from omnicx.audiences.syncs import add_sync, run_due, sync_by_id
from omnicx.cli.main import app as omnicx
from omnicx.store.clock import utc_now
from tests.audiences.live import LiveShop
from tests.profiles.helpers import identify

ADS_YES = {"consent": {"categoryPreferences": {"Advertising": True}}}


class Receiver:
    """A webhook on 127.0.0.1 that keeps what it is sent and answers `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()


def test_due_syncs_deliver_signed_members_and_failures_are_retried(
    engine: Engine, receiver: Receiver
) -> None:
    shop = LiveShop(engine)
    shop.send("web", identify("u1", traits={"email": "ada@example.com"}, context=ADS_YES),
              identify("u2", traits={"email": "bob@example.com"}))  # fmt: skip
    shop.define("emails", {"identity": "email"})
    with engine.begin() as connection:
        sync = add_sync(connection, "emails", url=receiver.url, format="google", every_minutes=60)

    assert run_due(engine) == 1
    [(headers, body)] = receiver.received
    expected = "sha256=" + hmac.new(sync.secret.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Omnicx-Signature"] == expected
    assert headers["X-Omnicx-Segment"] == "emails"
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert [r["Email"] for r in rows] == [hashlib.sha256(b"ada@example.com").hexdigest()]
    with engine.connect() as connection:
        done = sync_by_id(connection, sync.id)
    assert (done.last_status, done.last_members) == ("200 OK", 1)

    assert run_due(engine) == 0  # not due again for an hour
    receiver.status = 503
    assert run_due(engine, utc_now() + timedelta(minutes=61)) == 1
    with engine.connect() as connection:
        failed = sync_by_id(connection, sync.id)
    assert failed.last_status is not None and failed.last_status.startswith("503")
    receiver.server.shutdown()
    receiver.server.server_close()
    assert run_due(engine, utc_now() + timedelta(minutes=122)) == 1
    with engine.connect() as connection:
        unreachable = sync_by_id(connection, sync.id)
    assert unreachable.last_status is not None and unreachable.last_status.startswith("failed")


def test_bad_syncs_are_refused(engine: Engine) -> None:
    shop = LiveShop(engine)
    shop.define("everyone", {"identity": "email"})
    with engine.begin() as connection:
        for url, every, fmt in (("ftp://x", 60, "members"), ("http://x", 1, "members"),
                                ("http://x", 60, "tiktok")):  # fmt: skip
            with pytest.raises(SegmentError):
                add_sync(connection, "everyone", url=url, format=fmt, every_minutes=every)


def test_the_cli_adds_lists_runs_and_removes(
    engine: Engine, database_url: str, receiver: Receiver
) -> None:
    LiveShop(engine).define("everyone", {"identity": "email"})
    runner = CliRunner()
    db = ["--db", database_url]
    added = runner.invoke(
        omnicx, ["segments", "sync", "add", "everyone", "--url", receiver.url, *db]
    )
    assert added.exit_code == 0, added.output
    assert len(added.output.strip().splitlines()[-1]) == 64  # the secret, last
    ran = runner.invoke(omnicx, ["segments", "sync", "run", *db])
    assert "Ran 1 due sync" in ran.output
    assert len(receiver.received) == 1
    listed = runner.invoke(omnicx, ["segments", "sync", "list", *db])
    assert "200 OK" in listed.output
    assert runner.invoke(omnicx, ["segments", "sync", "remove", "1", *db]).exit_code == 0
    assert runner.invoke(omnicx, ["segments", "sync", "remove", "1", *db]).exit_code == 1
    bad = runner.invoke(omnicx, ["segments", "sync", "add", "everyone", "--url", "nope", *db])
    assert bad.exit_code == 2
