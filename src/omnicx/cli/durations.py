"""Durations as people type them: 90s, 15m, 24h, 7d, 2w."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """Parses `<number><unit>` with unit s, m, h, d or w; raises ValueError saying the form."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(
            f"{text!r} is not a duration; write a number and a unit: 30s, 15m, 24h, 7d, 2w."
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
