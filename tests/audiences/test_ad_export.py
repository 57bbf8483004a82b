"""Ad-platform export: normalisation as Google Ads Customer Match and Meta document it,
SHA-256 against published vectors and hashlib on hand-normalised strings, consent first."""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from omnicx.audiences.ad_export import (
    PLATFORM_COLUMNS,
    AdMember,
    ExportSummary,
    ad_consent_granted,
    hash_identifier,
    normalise_email,
    normalise_phone,
    platform_phone,
    write_members_csv,
    write_platform_csv,
)
from omnicx.audiences.facts import consents_in_force
from omnicx.profiles.schemas import ConsentOut


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# Hashing.


@pytest.mark.parametrize(
    ("value", "digest"),
    [
        # FIPS 180-2 / NIST examples.
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        (
            "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1",
        ),
    ],
)
def test_hashes_are_lower_case_hex_sha256(value: str, digest: str) -> None:
    assert hash_identifier(value) == digest


def test_text_is_hashed_as_utf8() -> None:
    assert (
        hash_identifier("jörg@example.de") == hashlib.sha256("jörg@example.de".encode()).hexdigest()
    )


# E-mail addresses.


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("john.doe@example.com", "john.doe@example.com"),
        ("  John.Doe@Example.COM  ", "john.doe@example.com"),
        ("\tMARY+news@Shop.co.uk\n", "mary+news@shop.co.uk"),
        ("John.Doe@gmail.com", "john.doe@gmail.com"),  # dots kept unless asked
        ("Jörg@Beispiel.de", "jörg@beispiel.de"),
    ],
)
def test_emails_are_trimmed_and_lower_cased(raw: str, normalised: str) -> None:
    assert normalise_email(raw) == normalised


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        (" John.Doe@GMail.com", "johndoe@gmail.com"),
        ("j.o.h.n@googlemail.com", "john@googlemail.com"),
        ("john.doe@example.com", "john.doe@example.com"),
        ("john.doe@gmail.com.example.org", "john.doe@gmail.com.example.org"),
    ],
)
def test_gmail_dots_are_removed_only_when_asked(raw: str, normalised: str) -> None:
    assert normalise_email(raw, gmail_dots=True) == normalised


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "not-an-email",
        "john@",
        "@example.com",
        "john doe@example.com",
        "john@example",
        "a@b@example.com",
        "x" * 250 + "@example.com",
        None,
        42,
        ["a@b.com"],
    ],
)
def test_what_is_not_an_email_address_does_not_normalise(raw: Any) -> None:
    assert normalise_email(raw) is None


@given(st.emails())
def test_email_normalisation_is_idempotent_and_ignores_case_and_spaces(email: str) -> None:
    normalised = normalise_email(email)
    if normalised is None:
        return
    assert normalise_email(normalised) == normalised
    assert normalise_email(f"  {email.upper()}\t") == normalised
    assert normalised == email.strip().lower()


# Phone numbers.


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+49 30 1234567", None, "+49301234567"),
        ("+49 (0)30 123-4567", None, "+49301234567"),
        ("030 1234567", "DE", "+49301234567"),
        ("0049 30 1234567", "DE", "+49301234567"),
        ("030 1234567", "de", "+49301234567"),
        ("(415) 555-2671", "US", "+14155552671"),
        ("415.555.2671", "US", "+14155552671"),
        ("+1 415 555 2671", "GB", "+14155552671"),  # a country code wins over the region
        ("020 7946 0958", "GB", "+442079460958"),
        (" 07911 123456 ", "GB", "+447911123456"),
        ("tel:+33-1-42-68-53-00", None, "+33142685300"),
        (4930123456, None, None),  # a bare number without region cannot be read
        (14155552671, "US", "+14155552671"),
    ],
)
def test_phone_numbers_become_e164(raw: Any, region: str | None, e164: str | None) -> None:
    assert normalise_phone(raw, default_region=region) == e164


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("030 1234567", None),  # national, and no region to read it in
        ("555-0102", "US"),  # too short
        ("07700 900123", "GB"),  # the right length, but a range kept for drama: not valid
        ("+1 555 555 0100", None),  # 555 is not an area code
        ("+49 123", None),
        ("call me", "DE"),
        ("", "DE"),
        ("   ", "DE"),
        ("1" * 70, "DE"),
        (None, "DE"),
        (True, "DE"),
        (3.5, "DE"),
    ],
)
def test_what_is_not_a_valid_number_does_not_normalise(raw: Any, region: str | None) -> None:
    assert normalise_phone(raw, default_region=region) is None


