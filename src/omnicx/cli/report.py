"""`omnicx report ...`: journey analytics from the event lake, as Rich tables, JSON or CSV.

Each command lives in the module of its topic (report_funnels.py, report_paths.py, ...),
which imports the analytics code inside the command, so `omnicx --help` stays fast.
"""

from __future__ import annotations

import typer

from omnicx.cli import report_funnels, report_paths, report_retention, report_stages

app = typer.Typer(
    help="Journey analytics: funnels, paths, retention, channels, attribution, stages, "
    "multichannel value (from the event lake).",
    no_args_is_help=True,
)

for _module in (report_funnels, report_paths, report_retention, report_stages):
    _module.register(app)
