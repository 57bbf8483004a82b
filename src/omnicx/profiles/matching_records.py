"""The records the matching job compares, and what a pair must show to be merged unasked.

A profile's record is read from its traits (`record_of`). Besides its probability, a pair is
merged without a review only when the records agree on their own (`pair_of`): the names agree
(allowing a typo), one more field is equal, and the birth dates do not differ. Unsupervised
training on stored profiles, where most true duplicates were already joined by identifiers,
can learn a household (one surname, address and phone line) as "the same person"; this keeps
such pairs for a person to look at.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

FIELDS: dict[str, str] = {
    "name": "firstName and lastName (or name, split at its first space)",
    "birth_date": "birthday (or dateOfBirth, birthDate, birth_date)",
    "postcode": "address.postalCode (or address.postcode, address.zip)",
    "city": "address.city",
    "street": "address.street",
    "email": "email",
    "phone": "phone",
}
"""The fields a record can have, with the traits each is read from."""

COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    # field -> (record column, kind of comparison), see identity.matching_inference.KINDS
    "name": (("first_name", "name"), ("last_name", "name")),
    "birth_date": (("birth_date", "date"),),
    "postcode": (("postcode", "postcode"),),
    "city": (("city", "text"),),
    "street": (("street", "text"),),
    "email": (("email", "email"),),
    "phone": (("phone", "phone"),),
}
_LABELS = {"birth_date": "birth date", "email": "e-mail"}
_BIRTH_TRAITS = ("birthday", "dateOfBirth", "birthDate", "birth_date")
TRAITS = (
    "firstName",
    "first_name",
    "lastName",
    "last_name",
    "name",
    *_BIRTH_TRAITS,
    "address",
    "email",
    "phone",
)
_DATE_FORMATS = ("%Y%m%d", "%d.%m.%Y", "%d/%m/%Y", "%m/%d/%Y", "%d-%m-%Y", "%Y/%m/%d")
_MAX_VALUE = 200


@dataclass(frozen=True, slots=True)
class ProfileMatch:
    """Two profiles' records that are probably the same person."""

    left_profile_id: str
    right_profile_id: str
    probability: float
    detail: dict[str, list[str | None]]
    """The compared values, {column: [left, right]}, for every column either record has."""
    agreeing: tuple[str, ...]
    """The fields on which the two records agree (name, birth date, postcode, ...)."""
    corroborated: bool
    """Whether the pair may be merged without a review: the names agree (no given name or
    surname differs), at least one other field agrees, and the birth dates do not differ."""
    distinct: bool
    """Whether the records are of two people, whatever the probability: the given names
    differ, or the surnames and the birth dates do."""

    @property
    def reason(self) -> str:
        """The rule of the merge in the identity log."""
        shown = f"={self.probability:.3f}" if self.probability < 0.9995 else ">0.999"
        return f"probabilistic match p{shown} ({', '.join(self.agreeing) or 'no field equal'})"


def record_of(traits: Mapping[str, Any], fields: Sequence[str]) -> dict[str, str | None] | None:
    """A profile's record from its traits: None unless it has enough fields to compare (a
    name and one more field, or two fields when names are not compared)."""
    first = _text(traits.get("firstName")) or _text(traits.get("first_name"))
    last = _text(traits.get("lastName")) or _text(traits.get("last_name"))
    if first is None and last is None and (whole := _text(traits.get("name"))):
        first, _, rest = whole.partition(" ")
        last = rest.strip() or None
    address = traits.get("address")
    address = address if isinstance(address, dict) else {}
    values: dict[str, str | None] = {
        "first_name": first,
        "last_name": last,
        "birth_date": next(
            (d for t in _BIRTH_TRAITS if (d := birth_date(traits.get(t))) is not None), None
        ),
        "postcode": _first(address, ("postalCode", "postal_code", "postcode", "zip")),
        "city": _text(address.get("city")),
        "street": _first(address, ("street", "street1", "line1")),
        "email": _text(traits.get("email")),
        "phone": _text(traits.get("phone")),
    }
    present = [f for f in fields if any(values[c] for c, _ in COLUMNS[f])]
    if "name" in fields and "name" not in present:
        return None
    if len(present) < 2:
        return None
    wanted = {c for f in fields for c, _ in COLUMNS[f]}
    return {k: v for k, v in values.items() if k in wanted}


def birth_date(value: object) -> str | None:
    """A birth date as YYYY-MM-DD, from ISO text (a time is ignored) or a common format."""
    text = _text(value)
    if text is None:
        return None
    head = text.replace("T", " ").split(" ", 1)[0]
    parsed: date | None = None
    try:
        parsed = date.fromisoformat(head)
    except ValueError:
        for fmt in _DATE_FORMATS:
            try:
                parsed = datetime.strptime(head, fmt).date()
                break
            except ValueError:
                continue
    if parsed is None or not 1900 <= parsed.year <= 2100:
        return None
    return parsed.isoformat()