def test_an_unknown_default_region_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown region 'Germany': use a two-letter"):
        normalise_phone("030 1234567", default_region="Germany")


REGIONS = sorted(r for r in phonenumbers.SUPPORTED_REGIONS if phonenumbers.example_number(r))
FORMATS = [
    phonenumbers.PhoneNumberFormat.NATIONAL,
    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
    phonenumbers.PhoneNumberFormat.E164,
    phonenumbers.PhoneNumberFormat.RFC3966,
]


@given(st.sampled_from(REGIONS), st.sampled_from(FORMATS), st.sampled_from(["", " ", "\t"]))
def test_any_countrys_number_in_any_format_normalises_to_its_e164(
    region: str, form: int, padding: str
) -> None:
    number = phonenumbers.example_number(region)
    assert number is not None
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    written = padding + phonenumbers.format_number(number, form) + padding
    assert normalise_phone(written, default_region=region) == e164
    assert normalise_phone(e164) == e164


def test_platforms_hash_phones_with_and_without_plus() -> None:
    assert platform_phone("+49301234567", "google") == "+49301234567"
    assert platform_phone("+49301234567", "meta") == "49301234567"
    with pytest.raises(ValueError, match="unknown platform 'tiktok': choose google or meta"):
        platform_phone("+49301234567", "tiktok")  # type: ignore[arg-type]


# Consent.


def test_ad_audiences_need_advertising_consent_and_no_refusal() -> None:
    assert not ad_consent_granted({})
    assert not ad_consent_granted({("email", "marketing"): True})
    assert ad_consent_granted({("web", "advertising"): True, ("email", "marketing"): False})
    assert not ad_consent_granted({("web", "advertising"): True, ("ios", "advertising"): False})


def test_consent_for_all_channels_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    def consent(channel: str, granted: bool, day: int) -> ConsentOut:
        when = datetime(2026, 1, day, tzinfo=UTC)
        return ConsentOut(
            channel=channel, purpose="advertising", granted=granted, occurred_at=when, signal="api"
        )

    assert ad_consent_granted(consents_in_force([consent("all", True, 1)]))
    # A later refusal on one channel is a refusal.
    assert not ad_consent_granted(
        consents_in_force([consent("all", True, 1), consent("web", False, 2)])
    )
    # A later yes everywhere overrides an earlier no on one channel.
    assert ad_consent_granted(
        consents_in_force([consent("web", False, 1), consent("all", True, 2)])
    )


# Writing customer lists.


def _write(members: list[AdMember], **options: Any) -> tuple[list[list[str]], ExportSummary]:
    out = io.StringIO()
    summary = write_platform_csv(members, out, **options)
    return list(csv.reader(io.StringIO(out.getvalue()))), summary


ANNA = AdMember(
    profile_id="p1",
    consented=True,
    emails=[" Anna.Schmidt@Example.DE "],
    phones=["030 1234567"],
    region="DE",
)


def test_a_google_customer_list_has_hashes_of_hand_normalised_identifiers() -> None:
    rows, summary = _write([ANNA], platform="google")
    assert rows == [
        ["Email", "Phone"],
        [sha256("anna.schmidt@example.de"), sha256("+49301234567")],
    ]
    assert summary == ExportSummary(1, 0, 0, 0, 0)


def test_a_meta_customer_list_hashes_the_phone_without_plus() -> None:
    rows, _ = _write([ANNA], platform="meta")
    assert rows == [
        ["email", "phone"],
        [sha256("anna.schmidt@example.de"), sha256("49301234567")],
    ]


def test_national_numbers_are_read_in_the_members_region_else_the_default() -> None:
    bob = AdMember(profile_id="p2", consented=True, phones=["(415) 555-2671"], region="US")
    carl = AdMember(profile_id="p3", consented=True, phones=["020 7946 0958"])
    dora = AdMember(profile_id="p4", consented=True, phones=["020 7946 0958"], region="Mars")
    rows, _ = _write([bob, carl, dora], platform="google", default_region="GB")
    assert [r[1] for r in rows[1:]] == [
        sha256("+14155552671"),
        sha256("+442079460958"),
        sha256("+442079460958"),  # an unknown member region falls back to the default
    ]


def test_members_without_consent_are_left_out_and_counted() -> None:
    refused = AdMember(profile_id="p9", consented=False, emails=["eve@example.com"])
    rows, summary = _write([refused, ANNA, refused], platform="google")
    assert len(rows) == 2
    assert sha256("eve@example.com") not in rows[1]
    assert (summary.written, summary.skipped_consent) == (1, 2)


