"""`omnicx report ...` commands for retention (being written)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Adds this module's commands to `omnicx report`."""
    del app