def _text(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    text = " ".join(str(value).split())
    return text[:_MAX_VALUE] or None


def _first(mapping: Mapping[str, Any], keys: Iterable[str]) -> str | None:
    return next((t for k in keys if (t := _text(mapping.get(k))) is not None), None)


def label(field: str) -> str:
    return _LABELS.get(field, field)


def varied_columns(
    records: Sequence[Mapping[str, str | None]], fields: Sequence[str]
) -> list[tuple[str, str]]:
    """The record columns (and kinds) worth comparing: with two different values at least."""
    chosen = []
    for field in fields:
        for column, kind in COLUMNS[field]:
            seen: set[str] = set()
            for record in records:
                value = record.get(column)
                if value:
                    seen.add(value.lower())
                    if len(seen) > 1:
                        chosen.append((column, kind))
                        break
    return chosen


def records_table(
    records: Sequence[Mapping[str, str | None]], columns: Sequence[tuple[str, str]]
) -> Any:
    import pyarrow as pa

    names = ["profile_id", *(c for c, _ in columns)]
    return pa.table({n: pa.array([r.get(n) for r in records], pa.string()) for n in names})


def pair_of(
    left: Mapping[str, str | None],
    right: Mapping[str, str | None],
    probability: float,
    columns: Sequence[str],
    fields: Sequence[str],
    distances: Mapping[tuple[str, str], int],
) -> ProfileMatch:
    """A matched pair of records, with what they agree on (`distances`: name_distances)."""
    detail = {c: [left.get(c), right.get(c)] for c in columns if left.get(c) or right.get(c)}
    given, surname = name_parts(left, right, distances)
    names = _agreement(given, surname)
    agreeing = [
        f
        for f in fields
        if (names is True if f == "name" else agrees(f, left.get(f), right.get(f)))
    ]
    dates = dates_conflict(left.get("birth_date"), right.get("birth_date"))
    return ProfileMatch(
        str(left["profile_id"]),
        str(right["profile_id"]),
        probability,
        detail,
        tuple(label(f) for f in agreeing),
        corroborated=names is True
        and any(f not in ("name", "city") for f in agreeing)
        and not dates,
        distinct=given is False or (surname is False and dates),
    )


def _fold(value: str | None) -> str:
    if not value:
        return ""
    decomposed = unicodedata.normalize("NFKD", value.casefold())
    kept = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join("".join(c if c.isalnum() else " " for c in kept).split())


def name_distances(
    pairs: Iterable[tuple[str | None, str | None]],
) -> dict[tuple[str, str], int]:
    """The Damerau-Levenshtein distance of each pair of different (folded) names: letters
    inserted, deleted, replaced or swapped with the next one (computed by DuckDB)."""
    import duckdb
    import pyarrow as pa

    wanted = {(a, b) for x, y in pairs if (a := _fold(x)) and (b := _fold(y)) and a != b}
    if not wanted:
        return {}
    left, right = zip(*sorted(wanted), strict=True)
    table = pa.table({"a": pa.array(left, pa.string()), "b": pa.array(right, pa.string())})
    con = duckdb.connect()
    try:
        con.register("names", table)
        rows = con.execute("SELECT a, b, damerau_levenshtein(a, b) FROM names").fetchall()
    finally:
        con.close()
    return {(a, b): int(distance) for a, b, distance in rows}


def _same_name(a: str, b: str, distances: Mapping[tuple[str, str], int]) -> bool:
    """The same name, typed with at most one mistake (two in names of 8 letters or more), an
    initial and a name that starts with it, or one name's words among the other's."""
    if a == b:
        return True
    if len(a) == 1 or len(b) == 1:
        return a[0] == b[0]
    words_a, words_b = set(a.split()), set(b.split())
    if words_a <= words_b or words_b <= words_a:  # Mary, Mary Ann
        return True
    allowed = 2 if min(len(a), len(b)) >= 8 else 1
    return distances.get((a, b), allowed + 1) <= allowed


def name_parts(
    left: Mapping[str, str | None],
    right: Mapping[str, str | None],
    distances: Mapping[tuple[str, str], int],
) -> tuple[bool | None, bool | None]:
    """Whether the given names, and the surnames, are the same name (allowing a typo): None
    when one record lacks it. A given name and surname swapped count as the same."""
    (first_l, first_r), (last_l, last_r) = (
        (_fold(left.get(c)), _fold(right.get(c))) for c in ("first_name", "last_name")
    )
    if first_l and last_l and first_l != last_l and (first_l, last_l) == (last_r, first_r):
        return True, True

    def same(a: str, b: str) -> bool | None:
        return _same_name(a, b, distances) if a and b else None

    return same(first_l, first_r), same(last_l, last_r)


def names_agree(
    left: Mapping[str, str | None],
    right: Mapping[str, str | None],
    distances: Mapping[tuple[str, str], int],
) -> bool | None:
    """True when the names agree (each part both records have is the same name, allowing a
    typo, or the given name and surname are swapped), False when a part differs, None when
    there is nothing to compare."""
    return _agreement(*name_parts(left, right, distances))


def _agreement(given: bool | None, surname: bool | None) -> bool | None:
    if given is None and surname is None:
        return None
    return given is not False and surname is not False


def agrees(field: str, left: str | None, right: str | None) -> bool:
    """Whether two values of a field (not the name) are the same, written differently."""
    if not left or not right:
        return False
    if field == "email":
        a, b = left.casefold(), right.casefold()
        return a == b or a.partition("@")[0] == b.partition("@")[0]
    if field == "phone":
        a, b = ("".join(c for c in v if c.isdigit()) for v in (left, right))
        return len(a) >= 7 and len(b) >= 7 and a[-9:] == b[-9:]
    if field == "postcode":
        a, b = ("".join(c for c in v if c.isalnum()).upper() for v in (left, right))
        return a == b
    return _fold(left) == _fold(right)


def dates_conflict(left: str | None, right: str | None) -> bool:
    """Whether two birth dates (YYYY-MM-DD) differ by more than a typo (one digit, or the
    day and the month swapped)."""
    if not left or not right or left == right:
        return False
    if sum(a != b for a, b in zip(left, right, strict=True)) == 1:
        return False
    swapped = left[:4] == right[:4] and left[5:7] == right[8:10] and left[8:10] == right[5:7]
    return not swapped
