"""Reports print wide tables: every analytics test gets a wide console, whatever another
test left the shared one at (a width once set sticks to Rich's console)."""

from __future__ import annotations

import pytest

from omnicx.cli.common import console


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(console, "width", 200)
