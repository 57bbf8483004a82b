"""Compiling the few loops analytics cannot express as whole-array operations.

Some reports walk each person's events in order with state carried from one event to the
next (the funnel's chain of steps). In numpy such a walk becomes a dozen passes over arrays
of millions, each allocating its result; compiled by numba it is one pass over memory at
the machine's speed, and it releases the GIL. Compiled code is cached beside the module
(`__pycache__`, or numba's cache directory when that is read-only), so only the first call
after an install or a change pays the compilation (about a second per function).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

Function = TypeVar("Function", bound=Callable[..., Any])


def compiled(function: Function) -> Function:
    """`function` compiled to machine code (numba's nopython mode, cached, without the GIL).

    Only numpy arrays and numbers go in and out; numba raises at the first call if the body
    uses what it cannot compile."""
    return cast(Function, numba.njit(cache=True, nogil=True)(function))
