"""`omnicx identity` administration: settings, configure, rebuild, status, conflicts, unmerge.

Events go through the real processing stage (stored in the stream, then processed), with the
demo retailer's identity settings where a rule needs them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.cli.common import console
from omnicx.cli.identity_admin import render_settings
from omnicx.cli.main import app
from omnicx.collect import sources
from omnicx.collect.processing import lag, process_available
from omnicx.collect.stream import StampedRow, append
from omnicx.demo.identity_settings import DEMO_IDENTITY_SETTINGS
from omnicx.identity import service as identity_service
from omnicx.identity.config import default_config, load_text
from omnicx.identity.consumer import CONSUMER_NAME
from omnicx.pipeline import stream_consumers

runner = CliRunner()
T0 = datetime(2026, 3, 1, 9, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tables as on a wide terminal, so that cells are not wrapped."""
    monkeypatch.setattr(console, "width", 240)


def _cli(database_url: str, *args: str, input: str | None = None) -> tuple[int, str]:
    result = runner.invoke(app, ["identity", *args, "--db", database_url], input=input)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def _flat(output: str) -> str:
    return " ".join(output.split())


class Stream:
    """Stores messages of one source in the event stream and runs processing on them."""

    def __init__(self, engine: Engine, name: str = "web", channel: str = "web") -> None:
        self.engine = engine
        with engine.begin() as connection:
            self.source_id = sources.add(connection, name=name, channel=channel).id
        self.channel = channel
        self.count = 0

    def send(self, *messages: dict[str, object]) -> None:
        rows = []
        for message in messages:
            self.count += 1
            at = T0 + timedelta(minutes=self.count)
            payload = {"type": "track", "event": "Viewed", "timestamp": at.isoformat(), **message}
            rows.append(
                StampedRow(
                    self.source_id,
                    self.channel,
                    f"{self.source_id}-{self.count}",
                    str(payload["type"]),
                    str(payload.get("event")),
                    payload.get("userId"),  # type: ignore[arg-type]
                    payload.get("anonymousId"),  # type: ignore[arg-type]
                    at,
                    at,
                    orjson.dumps(payload).decode(),
                )
            )
        with self.engine.begin() as connection:
            append(connection, rows)

    def process(self) -> None:
        process_available(self.engine, stream_consumers())


def _profile(engine: Engine, type_name: str, value: str) -> str:
    with engine.connect() as connection:
        return identity_service.lookup(connection, type_name, value)


def _partition(engine: Engine) -> set[frozenset[tuple[str, str]]]:
    with engine.connect() as connection:
        return set(identity_service.partition(connection))


def _merge_and_conflict(engine: Engine) -> Stream:
    """anon-2 alone, then anon-2 with ada's e-mail (a merge); then a second userId on the
    e-mail (refused: one userId per profile)."""
    web = Stream(engine)
    web.send({"userId": "u1", "anonymousId": "anon-1", "traits": {"email": "Ada@Example.com"}})
    web.send({"anonymousId": "anon-2"})
    web.process()
    web.send({"anonymousId": "anon-2", "properties": {"email": "ada@example.com"}})
    web.process()
    web.send({"userId": "u2", "traits": {"email": "ada@example.com"}})
    web.process()
    return web


def _merges(engine: Engine) -> Sequence[identity_service.Change]:
    with engine.connect() as connection:
        return [c for c in identity_service.changes_since(connection, 0) if c.kind == "merged"]


def test_settings_show_the_defaults_as_a_file_configure_accepts(database_url: str) -> None:
    code, output = _cli(database_url, "settings")
    assert code == 0, output
    assert "built-in defaults" in output
    assert "[identifiers.user_id]" in output
    assert "max_people = 5" in output


def test_rendered_settings_mean_the_same_rules() -> None:
    for config in (default_config(), load_text(DEMO_IDENTITY_SETTINGS)):
        assert load_text(render_settings(config)) == config


def test_the_documented_examples_are_valid_settings() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "identity.md").read_text()
    examples = re.findall(r"```toml\n(.*?)```", text, re.DOTALL)
    assert len(examples) == 2
    assert examples[0] == DEMO_IDENTITY_SETTINGS
    for example in examples:
        load_text(example)


def test_configure_stores_settings_and_points_to_rebuild(database_url: str, tmp_path: Path) -> None:
    settings = tmp_path / "identity.toml"
    settings.write_text(DEMO_IDENTITY_SETTINGS)
    code, output = _cli(database_url, "configure", str(settings))
    assert code == 0, output
    assert "version 1" in output
    assert "omnicx identity rebuild" in _flat(output)
    code, output = _cli(database_url, "settings")
    assert "version 1" in output
    assert "[identifiers.crm_id]" in output
    assert DEMO_IDENTITY_SETTINGS.strip().splitlines()[-1] in output
    code, output = _cli(database_url, "settings", "--effective")
    assert "[identifiers.anonymous_id]" in output
    assert '"anonymousId" = "loyalty_card"' in output
    code, output = _cli(database_url, "configure", str(settings))
    assert code == 0
    assert "already in force" in _flat(output)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[identifiers.email]\nlimit = 0\n", "identifiers.email.limit"),
        ("[blocked]\nmax_peple = 3\n", "blocked.max_peple"),
        ('priority = ["email", "fax"]\n', "priority"),
        ("phone_region = 'Turkey'\n", "phone_region"),
        ("[identifiers\n", "not valid TOML"),
    ],
)
def test_configure_refuses_bad_settings_naming_the_key(
    database_url: str, tmp_path: Path, text: str, key: str
) -> None:
    settings = tmp_path / "identity.toml"
    settings.write_text(text)
    code, output = _cli(database_url, "configure", str(settings))
    assert code == 2
    assert key in _flat(output)
    assert "Nothing was stored" in _flat(output)
    assert "built-in defaults" in _cli(database_url, "settings")[1]


