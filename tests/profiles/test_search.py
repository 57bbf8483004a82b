"""Finding customers: by any identifier type at once, and by name through the name keys the
profile builder keeps in step with the traits (merges, unmerges, renames, erasure, rebuilds)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, select

from omnicx.identity import service as identity
from omnicx.profiles import consumer, privacy, search, service
from omnicx.profiles.name_keys import NAME_TRAITS, fold, full_name, name_keys
from omnicx.profiles.service import ProfileError
from omnicx.profiles.tables import profile_name_keys, profile_traits
from tests.profiles.helpers import Shop, identify, page


def test_fold_ignores_case_accents_and_punctuation() -> None:
    assert fold("Ayşe-Nur  YILMAZ") == "ayse nur yilmaz"
    assert fold("İpek Işık") == "ipek isik"
    assert fold("Zoë O'Brien") == "zoe o brien"
    assert fold("Straße") == "strasse"
    assert fold("  ") == ""
    assert fold("زهرا نوری") == "زهرا نوری"


def test_name_keys_start_at_every_word() -> None:
    keys = name_keys({"firstName": "Ayşe Nur", "lastName": "Yılmaz", "name": "Ayşe"})
    assert keys == {"ayse nur yilmaz", "nur yilmaz", "yilmaz", "ayse"}
    assert name_keys({"email": "x@example.com"}) == set()
    assert full_name({"first_name": "Ada", "last_name": "Lovelace"}) == "Ada Lovelace"
    assert full_name({"name": "Ada"}) == "Ada"
    assert full_name({"lastName": " "}) is None


@given(st.text(max_size=40), st.text(max_size=40))
def test_every_word_of_a_name_is_found_by_its_prefixes(first: str, last: str) -> None:
    keys = name_keys({"firstName": first, "lastName": last})
    words = fold(f"{first} {last}").split()[:8]
    for word in words:
        for end in range(1, len(word) + 1):
            assert any(key.startswith(word[:end]) for key in keys)


def stored_keys(connection: Connection) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in connection.execute(select(profile_name_keys)):
        found.setdefault(row.profile_id, set()).add(row.key)
    return found


def expected_keys(connection: Connection) -> dict[str, set[str]]:
    """The keys the profiles' winning trait values call for."""
    values: dict[str, dict[str, Any]] = {}
    for row in connection.execute(
        select(profile_traits).where(profile_traits.c.name.in_(sorted(NAME_TRAITS)))
    ):
        values.setdefault(row.profile_id, {})[row.name] = orjson.loads(row.value)
    return {p: keys for p, held in values.items() if (keys := name_keys(held))}


def names_found(engine: Engine, text: str) -> list[str | None]:
    with engine.connect() as connection:
        ids = search.search_by_name(connection, text)
        traits = {
            p: {r.name: orjson.loads(r.value) for r in rows}
            for p in ids
            for rows in [
                connection.execute(select(profile_traits).where(profile_traits.c.profile_id == p))
            ]
        }
    return [full_name(traits[p]) for p in ids]


def test_name_search_follows_renames_merges_unmerges_and_erasure(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "crm",
        identify("u-1", traits={"firstName": "Ayşe", "lastName": "Yılmaz"}),
        identify("u-2", traits={"firstName": "Ahmet", "lastName": "Yıldız"}),
        identify("u-3", traits={"name": "Zoë Adams"}),
    )
    shop.send("web", identify(None, "a-1", {"firstName": "Ayla"}, days=1))
    assert names_found(engine, "ay") == ["Ayla", "Ayşe Yılmaz"]
    assert names_found(engine, "YIL") == ["Ahmet Yıldız", "Ayşe Yılmaz"]
    assert names_found(engine, "ayse yi") == ["Ayşe Yılmaz"]
    assert names_found(engine, "adams") == ["Zoë Adams"]
    assert names_found(engine, "zz") == [] and names_found(engine, " - ") == []

    shop.send("crm", identify("u-1", traits={"lastName": "Demir"}, days=2))  # a new surname
    assert names_found(engine, "yil") == ["Ahmet Yıldız"]
    assert names_found(engine, "demir") == ["Ayşe Demir"]

    shop.send("web", identify("u-2", "a-1", days=3))  # Ahmet signs in on Ayla's browser
    merged = shop.profile_id("user_id", "u-2")
    with engine.connect() as connection:
        assert stored_keys(connection) == expected_keys(connection)
        merge = next(c for c in identity.changes_of(connection, merged) if c.kind == "merged")
    # One person now, with the latest first name of the two.
    assert names_found(engine, "ay") == ["Ayla Yıldız", "Ayşe Demir"]
    assert names_found(engine, "ahmet") == []
    with engine.begin() as connection:
        service.unmerge(connection, merge.id, actor="test")
    assert names_found(engine, "ay") == ["Ayla", "Ayşe Demir"]
    assert names_found(engine, "ahmet") == ["Ahmet Yıldız"]

    erased = shop.profile_id("user_id", "u-3")
    with engine.begin() as connection:
        privacy.erase_person(connection, erased, actor="test")
        assert stored_keys(connection) == expected_keys(connection)
    assert names_found(engine, "adams") == []

    before = names_found(engine, "a")
    with engine.begin() as connection:
        identity.rebuild(connection, downstream=[consumer.CONSUMER_NAME], actor="test")
    shop.process()
    assert names_found(engine, "a") == before
    with engine.connect() as connection:
        assert stored_keys(connection) == expected_keys(connection)


def test_name_search_lists_each_person_once_and_stops_at_the_limit(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "crm",
        *(identify(f"u-{n}", traits={"firstName": "Anna", "lastName": "Anders"}) for n in range(7)),
    )
    with engine.connect() as connection:
        # "an" matches "anna anders" and "anders" of each: listed once each.
        assert len(search.search_by_name(connection, "an")) == 7
        assert len(search.search_by_name(connection, "an", limit=3)) == 3
        assert len(set(search.search_by_name(connection, "an", limit=200))) == 7


def test_identifiers_of_every_type_are_found_at_once(engine: Engine) -> None:
    shop = Shop(engine)
    shop.send(
        "crm",
        identify("4455", traits={"email": "Ada@Example.com", "phone": "+31 6 1234 5678"}, days=0),
        identify("u-2", traits={"loyaltyCard": "4455"}),
    )
    shop.send("web", page("Home", anonymous_id="anon-1"))
    ada, other = shop.profile_id("user_id", "4455"), shop.profile_id("user_id", "u-2")
    with engine.connect() as connection:
        assert [
            (m.type, m.profile_id) for m in search.find_by_identifier(connection, "ada@example.COM")
        ] == [("email", ada)]
        found = {(m.type, m.profile_id) for m in search.find_by_identifier(connection, "4455")}
        assert found == {("user_id", ada), ("loyalty_card", other)}
        assert [m.type for m in search.find_by_identifier(connection, "anon-1")] == ["anonymous_id"]
        assert search.find_by_identifier(connection, "nobody@example.com") == []
        phone = search.find_by_identifier(connection, "+31612345678", type_name="phone")
        assert [(m.value, m.profile_id) for m in phone] == [("+31612345678", ada)]
        with pytest.raises(ProfileError) as invalid:
            search.find_by_identifier(connection, "not a phone", type_name="phone")
        assert invalid.value.code == "invalid_value"
        with pytest.raises(ProfileError) as unknown:
            search.find_by_identifier(connection, "x", type_name="passport")
        assert unknown.value.code == "unknown_type"
        assert search.identifier_types(connection)[:2] == ["user_id", "email"]
