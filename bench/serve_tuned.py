"""`omnicx` with the garbage collector tuned, for the benchmark's what-if runs (not src/).

    python bench/serve_tuned.py serve --db URL ...   # same arguments as `omnicx`

OMNICX_BENCH_GC_THRESHOLD (default 50000) becomes the first-generation threshold, and the
objects alive once the server's modules are imported are frozen out of collections. Parsed
JSON is acyclic, so on the intake path the collector only costs time; this measures how much.
"""

from __future__ import annotations

import gc
import os
import sys

if __name__ == "__main__":
    threshold = int(os.environ.get("OMNICX_BENCH_GC_THRESHOLD", "50000"))
    # Import what the server needs first, so that it is frozen.
    import omnicx.api.app
    import omnicx.collect.api  # noqa: F401
    from omnicx.cli.main import main

    gc.collect()
    gc.freeze()
    gc.set_threshold(threshold, 50, 1000)
    sys.argv[0] = "omnicx"
    main()
