"""`omnicx` with other garbage-collector settings, for the benchmark's what-if runs.

    python bench/serve_gc.py serve --db URL ...   # same arguments as `omnicx`
    python bench/intake.py --scenarios batch,single,gc   # `omnicx serve` vs this

`omnicx serve` tunes the collector at startup (`omnicx.cli.main._tune_garbage_collector`:
freeze what startup built, first-generation threshold 50,000). This script replaces that step:
OMNICX_BENCH_GC=default keeps CPython's defaults (threshold 700, nothing frozen), which is
what the server did before; OMNICX_BENCH_GC=<number> freezes and uses that threshold.
"""

from __future__ import annotations

import gc
import os
import sys


def _settings(choice: str) -> None:
    if choice == "default":
        return
    gc.collect()
    gc.freeze()
    gc.set_threshold(int(choice), 50, 1000)


if __name__ == "__main__":
    from omnicx.cli import main as cli

    choice = os.environ.get("OMNICX_BENCH_GC", "default")
    if hasattr(cli, "_tune_garbage_collector"):
        cli._tune_garbage_collector = lambda: _settings(choice)  # type: ignore[attr-defined]
    else:
        print("serve_gc: omnicx no longer has _tune_garbage_collector", file=sys.stderr)
        _settings(choice)
    sys.argv[0] = "omnicx"
    cli.main()
