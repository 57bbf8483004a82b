"""What to compare: each column's kind, from its name and its content, or as the user says.

A column named like a given name, a surname, a birth date, a postcode... gets that kind when
its content does not contradict the name (a "dob" column must hold dates). Other columns are
judged by content: e-mail addresses, dates in a common format, phone numbers, numeric
identifiers, short codes, free text. Columns that cannot tell records apart (empty on one
side, one value everywhere, long free text) are left out, and the id column is never compared.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from omnicx.identity.matching_io import MatchError

KINDS: dict[str, str] = {
    "name": "a given name or a surname: exact, Jaro-Winkler >= 0.92, >= 0.88, >= 0.7",
    "fullname": "a whole name: exact, same words in any order, Jaro-Winkler >= 0.92, >= 0.8",
    "date": "a date (birth date): exact, one typo, within a month, a year, ten years",
    "postcode": "a postcode or ZIP code: exact (spaces ignored), one character different",
    "email": "an e-mail address: exact, same user part, Jaro-Winkler on address and user",
    "phone": "a phone number: same digits, same last 9 digits, one digit different",
    "identifier": "a long code (social security, national id): exact, 1 or 2 edits apart",
    "number": "a short number (street or house number): exact, one edit apart",
    "text": "free text (address line, city): exact, Jaro-Winkler >= 0.9, >= 0.7",
    "exact": "a code with few values (state, country, gender): equal or not",
    "ignore": "not compared",
}
"""The kinds of comparison, for --compare COLUMN:KIND, with what each one compares."""

SAMPLE_SIZE = 2000
"""Values per column (from each side) looked at to recognise content."""

DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%d/%m/%Y",
    "%m/%d/%Y",
    "%d.%m.%Y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
)
"""Date formats recognised, tried in this order when a value fits several."""

_CONFLICTS = {
    "%d/%m/%Y": "%m/%d/%Y",
    "%m/%d/%Y": "%d/%m/%Y",
    "%d-%m-%Y": "%m-%d-%Y",
    "%m-%d-%Y": "%d-%m-%Y",
}

MISSING_VALUES = ("null", "none", "n/a", "unknown", "-", "--", "?", "0000-00-00")
"""Values that mean "not known": they are treated as empty."""


@dataclass(frozen=True, slots=True)
class Field:
    """A column and how it is compared; `reason` says why (its name, its content, a flag)."""

    column: str
    kind: str
    reason: str
    date_formats: tuple[str, ...] = ()
    role: str = ""
    """What the column's name says it holds ("a given name"), when it was inferred from it."""


@dataclass(frozen=True, slots=True)
class ColumnStats:
    """What inference looks at: a sample of a column's values and counts over all rows."""

    values: tuple[str, ...]
    distinct: int
    filled: tuple[int, ...]
    """Non-empty values on each side."""