def test_values_that_do_not_normalise_are_dropped_and_counted() -> None:
    half = AdMember(profile_id="p5", consented=True, emails=["ok@example.com"], phones=["12"])
    nothing = AdMember(
        profile_id="p6", consented=True, emails=["nope", "also nope"], phones=["030 1234567"]
    )
    blank = AdMember(profile_id="p7", consented=True, emails=["", "  "])
    rows, summary = _write([half, nothing, blank], platform="meta")
    assert rows[1:] == [[sha256("ok@example.com"), ""]]
    assert summary == ExportSummary(
        written=1, skipped_consent=0, skipped_invalid=2, invalid_emails=2, invalid_phones=2
    )


def test_several_identifiers_per_member_fill_repeated_columns() -> None:
    many = AdMember(
        profile_id="p8",
        consented=True,
        emails=["A@example.com", "a@example.com ", "b@example.com", "c@example.com"],
        phones=["+49 30 1234567"],
    )
    rows, _ = _write([many], platform="google", per_member=3)
    assert rows == [
        ["Email", "Email", "Email", "Phone", "Phone", "Phone"],
        [
            sha256("a@example.com"),  # the same address twice is hashed once
            sha256("b@example.com"),
            sha256("c@example.com"),
            sha256("+49301234567"),
            "",
            "",
        ],
    ]


def test_gmail_dots_are_a_google_option() -> None:
    gmail = AdMember(profile_id="p1", consented=True, emails=["Anna.Schmidt@gmail.com"])
    rows, _ = _write([gmail], platform="google", gmail_dots=True)
    assert rows[1][0] == sha256("annaschmidt@gmail.com")
    rows, _ = _write([gmail], platform="google")
    assert rows[1][0] == sha256("anna.schmidt@gmail.com")
    with pytest.raises(ValueError, match="gmail_dots is Google's rule"):
        _write([gmail], platform="meta", gmail_dots=True)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"platform": "linkedin"}, "unknown platform"),
        ({"platform": "google", "per_member": 0}, "per_member must be from 1 to 3"),
        ({"platform": "meta", "per_member": 4}, "per_member must be from 1 to 3"),
        ({"platform": "google", "default_region": "XX"}, "unknown region"),
    ],
)
def test_bad_options_are_refused(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _write([ANNA], **options)


# The plain member list.


def test_the_member_list_has_normalised_identifiers_and_chosen_traits() -> None:
    anna = AdMember(
        profile_id="p1",
        consented=True,
        emails=["bad", " Anna@Example.DE"],
        phones=["030 1234567"],
        region="DE",
        traits={
            "first_name": "Anna",
            "vip": True,
            "orders": 7,
            "ltv": 123.5,
            "tags": ["a", "b"],
            "signed_up": datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
            "note": '=HYPERLINK("http://evil")',
            "score": float("nan"),
        },
    )
    refused = AdMember(profile_id="p2", consented=False, emails=["x@example.com"])
    nobody = AdMember(profile_id="p3", consented=True, phones=["0"])
    out = io.StringIO()
    traits = ["first_name", "vip", "orders", "ltv", "tags", "signed_up", "note", "score", "city"]
    summary = write_members_csv([anna, refused, nobody], out, traits=traits)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert rows == [
        ["profile_id", "email", "phone", *traits],
        [
            "p1",
            "anna@example.de",
            "+49301234567",
            "Anna",
            "true",
            "7",
            "123.5",
            '["a","b"]',
            "2026-01-02T03:04:00+00:00",
            '\'=HYPERLINK("http://evil")',  # a spreadsheet must not run it
            "",
            "",
        ],
        ["p3", "", "", *[""] * len(traits)],
    ]
    assert summary == ExportSummary(
        written=2, skipped_consent=1, skipped_invalid=0, invalid_emails=1, invalid_phones=1
    )


def test_trait_columns_cannot_repeat_the_identifier_columns() -> None:
    with pytest.raises(ValueError, match="column\\(s\\) email would appear twice"):
        write_members_csv([ANNA], io.StringIO(), traits=["email"])


def test_formats_and_summary_fields_are_documented() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "ad-export.md").read_text()
    for platform, (email, phone) in PLATFORM_COLUMNS.items():
        assert f"| `{platform}` " in docs
        assert f"`{email},{phone}`" in docs
    for name in ExportSummary.__dataclass_fields__:
        assert f"`{name}`" in docs, name


def test_a_single_identifier_given_bare_is_one_value() -> None:
    bare = AdMember(profile_id="p1", consented=True, emails="Anna@Example.de")
    rows, summary = _write([bare], platform="meta")
    assert rows[1] == [sha256("anna@example.de"), ""]
    assert summary.invalid_emails == 0
