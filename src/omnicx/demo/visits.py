"""One web or app session: page or screen views and e-commerce events, as the SDKs send them."""

from __future__ import annotations

from random import Random
from typing import Any

from omnicx.demo.catalog import PRODUCTS, RETAILER, Product
from omnicx.demo.devices import Device
from omnicx.demo.markets import Market, local_price
from omnicx.demo.outbox import Outbox
from omnicx.demo.truth import Ledger

_WEB_LIBRARY = {"name": "analytics.js", "version": "next-1.70.0"}
_IOS_LIBRARY = {"name": "analytics-swift", "version": "1.5.11"}
_ANDROID_LIBRARY = {"name": "analytics-kotlin", "version": "1.16.3"}
_APP_VERSION = {
    "name": RETAILER,
    "version": "4.12.0",
    "build": "41200",
    "namespace": "com.kervan.shop",
}
_SCREENS = {
    "ios": {"width": 390, "height": 844},
    "android": {"width": 412, "height": 915},
    "ipad": {"width": 820, "height": 1180},
}


_PRICED: dict[str, tuple[dict[str, Any], ...]] = {}


def product_properties(market: Market, index: int) -> dict[str, Any]:
    """A product as the e-commerce spec describes it, priced for the market (shared, read-only)."""
    priced = _PRICED.get(market.country)
    if priced is None:
        priced = _PRICED[market.country] = tuple(_properties(market, p) for p in PRODUCTS)
    return priced[index]


def _properties(market: Market, product: Product) -> dict[str, Any]:
    return {
        "product_id": product.sku,
        "sku": product.sku,
        "name": product.name,
        "category": product.category,
        "brand": RETAILER,
        "price": local_price(market, product.base_eur),
        "currency": market.currency,
        "url": f"https://{market.site}/p/{product.sku.lower()}",
    }


class Visit:
    """Writes one session's messages for a person on a device, advancing a few seconds each."""

    def __init__(
        self,
        out: Outbox,
        ledger: Ledger,
        market: Market,
        device: Device,
        start: float,
        *,
        user_id: str | None,
        ip: str,
        carrier: str,
        campaign: dict[str, str] | None = None,
        referrer: str = "",
    ) -> None:
        self.out = out
        self.rng: Random = out.rng
        self.ledger = ledger
        self.market = market
        self.device = device
        self.instant = start
        self.user_id = user_id
        self.anonymous_id = device.anonymous_id(start)
        self.web = device.channel == "web"
        self._campaign = campaign
        self._referrer = referrer
        self._search = ""
        self._page: dict[str, str] = {}
        if campaign:
            self._search = "?" + "&".join(f"utm_{k}={v}" for k, v in campaign.items())
        if self.web:
            self._base: dict[str, Any] = {
                "ip": ip,
                "userAgent": device.user_agent,
                "locale": market.language,
                "timezone": market.timezone,
                "library": _WEB_LIBRARY,
            }
        else:
            self._base = _app_context(self.rng, market, device, ip, carrier)

    def advance(self, low: float = 5.0, high: float = 70.0) -> None:
        """Lets some seconds pass, as a person reading a page does."""
        self.instant += self.rng.uniform(low, high)

    def view(self, name: str, path: str, title: str, **properties: Any) -> None:
        """A page view (web) or a screen view (app)."""
        self.advance()
        if not self.web:
            self._send("screen", name=name, properties=properties)
            return
        path, _, query = path.partition("?")
        search = f"?{query}" if query else self._search
        url = f"https://{self.market.site}{path}"
        page = {
            "path": path,
            "referrer": self._referrer,
            "search": search,
            "title": f"{title} | {RETAILER}",
            "url": url + search,
        }
        context = {**self._base, "page": page}
        if self._campaign is not None:
            context["campaign"] = self._campaign
            self._campaign = None
        self._referrer = url
        self._search = ""
        self._page = page
        self.out.send(
            self.ledger,
            "web",
            "page",
            self.instant,
            user_id=self.user_id,
            anonymous_id=self.anonymous_id,
            context=context,
            name=name,
            properties={**page, **properties},
        )

    def track(self, event: str, properties: dict[str, Any]) -> None:
        """A track call for an action on the current page or screen."""
        self.advance(1.0, 20.0)
        self._send("track", event=event, properties=properties)

    def identify(self, user_id: str, traits: dict[str, Any]) -> None:
        """Signs the person in on this device: identify, then every later event carries userId."""
        self.user_id = user_id
        self.advance(1.0, 10.0)
        self._send("identify", traits=traits)

    def identify_anonymous(self, traits: dict[str, Any]) -> None:
        """An identify without userId: a visitor tells who they are without an account."""
        self.advance(1.0, 10.0)
        self._send("identify", traits={k: v for k, v in traits.items() if v is not None})

    def _send(self, kind: str, **fields: Any) -> None:
        context = {**self._base, "page": self._page} if self.web else self._base
        self.out.send(
            self.ledger,
            self.device.channel,
            kind,
            self.instant,
            user_id=self.user_id,
            anonymous_id=self.anonymous_id,
            context=context,
            **fields,
        )


def _app_context(
    rng: Random, market: Market, device: Device, ip: str, carrier: str
) -> dict[str, Any]:
    wifi = rng.random() < 0.6
    return {
        "app": _APP_VERSION,
        "device": {
            "id": device.device_id,
            "manufacturer": device.manufacturer,
            "model": device.model,
            "type": device.channel,
            "name": {"ios": "iPhone", "ipad": "iPad"}.get(device.kind, device.model),
        },
        "os": {"name": device.os_name, "version": device.os_version},
        "screen": _SCREENS[device.kind],
        "network": {"wifi": wifi, "cellular": not wifi, "carrier": carrier},
        "locale": market.language,
        "timezone": market.timezone,
        "ip": ip,
        "library": _IOS_LIBRARY if device.channel == "ios" else _ANDROID_LIBRARY,
    }
