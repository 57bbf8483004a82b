"""A segment's members for ad platforms: e-mail addresses and phone numbers normalised and
SHA-256 hashed the way Google Ads Customer Match and Meta custom audiences match them, only
for members whose consent allows it (docs/ad-export.md).

    summary = write_platform_csv(members, out, platform="google", default_region="DE")
    summary.written, summary.skipped_consent, summary.skipped_invalid

E-mail: trimmed and lower-cased, and it must be an address (email-validator, syntax only);
Google's removal of dots before @gmail.com / @googlemail.com is applied only when asked
(`gmail_dots`). Phone: E.164 with `phonenumbers`, national numbers read in the member's or the
default region, and it must be a valid number; hashed as "+4930..." for Google and
"4930..." (digits only) for Meta. Hashes are lower-case hex SHA-256 of the UTF-8 text.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal, TextIO, get_args

import orjson
import phonenumbers
from email_validator import EmailNotValidError, validate_email

Platform = Literal["google", "meta"]
PLATFORM_COLUMNS: Final[Mapping[str, tuple[str, str]]] = {
    "google": ("Email", "Phone"),
    "meta": ("email", "phone"),
}
"""The column headers each platform's customer-list upload recognises (e-mail, phone)."""
AD_CONSENT_PURPOSE: Final = "advertising"
"""The consent purpose an ad audience needs (profiles.consent.PURPOSES)."""
MAX_PER_MEMBER: Final = 3
"""Both platforms take up to three e-mail and three phone columns."""
GMAIL_DOMAINS: Final = frozenset({"gmail.com", "googlemail.com"})
MAX_EMAIL_LENGTH: Final = 254
MAX_PHONE_LENGTH: Final = 64
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True, slots=True)
class AdMember:
    """A segment member as the writers need them."""

    profile_id: str
    consented: bool
    """Whether consent for the export's purpose is in force: for ad platforms, the
    `advertising` purpose (ad_consent_granted). Members without it are left out."""
    emails: Sequence[str] = ()
    """The member's e-mail addresses, preferred first, as stored (normalised here)."""
    phones: Sequence[str] = ()
    region: str | None = None
    """Two-letter country whose national phone numbers the member's are (else the default)."""
    traits: Mapping[str, Any] = field(default_factory=dict)
    """Trait name -> value, for the plain member list."""


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What a writer wrote and what it left out."""

    written: int
    """Members written (rows after the header)."""
    skipped_consent: int
    """Members left out because consent for the purpose is not in force."""
    skipped_invalid: int
    """Members left out of a platform file because none of their identifiers normalised."""
    invalid_emails: int
    """E-mail values dropped because they are not addresses (of consented members)."""
    invalid_phones: int
    """Phone values dropped because they are not valid numbers (of consented members)."""


def normalise_email(raw: object, *, gmail_dots: bool = False) -> str | None:
    """The address trimmed and lower-cased, or None when it is not an e-mail address. With
    `gmail_dots`, dots are removed before @gmail.com and @googlemail.com (Google's rule for
    enhanced conversions; not part of Customer Match's or Meta's normalisation)."""
    if not isinstance(raw, str):
        return None
    text = raw.strip().lower()
    if not text or len(text) > MAX_EMAIL_LENGTH:
        return None
    try:
        validate_email(text, check_deliverability=False)  # syntax only: no network
    except EmailNotValidError:
        return None
    if gmail_dots:
        local, _, domain = text.rpartition("@")
        if domain in GMAIL_DOMAINS:
            text = f"{local.replace('.', '')}@{domain}"
    return text


def normalise_phone(raw: object, *, default_region: str | None = None) -> str | None:
    """The number in E.164 ("+4930123456"), or None when it is not a valid phone number.
    Numbers without a country code are read as national numbers of `default_region` (a
    two-letter country such as "DE"); without one they cannot be read."""
    region = check_region(default_region)
    if isinstance(raw, bool) or not isinstance(raw, str | int):
        return None
    text = str(raw).strip()
    if not text or len(text) > MAX_PHONE_LENGTH:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def hash_identifier(value: str) -> str:
    """Lower-case hex SHA-256 of the value's UTF-8 bytes."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def platform_phone(e164: str, platform: Platform) -> str:
    """An E.164 number as the platform hashes it: with "+" for Google, digits only for Meta."""
    check_platform(platform)
    return e164 if platform == "google" else e164.removeprefix("+")


def ad_consent_granted(consents: Mapping[tuple[str, str], bool]) -> bool:
    """Whether a person's consents in force ((channel, purpose) -> granted, as
    facts.consents_in_force gives them) allow ad audiences: `advertising` granted on at
    least one channel and refused on none."""
    answers = [
        granted for (_, purpose), granted in consents.items() if purpose == AD_CONSENT_PURPOSE
    ]
    return bool(answers) and all(answers)


