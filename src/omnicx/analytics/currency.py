"""The lake's reporting currency: revenue in other currencies is converted when read.

Shops selling in several currencies (the demo sells in euros, liras, pounds and rials) would
otherwise add up amounts that cannot be added. The rates live in the lake's manifest, so every
report, the API's and the CLI's alike, reads revenue in the same currency; an amount in a
currency without a rate counts as no revenue (`omnicx lake status` lists such currencies).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_CODE = re.compile(r"^[A-Z]{3}$")


class CurrencyError(ValueError):
    """A currency code or a rate that cannot be used; the message says which."""


@dataclass(frozen=True, slots=True)
class ReportingCurrency:
    """Revenue is reported in `base`; `rates[C]` is the value of one unit of C in `base`."""

    base: str
    rates: Mapping[str, float]

    def __post_init__(self) -> None:
        for code in (self.base, *self.rates):
            if not _CODE.match(code):
                raise CurrencyError(f"{code!r} is not a currency code: use ISO 4217, e.g. EUR")
        for code, rate in self.rates.items():
            if not (isinstance(rate, int | float) and math.isfinite(rate) and rate > 0):
                raise CurrencyError(f"the rate of {code} must be a positive number, not {rate!r}")

    def to_document(self) -> dict[str, Any]:
        """The form kept in the manifest."""
        return {"base": self.base, "rates": dict(sorted(self.rates.items()))}

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ReportingCurrency:
        """Reads the manifest's form."""
        return cls(str(document["base"]), {str(k): float(v) for k, v in document["rates"].items()})

    def revenue_sql(self) -> str:
        """DuckDB SQL giving an event's revenue in the base currency (NULL without a rate).
        An amount without a currency is taken to be in the base currency."""
        cases = " ".join(
            f"WHEN currency = '{code}' THEN revenue * {rate!r}"
            for code, rate in sorted(self.rates.items())
            if code != self.base
        )
        return (
            f"CASE WHEN revenue IS NULL THEN NULL WHEN currency IS NULL OR currency = "
            f"'{self.base}' THEN revenue {cases} ELSE NULL END"
        )


def parse_rate(text: str) -> tuple[str, float]:
    """Reads `TRY=0.0263` (one TRY is worth 0.0263 of the base currency)."""
    code, _, value = text.partition("=")
    code = code.strip().upper()
    try:
        rate = float(value)
    except ValueError:
        raise CurrencyError(
            f"cannot read the rate {text!r}: write CODE=RATE, e.g. TRY=0.0263"
        ) from None
    return code, rate
