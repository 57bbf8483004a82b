"""Identifiers people leave behind, and the many ways they get written down."""

from __future__ import annotations

from random import Random

from faker.decode import unidecode

from omnicx.demo.markets import Market

# The bits a version-4 UUID keeps from its random number, and the version and variant it sets.
_UUID4_KEEP = 0xFFFFFFFF_FFFF_0FFF_3FFF_FFFFFFFFFFFF
_UUID4_SET = 0x00000000_0000_4000_8000_000000000000


def random_uuid(rng: Random) -> str:
    """A version-4 UUID drawn from `rng` (deterministic for a seeded generator).

    The same text as `str(uuid.UUID(int=rng.getrandbits(128), version=4))`, three times faster.
    """
    h = f"{rng.getrandbits(128) & _UUID4_KEEP | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def ios_device_id(rng: Random) -> str:
    """An identifierForVendor as iOS reports it: an upper-case UUID."""
    return random_uuid(rng).upper()


def android_device_id(rng: Random) -> str:
    """An ANDROID_ID: 16 hexadecimal digits."""
    return f"{rng.getrandbits(64):016x}"


def digits(rng: Random, count: int) -> str:
    """`count` random decimal digits, leading zeros allowed."""
    return f"{rng.randrange(10**count):0{count}d}"


# Sequential ids start with the seed, so two seeds loaded into one database never share one.


def user_id(seed: int, household: int, slot: int) -> str:
    """The web shop's customer number for account `slot` (0-9) of a household."""
    return f"{seed}{household * 10 + slot:09d}"


def crm_id(seed: int, household: int, member: int) -> str:
    """The CRM's customer id for a household member."""
    return f"CRM{seed}{household * 5 + member:08d}"


def loyalty_card(seed: int, household: int, member: int) -> str:
    """A loyalty card number: 7, the seed, a serial and a Luhn check digit."""
    body = f"7{seed}{household * 5 + member:08d}"
    return body + _luhn_digit(body)


def _luhn_digit(body: str) -> str:
    total = 0
    for position, char in enumerate(reversed(body)):
        value = int(char)
        if position % 2 == 0:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return str((10 - total % 10) % 10)


def written_card(rng: Random, card: str) -> str:
    """A loyalty card number as a clerk types it: digits, grouped, or with the brand prefix."""
    roll = rng.random()
    if roll < 0.6:
        return card
    if roll < 0.85:
        return f"{card[:3]} {card[3:7]} {card[7:]}"
    return f"KRV-{card}"


def mobile_number(rng: Random, market: Market, seed: int, serial: int) -> str:
    """A mobile's national significant number (no trunk prefix), one per person `serial`."""
    prefix = rng.choice(market.mobile_prefixes)
    width = market.subscriber_digits - len(prefix)
    return f"{prefix}{scrambled(serial, width, seed):0{width}d}"


def e164(market: Market, national: str) -> str:
    """The E.164 form of a national significant number: +, country code, digits."""
    return f"+{market.calling_code}{national}"


def written_phone(market: Market, national: str, template: int) -> str:
    """A phone number written with the market's `template`-th habit (see Market.phone_templates)."""
    pattern = market.phone_templates[template % len(market.phone_templates)]
    numbers = iter(national)
    return "".join(next(numbers) if char == "#" else char for char in pattern)


def any_written_phone(rng: Random, market: Market, national: str) -> str:
    """A phone number as a person types it into a form: national habit or E.164."""
    if rng.random() < 0.2:
        return e164(market, national)
    return written_phone(market, national, rng.randrange(len(market.phone_templates)))


def ascii_name(text: str) -> str:
    """A name folded to lower-case ASCII letters for e-mail addresses and handles."""
    return "".join(c for c in unidecode(text).lower() if c.isalnum())


def scrambled(serial: int, width: int, seed: int, spread: int = 7_919) -> int:
    """A number below 10**width that looks random but differs for every serial below 10**width.

    `spread` (odd, not a multiple of 5) picks the sequence: unrelated uses take different ones.
    """
    return int((serial * spread + 104_729 + seed * 1_000_003) % 10**width)


def email_address(first: str, last: str, domain: str, style: int, seed: int, serial: int) -> str:
    """A personal e-mail address in canonical lower case, different for every person `serial`.

    A real mailbox belongs to one person, so two customers named alike never share one: the
    number people add to a taken name is drawn from their serial.
    """
    first, last = ascii_name(first) or "info", ascii_name(last) or "mail"
    number = scrambled(serial, 6, seed, spread=3_571)
    local = (
        f"{first}.{last}{number}",
        f"{first}{last}{number}",
        f"{first[0]}{last}{number}",
        f"{first}_{last}{number}",
        f"{last}.{first}{number}",
    )[style % 5]
    return f"{local}@{domain}"


def written_email(rng: Random, email: str, sloppiness: float = 0.35) -> str:
    """An e-mail address as typed: usually as is, sometimes capitalised, shouted or padded."""
    if rng.random() >= sloppiness:
        return email
    local, _, domain = email.partition("@")
    style = rng.randrange(4)
    if style == 0:
        return email[0].upper() + email[1:]
    if style == 1:
        return email.upper()
    if style == 2:
        return f" {email} "
    return ".".join(part.capitalize() for part in local.split(".")) + "@" + domain.capitalize()