def column_stats(tables: Sequence[pa.Table], column: str) -> ColumnStats:
    """Samples a column (evenly spread over each side) and counts its distinct values."""
    import pyarrow.compute as pc

    values: list[str] = []
    filled: list[int] = []
    chunks: list[pa.Array] = []
    for table in tables:
        present = table.column(column).combine_chunks().drop_null()
        known = pc.invert(pc.is_in(pc.utf8_lower(pc.utf8_trim_whitespace(present)), _missing()))
        present = present.filter(known)
        filled.append(len(present))
        chunks.append(present)
        step = max(len(present) // SAMPLE_SIZE, 1)
        sample = present.take(pa.array(range(0, len(present), step), pa.int64())[:SAMPLE_SIZE])
        values.extend(str(v).strip() for v in sample.to_pylist())
    everything = pa.chunked_array(chunks, pa.string())
    distinct = int(pc.count_distinct(everything).as_py())
    return ColumnStats(tuple(values), distinct, tuple(filled))


def _missing() -> pa.Array:
    return pa.array(MISSING_VALUES, pa.string())


def parse_compare(specs: Sequence[str]) -> dict[str, str]:
    """`--compare COLUMN:KIND` flags as {column: kind}; refuses unknown kinds."""
    chosen: dict[str, str] = {}
    for spec in specs:
        column, sep, kind = spec.rpartition(":")
        if not sep or not column.strip():
            raise MatchError(f"--compare {spec!r}: expected COLUMN:KIND, e.g. surname:name.")
        chosen[column.strip()] = kind.strip().lower()
    check_kinds(chosen)
    return chosen


def check_kinds(overrides: Mapping[str, str]) -> None:
    """Refuses a kind of comparison that does not exist."""
    for column, kind in overrides.items():
        if kind not in KINDS:
            raise MatchError(
                f"comparison for column {column!r}: unknown kind {kind!r}; "
                f"expected one of {', '.join(KINDS)}."
            )


def infer_fields(
    columns: Sequence[str],
    stats: Mapping[str, ColumnStats],
    *,
    id_column: str,
    overrides: Mapping[str, str] | None = None,
) -> list[Field]:
    """Each column but the id with its kind ("ignore" for those left out, with the reason)."""
    overrides = overrides or {}
    fields = []
    for column in columns:
        if column == id_column:
            continue
        column_stats = stats[column]
        if column in overrides:
            kind = overrides[column]
            formats = date_formats(column_stats.values)[0] if kind == "date" else ()
            if kind == "date" and not formats:
                formats = DATE_FORMATS
            fields.append(Field(column, kind, "--compare", formats))
        else:
            fields.append(infer_field(column, column_stats))
    return fields


def infer_field(column: str, stats: ColumnStats) -> Field:
    """The kind of one column, from its name when its content agrees, else from its content."""
    if not stats.values or min(stats.filled, default=0) == 0:
        return Field(column, "ignore", "empty" + (" on one side" if stats.values else ""))
    if stats.distinct <= 1:
        return Field(column, "ignore", "holds a single value")
    named = kind_from_name(column)
    if named is not None:
        kind, what = named
        field = _confirm(column, kind, what, stats)
        if field is not None:
            return field
    return kind_from_content(column, stats)


def _confirm(column: str, kind: str, what: str, stats: ColumnStats) -> Field | None:
    """The field named `kind`, unless the content contradicts the name."""
    values = stats.values
    field = Field(column, kind, f"named like {what}", role=what)
    if kind == "date":
        formats, share = date_formats(values)
        return Field(column, kind, field.reason, formats, what) if share >= 0.5 else None
    if kind == "email":
        return field if _share(values, _EMAIL) >= 0.5 else None
    if kind == "phone":
        return field if _share(values, _PHONE) >= 0.5 else None
    if kind in ("identifier", "number", "postcode"):
        return field if _share(values, _CODE) >= 0.5 else None
    return field


_NAMES: tuple[tuple[str, str, str, str], ...] = (
    # kind, what it is, names of a whole word, name parts (the name without separators
    # contains one). First match wins: "email_address" is an e-mail, not an address.
    ("email", "an e-mail address", "mail courriel correo", "email"),
    ("phone", "a phone number", "tel telephone cell fax msisdn handy telefon telefono gsm",
     "phone mobile cellular"),
    ("date", "a birth date", "dob bday born geburtsdatum naissance nacimiento", "birth"),
    ("date", "a date", "date dt datum fecha", ""),
    ("postcode", "a postcode", "plz postal cp cep pincode postleitzahl eircode",
     "postcode postalcode zip"),
    ("number", "a street number", "",
     "streetnumber housenumber streetno houseno streetnum housenum hausnummer buildingnumber "
     "streetnr housenr"),
    ("identifier", "a national identifier",
     "ssn sin nin nino tin bsn dni nif cpf curp pps nir pesel nie",
     "socsec socialsec socialsecurity nationalid nationalidentity passport taxid taxnumber "
     "medicare licence license personnummer aadhaar insurancenumber idnumber idcard "
     "identitycard nhsnumber"),
    ("name", "a given name",
     "first given fname forename forenames prenom vorname nombre middle middlename "
     "christianname givennames",
     "firstname givenname forename"),
    ("name", "a surname",
     "last lname surname surnames nachname apellido apellidos nom family familyname lastname "
     "maidenname",
     "surname lastname familyname"),
    ("fullname", "a name", "name fullname", "fullname"),
    ("text", "an address line", "line1 line2 line3 adresse direccion road strasse street",
     "address addr streetname addressline"),
    ("text", "a city",
     "suburb city town locality municipality village ort ville ciudad stadt district "
     "neighbourhood neighborhood commune",
     "suburb"),
    ("exact", "a region or country",
     "state province region county country territory bundesland prefecture land canton", ""),
    ("exact", "a gender or title", "gender sex title salutation civility", ""),
)  # fmt: skip
_WORDS = [
    (kind, what, set(whole.split()), tuple(parts.split())) for kind, what, whole, parts in _NAMES
]


def name_key(column: str) -> list[str]:
    """A column name's words, lower-case ASCII: `dateOfBirth` -> [date, of, birth]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", column.replace("ß", "ss"))
    ascii_name = unicodedata.normalize("NFKD", spaced).encode("ascii", "ignore").decode()
    return [word for word in re.split(r"[^a-z0-9]+", ascii_name.lower()) if word]


def kind_from_name(column: str) -> tuple[str, str] | None:
    """(kind, what the name says it is) when the column is named like something we know."""
    words = name_key(column)
    joined = "".join(words)
    if not joined:
        return None
    # "first_name" and "last_name" hold name parts; "name" alone a whole name.
    parts = set(words) | {joined}
    if "name" in words and len(words) == 2:
        parts.add(words[0] if words[1] == "name" else words[1])
    for kind, what, whole, contained in _WORDS:
        if parts & whole or any(piece in joined for piece in contained):
            return kind, what
    if joined.endswith("name"):
        return "fullname", "a name"
    return None


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[\d\s().\-/]{6,}$")
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 .\-/]*$")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
_DIGITS = re.compile(r"^[\d\s.\-/()+]+$")


def _share(values: Sequence[str], pattern: re.Pattern[str]) -> float:
    if not values:
        return 0.0
    return sum(1 for v in values if pattern.match(v)) / len(values)


def date_formats(values: Sequence[str]) -> tuple[tuple[str, ...], float]:
    """The date formats the values are written in (best first) and the share they parse."""
    if not values:
        return (), 0.0
    counts = dict.fromkeys(DATE_FORMATS, 0)
    parsed = 0
    for value in values:
        head = date_head(value)
        hit = False
        for fmt in DATE_FORMATS:
            if _parses(head, fmt):
                counts[fmt] += 1
                hit = True
        parsed += hit
    ranked = sorted((f for f in DATE_FORMATS if counts[f]), key=lambda f: -counts[f])
    chosen: list[str] = []
    for fmt in ranked:
        if counts[fmt] >= 0.05 * len(values) and _CONFLICTS.get(fmt) not in chosen:
            chosen.append(fmt)
    return tuple(chosen), parsed / len(values)


def date_head(value: str) -> str:
    """The date part of a value: `2024-01-31T10:00:00` -> `2024-01-31`."""
    return value.strip().replace("T", " ").split(" ", 1)[0]


def _shape(fmt: str) -> re.Pattern[str]:
    """A quick test for values that could be in `fmt`, before the slower strptime."""
    digits = {"%Y": r"\d{4}", "%m": r"\d{1,2}", "%d": r"\d{1,2}"}
    pattern = re.escape(fmt)
    for code, shape in digits.items():
        pattern = pattern.replace(re.escape(code), shape)
    if fmt == "%Y%m%d":
        pattern = r"\d{8}"
    return re.compile(f"^{pattern}$")


_SHAPES = {fmt: _shape(fmt) for fmt in DATE_FORMATS}


def _parses(value: str, fmt: str) -> bool:
    if not _SHAPES[fmt].match(value):
        return False
    try:
        parsed = datetime.strptime(value, fmt)
    except ValueError:
        return False
    return 1800 <= parsed.year <= 2200


def kind_from_content(column: str, stats: ColumnStats) -> Field:
    """The kind a column's values suggest, for columns not named like anything known."""
    values = stats.values
    mean_length = sum(len(v) for v in values) / len(values)
    if _share(values, _EMAIL) >= 0.8:
        return Field(column, "email", "holds e-mail addresses")
    formats, share = date_formats(values)
    if share >= 0.8:
        return Field(column, "date", f"holds dates ({formats[0]})", formats)
    if _share(values, _UUID) >= 0.8:
        return Field(column, "identifier", "holds UUIDs")
    if _share(values, _DIGITS) >= 0.9:
        digits = [sum(c.isdigit() for c in v) for v in values]
        mean_digits = sum(digits) / len(digits)
        formatted = sum(1 for v in values if v.startswith("+") or re.search(r"\d[\s\-.()]\d", v))
        if 7 <= mean_digits <= 15 and formatted >= 0.3 * len(values):
            return Field(column, "phone", "holds phone numbers")
        if stats.distinct <= 20:
            return Field(column, "exact", "holds few distinct numbers")
        if mean_digits >= 5:
            return Field(column, "identifier", "holds long numbers")
        return Field(column, "number", "holds short numbers")
    if stats.distinct <= 20 or mean_length <= 3:
        return Field(column, "exact", "holds short codes or few distinct values")
    if mean_length > 100:
        return Field(column, "ignore", "long free text")
    codes = _share(values, _CODE) >= 0.9 and all(" " not in v for v in values)
    if codes and mean_length <= 12 and any(c.isdigit() for v in values for c in v):
        return Field(column, "identifier", "holds codes")
    return Field(column, "text", "holds text")
