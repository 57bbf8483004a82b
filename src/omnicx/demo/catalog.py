"""The demo retailer's product catalog and the localized copy its channels use."""

from __future__ import annotations

from dataclasses import dataclass

RETAILER = "Kervan"
"""The demo retailer: home goods and accessories, online and in stores in five countries."""


@dataclass(frozen=True, slots=True)
class Product:
    """A product of the catalog, priced in euros (markets convert)."""

    sku: str
    name: str
    category: str
    base_eur: float


_ITEMS: dict[str, tuple[tuple[str, float], ...]] = {
    "Home Textiles": (
        ("Kilim Cushion Cover", 24.95), ("Linen Duvet Set", 89.0), ("Waffle Bath Towel", 19.5),
        ("Hammam Peshtemal", 29.0), ("Wool Throw Blanket", 69.0), ("Jacquard Tablecloth", 45.0),
        ("Velvet Curtain Pair", 119.0), ("Cotton Bath Mat", 17.5),
    ),
    "Ceramics": (
        ("Iznik Tile Coaster Set", 22.0), ("Hand-painted Serving Bowl", 39.0),
        ("Stoneware Dinner Plate", 14.5), ("Glazed Mug", 12.0), ("Terracotta Planter", 27.5),
        ("Porcelain Tea Set", 79.0),
    ),
    "Kitchen": (
        ("Copper Coffee Pot (cezve)", 34.0), ("Olive Wood Cutting Board", 29.5),
        ("Cast Iron Skillet", 54.0), ("Spice Jar Set", 21.0), ("Brass Tea Tray", 44.0),
        ("Glass Tea Glasses (6)", 16.0),
    ),
    "Lighting": (
        ("Mosaic Table Lamp", 99.0), ("Rattan Pendant Shade", 64.0), ("Brass Candle Holder", 18.0),
        ("Soy Wax Candle", 14.0), ("String Lights", 24.0),
    ),
    "Coffee & Tea": (
        ("Turkish Coffee 250 g", 8.5), ("Rize Black Tea 500 g", 9.5), ("Saffron Rock Candy", 7.0),
        ("Dutch Stroopwafel Tin", 11.0), ("Riga Black Balsam Truffles", 12.5),
        ("Earl Grey Loose Leaf", 9.0),
    ),
    "Accessories": (
        ("Silk Scarf", 49.0), ("Leather Tote Bag", 129.0), ("Amber Pendant", 59.0),
        ("Woven Beach Bag", 39.0), ("Evil Eye Keyring", 6.5), ("Felt Slippers", 34.0),
    ),
}  # fmt: skip


def _products() -> tuple[Product, ...]:
    products: list[Product] = []
    for category_index, (category, items) in enumerate(_ITEMS.items()):
        for item_index, (name, price) in enumerate(items):
            sku = f"KRV-{category_index + 1}{item_index + 1:03d}"
            products.append(Product(sku, name, category, price))
    return tuple(products)


PRODUCTS = _products()
"""Every product, in a fixed order (simulations index into it)."""

CATEGORIES = tuple(_ITEMS)

# Localized copy per language (the markets' `language` minus the region).
CAMPAIGN_SUBJECTS: dict[str, tuple[str, ...]] = {
    "tr": ("Bahar indirimi başladı", "Yeni sezon ev tekstili", "Sadakat üyelerine özel %20",
           "Hafta sonu fırsatları", "Kahve ve çay koleksiyonu", "Sezon sonu indirimi"),
    "nl": ("De voorjaarsuitverkoop is begonnen", "Nieuw: woontextiel",
           "Alleen voor leden: 20% korting", "Weekendaanbiedingen", "Koffie- en theecollectie",
           "Eindejaarsuitverkoop"),
    "lv": ("Pavasara izpārdošana ir sākusies", "Jaunums: mājas tekstils",
           "Lojalitātes programmas dalībniekiem -20%", "Nedēļas nogales piedāvājumi",
           "Kafijas un tējas kolekcija", "Sezonas beigu izpārdošana"),
    "fa": ("حراج بهاره شروع شد", "منسوجات خانگی فصل جدید", "۲۰٪ تخفیف ویژه اعضای باشگاه مشتریان",
           "پیشنهادهای آخر هفته", "مجموعه قهوه و چای", "حراج پایان فصل"),
    "en": ("The spring sale has started", "New season home textiles", "Members only: 20% off",
           "Weekend offers", "Coffee & tea collection", "End of season sale"),
}  # fmt: skip

