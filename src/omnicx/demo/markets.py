"""The demo retailer's five markets: locale, currency, phone numbering, stores, web site."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Store:
    """A physical store with its point-of-sale id."""

    id: str
    name: str
    city: str


@dataclass(frozen=True, slots=True)
class Market:
    """A country the retailer sells in, with what its customers' data looks like there."""

    country: str
    locale: str
    language: str
    timezone: str
    utc_offset_hours: float
    currency: str
    price_factor: float
    price_step: float
    calling_code: str
    mobile_prefixes: tuple[str, ...]
    subscriber_digits: int
    phone_templates: tuple[str, ...]
    """How people write a mobile number there; `#` are the national significant digits."""
    email_domains: tuple[str, ...]
    ip_prefixes: tuple[str, ...]
    carriers: tuple[str, ...]
    cities: tuple[str, ...]
    """Where customers live, the store cities first (they are drawn more often)."""
    site: str
    stores: tuple[Store, ...]
    weight: float


MARKETS: tuple[Market, ...] = (
    Market(
        country="TR", locale="tr_TR", language="tr-TR", timezone="Europe/Istanbul",
        utc_offset_hours=3, currency="TRY", price_factor=38.0, price_step=10.0,
        calling_code="90", mobile_prefixes=("530", "532", "533", "535", "541", "542", "505", "555"),
        subscriber_digits=10,
        phone_templates=("0### ### ## ##", "0##########", "+90 ### ### ## ##", "(0###) ### ## ##"),
        email_domains=("gmail.com", "hotmail.com", "yandex.com.tr", "outlook.com", "icloud.com"),
        ip_prefixes=("78.180", "88.230", "176.88", "85.105", "95.10"),
        carriers=("Turkcell", "Vodafone TR", "Türk Telekom"),
        cities=("İstanbul", "İzmir", "Ankara", "Bursa", "Antalya", "Eskişehir"),
        site="www.kervan.com.tr",
        stores=(
            Store("IST-KDK", "Kervan Kadıköy", "İstanbul"),
            Store("IST-NST", "Kervan Nişantaşı", "İstanbul"),
            Store("IZM-ALS", "Kervan Alsancak", "İzmir"),
        ),
        weight=0.30,
    ),
    Market(
        country="NL", locale="nl_NL", language="nl-NL", timezone="Europe/Amsterdam",
        utc_offset_hours=1, currency="EUR", price_factor=1.0, price_step=0.05,
        calling_code="31", mobile_prefixes=("6",), subscriber_digits=9,
        phone_templates=("0#-########", "0# ## ## ## ##", "+31 # ########", "0031#########"),
        email_domains=("gmail.com", "hotmail.nl", "ziggo.nl", "kpnmail.nl", "outlook.com"),
        ip_prefixes=("145.53", "84.241", "77.170", "62.45", "83.84"),
        carriers=("KPN", "Vodafone", "Odido"),
        cities=("Amsterdam", "Utrecht", "Rotterdam", "Den Haag", "Eindhoven", "Groningen"),
        site="www.kervan.nl",
        stores=(
            Store("AMS-KLV", "Kervan Kalverstraat", "Amsterdam"),
            Store("UTR-HCA", "Kervan Hoog Catharijne", "Utrecht"),
            Store("RTM-LIJ", "Kervan Lijnbaan", "Rotterdam"),
        ),
        weight=0.22,
    ),
    Market(
        country="LV", locale="lv_LV", language="lv-LV", timezone="Europe/Riga",
        utc_offset_hours=2, currency="EUR", price_factor=1.0, price_step=0.05,
        calling_code="371", mobile_prefixes=("2",), subscriber_digits=8,
        phone_templates=("########", "## ### ###", "+371 ########", "+371 ## ### ###"),
        email_domains=("gmail.com", "inbox.lv", "apollo.lv", "outlook.com"),
        ip_prefixes=("87.110", "213.175", "46.109", "85.254"),
        carriers=("LMT", "Tele2", "Bite"),
        cities=("Rīga", "Jūrmala", "Liepāja", "Daugavpils", "Jelgava", "Valmiera"),
        site="www.kervan.lv",
        stores=(
            Store("RIX-TRB", "Kervan Tērbatas iela", "Rīga"),
            Store("RIX-ORG", "Kervan Origo", "Rīga"),
        ),
        weight=0.12,
    ),
    Market(
        country="IR", locale="fa_IR", language="fa-IR", timezone="Asia/Tehran",
        utc_offset_hours=3.5, currency="IRR", price_factor=600_000.0, price_step=10_000.0,
        calling_code="98", mobile_prefixes=("912", "915", "919", "935", "936", "901", "910"),
        subscriber_digits=10,
        phone_templates=("0### ### ####", "0##########", "+98 ### ### ####", "0098##########"),
        email_domains=("gmail.com", "yahoo.com", "chmail.ir", "outlook.com"),
        ip_prefixes=("5.160", "2.176", "91.98", "37.255", "151.232"),
        carriers=("Hamrah-e Aval", "Irancell", "RighTel"),
        cities=("Tehran", "Isfahan", "Shiraz", "Mashhad", "Tabriz", "Karaj"),
        site="www.kervan.ir",
        stores=(
            Store("THR-TJR", "Kervan Tajrish", "Tehran"),
            Store("THR-PLD", "Kervan Palladium", "Tehran"),
            Store("ISF-CHB", "Kervan Chaharbagh", "Isfahan"),
        ),
        weight=0.16,
    ),
    Market(
        country="GB", locale="en_GB", language="en-GB", timezone="Europe/London",
        utc_offset_hours=0, currency="GBP", price_factor=0.85, price_step=0.05,
        calling_code="44", mobile_prefixes=("74", "75", "77", "78", "79"), subscriber_digits=10,
        phone_templates=("0#### ######", "0##########", "+44 #### ######", "+44 (0)#### ######"),
        email_domains=("gmail.com", "hotmail.co.uk", "btinternet.com", "outlook.com",
                       "yahoo.co.uk"),
        ip_prefixes=("81.2", "86.128", "90.194", "109.150", "82.132"),
        carriers=("EE", "O2", "Vodafone UK", "Three"),
        cities=("London", "Manchester", "Birmingham", "Leeds", "Bristol", "Glasgow"),
        site="www.kervan.co.uk",
        stores=(
            Store("LON-CVG", "Kervan Covent Garden", "London"),
            Store("MAN-KGS", "Kervan King Street", "Manchester"),
        ),
        weight=0.20,
    ),
)  # fmt: skip
"""Every market, with the share of customers living there (`weight`)."""

MARKET_WEIGHTS = tuple(m.weight for m in MARKETS)


def local_price(market: Market, base_eur: float) -> float:
    """Converts a catalog price in euros to a shelf price in the market's currency."""
    amount = base_eur * market.price_factor
    if market.price_step < 1:  # euros and pounds: 8.95, 24.95
        return round(max(1, round(amount)) - 0.05, 2)
    steps = max(1, round(amount / market.price_step))
    if market.price_step < 1_000:  # lira: 949.90
        return round(steps * market.price_step - 0.1, 2)
    return steps * market.price_step  # rial: whole tens of thousands


def euro_rates() -> dict[str, float]:
    """What one unit of each market's currency is worth in euros (the demo's price factors),
    for the event lake's reporting currency."""
    return {m.currency: 1 / m.price_factor for m in MARKETS if m.currency != "EUR"}
