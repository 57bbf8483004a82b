"""Compiling the few loops analytics cannot express as whole-array operations.

Some reports walk each person's events in order with state carried from one event to the
next (the funnel's chain of steps). In numpy such a walk becomes a dozen passes over arrays
of millions, each allocating its result; compiled by numba it is one pass over memory at
the machine's speed, and it releases the GIL. Compiled code is cached beside the module
(`__pycache__`, or numba's cache directory when that is read-only).

Compiling has a price paid once per process, whatever the input: importing numba and
loading the machine code take 1–2.5 s on a 2-core machine (one `omnicx report funnel` on a
small lake took twice as long). So a function runs as plain Python, the same code, until an
input has COMPILE_ABOVE elements or more: below that Python's ~5 µs per element costs less.
Once compiled, a function stays compiled for the process.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np

Function = TypeVar("Function", bound=Callable[..., Any])

COMPILE_ABOVE = 50_000
"""The size of the largest array argument from which a function is compiled (tests set it
to 0 or to a huge value to run each way)."""


def compiled(function: Function) -> Function:
    """`function`, compiled by numba (nopython mode, cached, without the GIL) the first time
    it is given an array of COMPILE_ABOVE elements; plain Python before.

    Only numpy arrays and numbers go in and out. Integer arithmetic wraps on overflow both
    ways (numpy's overflow warnings are silenced for the Python runs), so a function must
    not rely on Python's unbounded integers."""
    machine_code: Callable[..., Any] | None = None

    @functools.wraps(function)
    def run(*args: Any) -> Any:
        nonlocal machine_code
        if machine_code is None and _largest(args) < COMPILE_ABOVE:
            with np.errstate(over="ignore"):
                return function(*args)
        if machine_code is None:
            import numba  # here: a second or more, paid only by large inputs

            machine_code = numba.njit(cache=True, nogil=True)(function)
        return machine_code(*args)

    return cast(Function, run)


def _largest(args: tuple[Any, ...]) -> int:
    return max((len(a) for a in args if isinstance(a, np.ndarray)), default=0)
