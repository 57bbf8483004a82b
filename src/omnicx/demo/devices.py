"""Browsers and app installs, each with the identifiers its SDK sends."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random

from omnicx.demo import identifiers as ids
from omnicx.demo.timeline import Window

_DESKTOP_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
)
_MOBILE_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 13; Redmi Note 12) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/123.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36",
)
_IPHONES = (
    ("iPhone15,2", "17.4"),
    ("iPhone14,5", "17.3"),
    ("iPhone13,2", "16.7"),
    ("iPhone16,1", "17.4"),
)
_ANDROIDS = (
    ("samsung", "SM-S911B", "14"),
    ("samsung", "SM-A546B", "14"),
    ("Xiaomi", "23021RAA2Y", "13"),
    ("Google", "Pixel 8", "14"),
    ("HUAWEI", "MAR-LX1A", "10"),
)


@dataclass(frozen=True, slots=True)
class Device:
    """A browser or an app install. Its anonymousId changes once at `reset_at` when set."""

    kind: str
    """desktop, mobile (web), ios, android or ipad."""
    channel: str
    anonymous_ids: tuple[str, ...]
    reset_at: float | None = None
    user_agent: str | None = None
    device_id: str | None = None
    manufacturer: str = ""
    model: str = ""
    os_name: str = ""
    os_version: str = ""
    shared: bool = False

    def anonymous_id(self, instant: float) -> str:
        """The anonymousId the SDK sends at `instant` (a cleared cookie or reinstall changes it)."""
        if self.reset_at is not None and instant >= self.reset_at:
            return self.anonymous_ids[1]
        return self.anonymous_ids[0]


def _anonymous_ids(
    rng: Random, window: Window, reset_chance: float
) -> tuple[tuple[str, ...], float | None]:
    first = ids.random_uuid(rng)
    if rng.random() >= reset_chance:
        return (first,), None
    return (first, ids.random_uuid(rng)), rng.uniform(window.start, window.end)


def web_device(rng: Random, kind: str, window: Window) -> Device:
    """A desktop or mobile browser; a third of them clear their cookies once."""
    anonymous, reset_at = _anonymous_ids(rng, window, 0.3)
    agent = rng.choice(_DESKTOP_AGENTS if kind == "desktop" else _MOBILE_AGENTS)
    return Device(kind, "web", anonymous, reset_at, user_agent=agent)


def app_device(rng: Random, platform: str, window: Window) -> Device:
    """The retailer's app on a phone; some people reinstall it (new anonymousId, same device)."""
    anonymous, reset_at = _anonymous_ids(rng, window, 0.1)
    if platform == "ios":
        model, version = rng.choice(_IPHONES)
        return Device(
            "ios", "ios", anonymous, reset_at, device_id=ids.ios_device_id(rng),
            manufacturer="Apple", model=model, os_name="iOS", os_version=version,
        )  # fmt: skip
    maker, model, version = rng.choice(_ANDROIDS)
    return Device(
        "android", "android", anonymous, reset_at, device_id=ids.android_device_id(rng),
        manufacturer=maker, model=model, os_name="Android", os_version=version,
    )  # fmt: skip


def family_ipad(rng: Random) -> Device:
    """The family iPad: one app install, one anonymousId, used by two people."""
    return Device(
        "ipad", "ios", (ids.random_uuid(rng),), device_id=ids.ios_device_id(rng),
        manufacturer="Apple", model="iPad13,18", os_name="iPadOS", os_version="17.4", shared=True,
    )  # fmt: skip