def check_platform(platform: str) -> None:
    """Raises ValueError naming the platforms when `platform` is not one."""
    if platform not in get_args(Platform):
        raise ValueError(f"unknown platform {platform!r}: choose google or meta")


def check_region(region: str | None) -> str | None:
    """The region in upper case; ValueError when it is not a country phonenumbers knows."""
    if region is None:
        return None
    upper = region.strip().upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(
            f"unknown region {region!r}: use a two-letter country code such as DE, GB or US"
        )
    return upper


def write_platform_csv(
    members: Iterable[AdMember],
    out: TextIO,
    *,
    platform: Platform,
    default_region: str | None = None,
    gmail_dots: bool = False,
    per_member: int = 1,
) -> ExportSummary:
    """A customer list for the platform: a header (Email, Phone for Google; email, phone for
    Meta; each `per_member` times) and one row of hashed identifiers per consented member
    with at least one identifier that normalises, in the order given."""
    check_platform(platform)
    region = check_region(default_region)
    if gmail_dots and platform != "google":
        raise ValueError("gmail_dots is Google's rule: Meta hashes gmail addresses as they are")
    if not 1 <= per_member <= MAX_PER_MEMBER:
        raise ValueError(f"per_member must be from 1 to {MAX_PER_MEMBER} (got {per_member})")
    email_column, phone_column = PLATFORM_COLUMNS[platform]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([email_column] * per_member + [phone_column] * per_member)
    written = no_consent = unusable = bad_emails = bad_phones = 0
    for member in members:
        if not member.consented:
            no_consent += 1
            continue
        emails, bad = _normalised(
            member.emails, lambda v: normalise_email(v, gmail_dots=gmail_dots)
        )
        bad_emails += bad
        phones, bad = _normalised(member.phones, _phone_reader(member.region, region))
        bad_phones += bad
        if not emails and not phones:
            unusable += 1
            continue
        hashed_emails = [hash_identifier(e) for e in emails[:per_member]]
        hashed_phones = [hash_identifier(platform_phone(p, platform)) for p in phones[:per_member]]
        writer.writerow(_padded(hashed_emails, per_member) + _padded(hashed_phones, per_member))
        written += 1
    return ExportSummary(written, no_consent, unusable, bad_emails, bad_phones)


def write_members_csv(
    members: Iterable[AdMember],
    out: TextIO,
    *,
    traits: Sequence[str] = (),
    default_region: str | None = None,
) -> ExportSummary:
    """A plain list of the consented members: profile_id, email, phone (the first that
    normalises, E.164; empty when none does) and the chosen traits. Text cells that a
    spreadsheet would run as a formula (starting with = + - @) get a leading apostrophe."""
    region = check_region(default_region)
    header = ["profile_id", "email", "phone", *traits]
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(f"column(s) {', '.join(repeated)} would appear twice: rename the traits")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    written = no_consent = bad_emails = bad_phones = 0
    for member in members:
        if not member.consented:
            no_consent += 1
            continue
        emails, bad = _normalised(member.emails, normalise_email)
        bad_emails += bad
        phones, bad = _normalised(member.phones, _phone_reader(member.region, region))
        bad_phones += bad
        row = [
            _cell(member.profile_id),
            _cell(emails[0] if emails else None),
            phones[0] if phones else "",
            *(_cell(member.traits.get(name)) for name in traits),
        ]
        writer.writerow(row)
        written += 1
    return ExportSummary(written, no_consent, 0, bad_emails, bad_phones)


def _phone_reader(member_region: str | None, default: str | None) -> Callable[[str], str | None]:
    """normalise_phone in the member's region when it is a known one, else the default."""
    try:
        region = check_region(member_region) or default
    except ValueError:
        region = default
    return lambda value: normalise_phone(value, default_region=region)


def _normalised(
    values: Sequence[str], normalise: Callable[[str], str | None]
) -> tuple[list[str], int]:
    """The distinct normalised values in order, and how many given values did not normalise
    (blank values are absent, not invalid)."""
    found: list[str] = []
    invalid = 0
    for value in [values] if isinstance(values, str) else values:  # one value given bare
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        normalised = normalise(value)
        if normalised is None:
            invalid += 1
        elif normalised not in found:
            found.append(normalised)
    return found, invalid


def _padded(values: list[str], width: int) -> list[str]:
    return values + [""] * (width - len(values))


def _cell(value: object) -> str:
    """A value as spreadsheet-safe CSV text."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        return str(value)
    elif isinstance(value, datetime | date):
        text = value.isoformat()
    elif isinstance(value, str):
        text = value
    else:
        text = orjson.dumps(value, default=str).decode()
    return f"'{text}" if text.startswith(_FORMULA_START) else text
