"""100 segment definitions over the demo retailer's events and traits, like a marketing team's.

Every kind of condition appears: sliding and fixed windows with counts, channels and property
filters, traits, computed traits, identities, consent, nesting and segments of segments.
"""

from __future__ import annotations

from typing import Any

EVENTS = [
    "Product Viewed", "Product Added", "Order Completed", "Cart Viewed", "Checkout Started",
    "Email Opened", "Email Link Clicked", "Application Opened", "Ticket Created",
    "Products Searched",
]  # fmt: skip
WINDOWS = [1, 7, 30, 90]
CATEGORIES = ["Home Textiles", "Kitchen", "Tea & Coffee", "Ceramics"]


def segments() -> dict[str, dict[str, Any]]:
    """Key -> definition; 100 of them, segments referring to others after those."""
    found: dict[str, dict[str, Any]] = {}
    for n, event in enumerate(EVENTS):
        for days in WINDOWS:
            key = f"{event.lower().replace(' ', '-')}-{days}d"
            window = {"event": event, "within": {"last_days": days}}
            if n % 3 == 1:
                window["count"] = {"op": "gte", "value": 2}
            found[key] = window
    found["store-buyers"] = {"event": "Order Completed", "channel": "store_pos"}
    found["web-buyers"] = {"event": "Order Completed", "channel": "web"}
    found["app-viewers"] = {"event": "Product Viewed", "channel": ["ios", "android"]}
    found["social-posters"] = {"event": "Comment Posted", "channel": "social"}
    for total in (20, 50, 100, 200):
        found[f"order-over-{total}"] = {
            "event": "Order Completed",
            "where": [{"property": "total", "op": "gt", "value": total}],
        }
    for category in CATEGORIES:
        found[f"viewed-{category.lower().replace(' & ', '-').replace(' ', '-')}"] = {
            "event": "Product Viewed",
            "within": {"last_days": 30},
            "where": [{"property": "category", "op": "eq", "value": category}],
        }
    found["has-email"] = {"identity": "email"}
    found["has-phone"] = {"identity": "phone"}
    found["no-email"] = {"identity": "email", "present": False}
    found["named"] = {"trait": "firstName", "op": "exists"}
    found["email-optin"] = {"consent": {"channel": "email", "purpose": "marketing"}}
    found["sms-optin"] = {"consent": {"channel": "sms", "purpose": "marketing"}}
    for orders in (1, 2, 5):
        found[f"orders-{orders}-plus"] = {"computed": "orders", "op": "gte", "value": orders}
    for value in (50, 200, 500):
        found[f"ltv-over-{value}"] = {"computed": "lifetime_value", "op": "gt", "value": value}
    found["uses-store"] = {"computed": "channels", "op": "contains", "value": "store_pos"}
    found["prefers-web"] = {"computed": "preferred_channel", "op": "eq", "value": "web"}
    found["champions"] = {"computed": "rfm.code", "op": "in", "value": ["555", "554", "545"]}
    found["open-cart"] = {"computed": "open_cart", "op": "exists"}
    found["q4-buyers"] = {
        "event": "Order Completed",
        "within": {"between": ["2026-10-01", "2026-12-31"]},
    }
    found["store-not-app"] = {
        "all": [
            {"event": "Order Completed", "channel": "store_pos"},
            {"event": "Application Opened", "did": False},
        ]
    }
    found["abandoned-cart-sms"] = {
        "all": [
            {"event": "Product Added", "within": {"last_hours": 24}},
            {"event": "Order Completed", "did": False, "within": {"last_hours": 24}},
            {"consent": {"channel": "sms", "purpose": "marketing"}},
        ]
    }
    found["lapsed"] = {
        "all": [
            {"computed": "orders", "op": "gte", "value": 1},
            {"event": "Order Completed", "did": False, "within": {"last_days": 60}},
        ]
    }
    found["engaged-email"] = {
        "any": [
            {
                "event": "Email Opened",
                "count": {"op": "gte", "value": 3},
                "within": {"last_days": 30},
            },
            {"event": "Email Link Clicked", "within": {"last_days": 30}},
        ]
    }
    found["support-heavy"] = {
        "event": "Ticket Created",
        "count": {"op": "between", "value": [2, 10]},
        "within": {"last_days": 90},
    }
    found["browsers-not-buyers"] = {
        "all": [
            {"event": "Product Viewed", "count": {"op": "gte", "value": 5}},
            {"not": {"event": "Order Completed"}},
        ]
    }
    found["multichannel-buyers"] = {"all": [{"segment": "store-buyers"}, {"segment": "web-buyers"}]}
    found["vip"] = {"any": [{"segment": "ltv-over-500"}, {"segment": "orders-5-plus"}]}
    found["vip-reachable"] = {"all": [{"segment": "vip"}, {"segment": "email-optin"}]}
    found["winback"] = {"all": [{"segment": "lapsed"}, {"segment": "has-email"}]}
    found["app-only"] = {"all": [{"segment": "app-viewers"}, {"not": {"segment": "store-buyers"}}]}
    found["recent-big-spenders"] = {
        "all": [{"segment": "order-over-100"}, {"segment": "order-completed-30d"}]
    }
    found["cart-no-checkout-7d"] = {
        "all": [
            {"event": "Product Added", "within": {"last_days": 7}},
            {"event": "Checkout Started", "did": False, "within": {"last_days": 7}},
        ]
    }
    found["searchers-no-view"] = {
        "all": [
            {"event": "Products Searched", "within": {"last_days": 7}},
            {"event": "Product Viewed", "did": False, "within": {"last_days": 7}},
        ]
    }
    found["ticket-then-order"] = {
        "all": [{"segment": "ticket-created-90d"}, {"segment": "order-completed-30d"}]
    }
    found["named-store"] = {"all": [{"segment": "named"}, {"segment": "uses-store"}]}
    found["high-intent"] = {
        "any": [
            {"segment": "cart-no-checkout-7d"},
            {"event": "Checkout Started", "within": {"last_days": 1}},
        ]
    }
    found["weekly-app"] = {
        "event": "Application Opened",
        "count": {"op": "gte", "value": 3},
        "within": {"last_days": 7},
    }
    found["no-activity-30d"] = {
        "not": {"any": [{"segment": "product-viewed-30d"}, {"segment": "order-completed-30d"}]}
    }
    found["email-and-sms"] = {"all": [{"segment": "email-optin"}, {"segment": "sms-optin"}]}
    found["one-time-buyers"] = {"computed": "orders", "op": "eq", "value": 1}
    found["big-basket"] = {
        "event": "Order Completed",
        "where": [{"property": "total", "op": "between", "value": [150, 1000]}],
        "within": {"last_days": 90},
    }
    found["phone-no-email"] = {"all": [{"segment": "has-phone"}, {"segment": "no-email"}]}
    while len(found) < 100:
        n = len(found)
        event = EVENTS[n % len(EVENTS)]
        found[f"extra-{n}"] = {
            "event": event,
            "count": {"op": "gte", "value": 1 + n % 4},
            "within": {"last_days": 14 + n},
        }
    assert len(found) == 100, len(found)
    return found