ABANDONED_CART_SUBJECT = {
    "tr": "Sepetinizde ürün kaldı",
    "nl": "Je winkelwagentje wacht op je",
    "lv": "Jūsu grozs jūs gaida",
    "fa": "سبد خرید شما منتظر شماست",
    "en": "You left something in your basket",
}

WELCOME_SUBJECT = {
    "tr": "Kervan'a hoş geldiniz",
    "nl": "Welkom bij Kervan",
    "lv": "Laipni lūdzam Kervan",
    "fa": "به کروان خوش آمدید",
    "en": "Welcome to Kervan",
}

SMS_TEXTS = {
    "tr": "Kervan: Hafta sonuna özel %15 indirim! {link}",
    "nl": "Kervan: dit weekend 15% korting! {link}",
    "lv": "Kervan: nedēļas nogalē -15%! {link}",
    "fa": "کروان: ۱۵٪ تخفیف آخر هفته! {link}",
    "en": "Kervan: 15% off this weekend! {link}",
}

SOCIAL_COMMENTS: dict[str, tuple[str, ...]] = {
    "tr": ("Bu ürün tekrar stoklara girecek mi?", "Harika görünüyor 😍", "Kargom nerede?",
           "Mağazada da var mı?", "Fiyatı nedir?"),
    "nl": ("Komt dit weer op voorraad?", "Wat mooi! 😍", "Waar blijft mijn bestelling?",
           "Is dit ook in de winkel te koop?", "Wat kost dit?"),
    "lv": ("Vai šī prece atkal būs pieejama?", "Izskatās lieliski 😍", "Kur ir mans pasūtījums?",
           "Vai tas ir pieejams arī veikalā?", "Cik tas maksā?"),
    "fa": ("این محصول دوباره موجود می‌شود؟", "خیلی قشنگه 😍", "سفارش من کجاست؟",
           "در فروشگاه هم موجود است؟", "قیمتش چنده؟"),
    "en": ("Will this be back in stock?", "Looks lovely 😍", "Where is my order?",
           "Is this available in store too?", "How much is this?"),
}  # fmt: skip

TICKET_TOPICS = ("order_status", "return", "damaged_item", "loyalty_points", "stock")

TICKET_SUBJECTS: dict[str, tuple[str, ...]] = {
    "tr": ("Siparişim nerede?", "İade talebi", "Ürün hasarlı geldi", "Sadakat puanlarım eksik",
           "Ürün stokta var mı?"),
    "nl": ("Waar is mijn bestelling?", "Retour aanvragen", "Product beschadigd ontvangen",
           "Spaarpunten ontbreken", "Is dit op voorraad?"),
    "lv": ("Kur ir mans pasūtījums?", "Preces atgriešana", "Prece saņemta bojāta",
           "Trūkst lojalitātes punktu", "Vai prece ir noliktavā?"),
    "fa": ("سفارش من کجاست؟", "درخواست مرجوعی", "کالا آسیب‌دیده رسید",
           "امتیاز باشگاه مشتریان ثبت نشده", "این کالا موجود است؟"),
    "en": ("Where is my order?", "Return request", "Item arrived damaged", "Loyalty points missing",
           "Is this in stock?"),
}  # fmt: skip
"""One subject per entry of TICKET_TOPICS, in each language."""