def test_configure_a_missing_file(database_url: str, tmp_path: Path) -> None:
    code, output = _cli(database_url, "configure", str(tmp_path / "nothing.toml"))
    assert code == 2
    assert "cannot read" in output


def test_status_counts_and_lag(database_url: str, engine: Engine) -> None:
    web = _merge_and_conflict(engine)
    web.send({"anonymousId": "anon-3"})  # stored, not processed yet
    code, output = _cli(database_url, "status")
    assert code == 0, output
    assert "profiles 2 " in _flat(output)  # ada (u1, e-mail, anon-1, anon-2) and u2
    assert "merges 1" in _flat(output)
    assert "conflicts 1" in _flat(output)
    assert f"lag {CONSUMER_NAME} 1 events to process" in _flat(output)


def test_conflicts_lists_refused_joins(database_url: str, engine: Engine) -> None:
    _merge_and_conflict(engine)
    code, output = _cli(database_url, "conflicts")
    assert code == 0, output
    assert "user_id: u2" in output
    assert "email: ada@example.com" in output
    assert "limit" in output
    ada = _profile(engine, "user_id", "u1")
    code, output = _cli(database_url, "conflicts", "--profile", ada, "--limit", "5")
    assert code == 0, output
    assert "user_id: u2" in output
    other = _profile(engine, "user_id", "u2")
    with engine.connect() as connection:
        assert identity_service.conflicts_of(connection, other)
    code, output = _cli(database_url, "conflicts", "--profile", "no-such-profile")
    assert code == 1
    assert "No profile no-such-profile" in output


def test_no_conflicts(database_url: str) -> None:
    code, output = _cli(database_url, "conflicts")
    assert code == 0
    assert "No conflicts" in output


def test_unmerge_prints_both_profiles(database_url: str, engine: Engine) -> None:
    _merge_and_conflict(engine)
    [merge] = _merges(engine)
    code, output = _cli(database_url, "changes")
    assert code == 0, output
    assert "merged" in output
    assert str(merge.id) in output
    code, output = _cli(database_url, "unmerge", str(merge.id))
    assert code == 0, output
    kept, restored = output.strip().splitlines()[-2:]
    assert {kept, restored} == {
        _profile(engine, "anonymous_id", "anon-1"),
        _profile(engine, "anonymous_id", "anon-2"),
    }
    assert kept != restored
    code, output = _cli(database_url, "unmerge", str(merge.id))
    assert code == 1
    assert "already undone" in _flat(output)
    code, output = _cli(database_url, "unmerge", "9999")
    assert code == 1
    assert "No identity change #9999" in _flat(output)
    code, output = _cli(database_url, "changes", "--profile", kept)
    assert "unmerged" in output


def test_lookup_shows_the_profiles_identifiers(database_url: str, engine: Engine) -> None:
    _merge_and_conflict(engine)
    code, output = _cli(database_url, "lookup", "email", " ADA@example.com ")
    assert code == 0, output
    assert _profile(engine, "user_id", "u1") in output
    for value in ("u1", "ada@example.com", "anon-1", "anon-2"):
        assert value in output
    code, output = _cli(database_url, "lookup", "email", "nobody@example.com")
    assert code == 1
    assert "No profile has the email" in _flat(output)


TILLS_READ_LOYALTY_CARDS = """\
[sources.store_pos.fields]
anonymousId = "loyalty_card"
"""


def test_rebuild_follows_new_settings(database_url: str, engine: Engine, tmp_path: Path) -> None:
    """Till receipts name a loyalty card as anonymousId: under the defaults it stays an
    anonymous id; after new settings and a rebuild it is a loyalty card of ada's."""
    web = _merge_and_conflict(engine)
    till = Stream(engine, "store_pos", "store_pos")
    till.send({"anonymousId": "4000 1234", "traits": {"email": "ada@example.com"}})
    till.process()
    before = _partition(engine)
    assert any(("anonymous_id", "4000 1234") in profile for profile in before)
    settings = tmp_path / "identity.toml"
    settings.write_text(TILLS_READ_LOYALTY_CARDS)
    assert _cli(database_url, "configure", str(settings))[0] == 0

    code, output = _cli(database_url, "rebuild", input="n\n")
    assert code == 1  # aborted: nothing changes
    assert lag(engine, stream_consumers())[CONSUMER_NAME] == 0

    code, output = _cli(database_url, "rebuild", "--yes")
    assert code == 0, output
    events = web.count + till.count
    assert f"{events} events will be reprocessed" in _flat(output)
    assert "omnicx worker" in _flat(output)
    assert lag(engine, stream_consumers())[CONSUMER_NAME] == events
    web.process()
    after = _partition(engine)
    ada = next(p for p in after if ("user_id", "u1") in p)
    assert ("loyalty_card", "40001234") in ada
    assert ("anonymous_id", "anon-2") in ada
    assert not any(t == "anonymous_id" and v == "4000 1234" for p in after for t, v in p)
    code, output = _cli(database_url, "status")
    assert f"lag {CONSUMER_NAME} 0 up to date" in _flat(output)


def test_rebuild_gives_the_same_profiles_back(database_url: str, engine: Engine) -> None:
    web = _merge_and_conflict(engine)
    before = _partition(engine)
    ada = _profile(engine, "user_id", "u1")
    code, output = _cli(database_url, "rebuild", "--yes")
    assert code == 0, output
    web.process()
    assert _partition(engine) == before
    assert _profile(engine, "user_id", "u1") == ada
