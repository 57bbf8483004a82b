"""The lake's reporting currency: revenue in other currencies is converted when read, an
amount in a currency without a rate counts as none, and `omnicx lake currency` sets it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from omnicx.analytics.currency import CurrencyError, ReportingCurrency
from omnicx.analytics.lake import open_lake
from omnicx.analytics.maintenance import revenue_currencies, set_currency
from omnicx.cli.main import app
from tests.analytics.lakes import Row, build_lake

T0 = datetime(2026, 5, 1, 12)


def _orders(path: Path) -> None:
    build_lake(
        path,
        [
            Row("ada", "Order Completed", T0, revenue=100.0, currency="EUR"),
            Row("bora", "Order Completed", T0, revenue=3800.0, currency="TRY"),
            Row("cem", "Order Completed", T0, revenue=5.0, currency="XYZ"),
            Row("dan", "Order Completed", T0, revenue=7.0),
        ],
    )


def _revenue(path: Path) -> dict[str, float | None]:
    with open_lake(path).connect() as db:
        return dict(db.execute("SELECT person, revenue FROM events").fetchall())


def test_revenue_is_read_in_the_reporting_currency(engine: Engine, tmp_path: Path) -> None:
    _orders(tmp_path)
    assert _revenue(tmp_path) == {"ada": 100.0, "bora": 3800.0, "cem": 5.0, "dan": 7.0}
    assert revenue_currencies(tmp_path) == {"EUR": 1, "TRY": 1, "XYZ": 1, "": 1}

    set_currency(engine, tmp_path, ReportingCurrency("EUR", {"TRY": 1 / 38}))
    converted = _revenue(tmp_path)
    assert converted["ada"] == 100.0 and converted["dan"] == 7.0  # no currency: the base one
    assert converted["bora"] == pytest.approx(100.0)
    assert converted["cem"] is None  # no rate: left out rather than added as euros

    set_currency(engine, tmp_path, None)
    assert _revenue(tmp_path)["bora"] == 3800.0


@pytest.mark.parametrize(
    ("base", "rates", "message"),
    [
        ("EURO", {}, "'EURO' is not a currency code"),
        ("EUR", {"TRY": 0.0}, "the rate of TRY must be a positive number"),
        ("EUR", {"try": 1.0}, "'try' is not a currency code"),
    ],
)
def test_bad_currencies_are_refused(base: str, rates: dict[str, float], message: str) -> None:
    with pytest.raises(CurrencyError, match=message):
        ReportingCurrency(base, rates)


def test_the_cli_sets_shows_and_refuses(database_url: str, tmp_path: Path) -> None:
    _orders(tmp_path)
    runner = CliRunner()
    options = ["--db", database_url, "--lake", str(tmp_path)]
    done = runner.invoke(app, ["lake", "currency", "eur", "--rate", "TRY=0.02632", *options])
    assert done.exit_code == 0, done.output
    assert "Revenue is reported in EUR (1 rates)." in done.output
    shown = runner.invoke(app, ["lake", "currency", *options])
    assert "1 TRY = 0.02632 EUR" in shown.output
    bad = runner.invoke(app, ["lake", "currency", "EUR", "--rate", "TRY:0.02", *options])
    assert bad.exit_code == 2 and "write CODE=RATE" in bad.output
    assert open_lake(tmp_path).currency == ReportingCurrency("EUR", {"TRY": 0.02632})
