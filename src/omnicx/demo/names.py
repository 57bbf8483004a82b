"""People's names and home addresses per market, drawn with Faker's locales."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from faker import Faker

from omnicx.demo.markets import Market

# Persian names with the Latin spelling their owners use in e-mail addresses.
_FA_FIRST_FEMALE = (
    ("زهرا", "Zahra"), ("فاطمه", "Fatemeh"), ("مریم", "Maryam"), ("سارا", "Sara"),
    ("نگار", "Negar"), ("نازنین", "Nazanin"), ("پریسا", "Parisa"), ("شیما", "Shima"),
    ("لیلا", "Leila"), ("الهام", "Elham"), ("مهسا", "Mahsa"), ("آیدا", "Aida"),
)  # fmt: skip
_FA_FIRST_MALE = (
    ("محمد", "Mohammad"), ("علی", "Ali"), ("حسین", "Hossein"), ("رضا", "Reza"),
    ("امیر", "Amir"), ("مهدی", "Mahdi"), ("آرش", "Arash"), ("کاوه", "Kaveh"),
    ("بهرام", "Bahram"), ("سعید", "Saeed"), ("پویا", "Pouya"), ("حمید", "Hamid"),
)  # fmt: skip
_FA_LAST = (
    ("محمدی", "Mohammadi"), ("حسینی", "Hosseini"), ("احمدی", "Ahmadi"), ("رضایی", "Rezaei"),
    ("کریمی", "Karimi"), ("موسوی", "Mousavi"), ("جعفری", "Jafari"), ("صادقی", "Sadeghi"),
    ("رحیمی", "Rahimi"), ("کاظمی", "Kazemi"), ("هاشمی", "Hashemi"), ("نوری", "Nouri"),
    ("تهرانی", "Tehrani"), ("شریفی", "Sharifi"), ("قاسمی", "Ghasemi"), ("امینی", "Amini"),
)  # fmt: skip

_STREETS: dict[str, tuple[str, ...]] = {
    "TR": ("Bağdat Caddesi", "Atatürk Bulvarı", "Moda Caddesi", "Cumhuriyet Caddesi",
           "Halaskargazi Caddesi", "Kıbrıs Şehitleri Caddesi", "Gazi Mustafa Kemal Bulvarı"),
    "LV": ("Brīvības iela", "Tērbatas iela", "Krišjāņa Barona iela", "Elizabetes iela",
           "Lāčplēša iela", "Dzirnavu iela", "Maskavas iela", "Jomas iela"),
    "IR": ("خیابان ولیعصر", "خیابان شریعتی", "خیابان انقلاب", "بلوار کشاورز", "خیابان آزادی",
           "خیابان مطهری"),
}  # fmt: skip
_GB_SUFFIXES = ("Road", "Street", "Lane", "Avenue", "Close", "Gardens", "Crescent")


@dataclass(frozen=True, slots=True)
class Name:
    """A person's name as shown, and its Latin spelling for e-mail addresses."""

    first: str
    last: str
    latin_first: str
    latin_last: str


@dataclass(frozen=True, slots=True)
class Address:
    """A home address."""

    street: str
    postcode: str
    city: str


class NameBook:
    """Draws names and addresses for every market, deterministically for a seeded draw."""

    def __init__(self, markets: tuple[Market, ...]) -> None:
        self._fakers = {m.country: Faker(m.locale) for m in markets}

    def family_name(self, rng: Random, market: Market) -> Name:
        """A family's surname (first names are drawn per member)."""
        if market.country == "IR":
            last, latin = rng.choice(_FA_LAST)
            return Name("", last, "", latin)
        fake = self._seeded(rng, market)
        last = fake.last_name_male() if market.country == "LV" else fake.last_name()
        return Name("", last, "", last)

    def member_name(self, rng: Random, market: Market, family: Name, female: bool) -> Name:
        """A household member's name, the family's surname in the member's grammatical form."""
        if market.country == "IR":
            first, latin = rng.choice(_FA_FIRST_FEMALE if female else _FA_FIRST_MALE)
            return Name(first, family.last, latin, family.latin_last)
        fake = self._seeded(rng, market)
        first = fake.first_name_female() if female else fake.first_name_male()
        last = _latvian_female(family.last) if female and market.country == "LV" else family.last
        return Name(first, last, first, last)

    def address(self, rng: Random, market: Market) -> Address:
        """A plausible home address in the market (street, postcode, city)."""
        fake = self._seeded(rng, market)
        weights = [4, 3, 1, 1, 1, 1][: len(market.cities)]
        city = rng.choices(market.cities, weights)[0]
        number = rng.randrange(1, 180)
        country = market.country
        if country == "TR":
            street = f"{rng.choice(_STREETS['TR'])} No: {number} D: {rng.randrange(1, 20)}"
            postcode = f"{34 if city == 'İstanbul' else 35:02d}{rng.randrange(1000):03d}"
        elif country == "LV":
            street = f"{rng.choice(_STREETS['LV'])} {number}-{rng.randrange(1, 60)}"
            postcode = f"LV-{rng.randrange(1001, 5700)}"
        elif country == "IR":
            street = f"{rng.choice(_STREETS['IR'])}، پلاک {number}"
            postcode = f"{rng.randrange(10**9, 10**10)}"
        elif country == "GB":
            street = f"{number} {fake.last_name()} {rng.choice(_GB_SUFFIXES)}"
            postcode = fake.postcode()
        else:
            street = fake.street_address()
            postcode = fake.postcode()
        return Address(street, postcode, city)

    def _seeded(self, rng: Random, market: Market) -> Faker:
        fake = self._fakers[market.country]
        fake.seed_instance(rng.getrandbits(32))
        return fake


def _latvian_female(surname: str) -> str:
    """Latvian surnames agree in gender: Kalniņš → Kalniņa, Apinis → Apine, Ozols → Ozola."""
    if surname.endswith("is"):
        return surname[:-2] + "e"
    if surname.endswith(("s", "š")):
        return surname[:-1] + "a"
    return surname