def scoring_models() -> list[dict[str, Any]]:
    """Three lead scoring models: web engagement, commerce, and support/email."""
    return [
        {
            "key": "web-engagement",
            "name": "Web engagement",
            "half_life_days": 14,
            "rules": [
                {"id": "view", "points": 1, "cap": 20, "when": {"event": "Product Viewed"}},
                {"id": "add", "points": 5, "cap": 25, "when": {"event": "Product Added"}},
                {"id": "checkout", "points": 10, "cap": 30, "when": {"event": "Checkout Started"}},
                {"id": "search", "points": 1, "cap": 5, "when": {"event": "Products Searched"}},
                {"id": "named", "points": 5, "when": {"trait": "firstName", "op": "exists"}},
            ],
        },
        {
            "key": "commerce",
            "name": "Buyers",
            "half_life_days": 90,
            "rules": [
                {"id": "order", "points": 30, "cap": 150, "when": {"event": "Order Completed"}},
                {
                    "id": "big-order",
                    "points": 20,
                    "when": {
                        "event": "Order Completed",
                        "where": [{"property": "total", "op": "gt", "value": 100}],
                    },
                },
                {"id": "store", "points": 10, "when": {"segment": "store-buyers"}},
                {"id": "vip", "points": 25, "when": {"segment": "vip"}},
            ],
            "stages": [
                {"stage": "lead", "min": 10},
                {"stage": "mql", "min": 40},
                {"stage": "sql", "min": 80},
                {"stage": "customer", "min": 120},
            ],
        },
        {
            "key": "service",
            "name": "Service and e-mail",
            "half_life_days": 30,
            "rules": [
                {"id": "opened", "points": 2, "cap": 10, "when": {"event": "Email Opened"}},
                {"id": "clicked", "points": 5, "cap": 20, "when": {"event": "Email Link Clicked"}},
                {"id": "ticket", "points": -5, "cap": 20, "when": {"event": "Ticket Created"}},
                {
                    "id": "optin",
                    "points": 10,
                    "when": {"consent": {"channel": "email", "purpose": "marketing"}},
                },
            ],
        },
    ]
