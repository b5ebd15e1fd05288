"""Range checks shared by the library and the command line: seeds, budgets, counts.

One place, so that ``quinr budget`` and ``quinr decode`` can never disagree about whether a value
is acceptable, and so that a value no SDK downstream can take (a seed past 64 bits, a NaN budget)
is refused with one clear line before any work starts.
"""

from __future__ import annotations

import math
from typing import Any

from .errors import BudgetError, ConfigError

#: Seeds are unsigned 32-bit integers: every generator downstream (torch, numpy, Aer) takes them.
MAX_SEED = 2**32 - 1


def check_seed(value: Any, name: str = "seed") -> int:
    """An integer in [0, :data:`MAX_SEED`]."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_SEED:
        raise ConfigError(f"{name} must be an integer in [0, {MAX_SEED}], got {value!r}")
    return value


def finite(value: Any) -> bool:
    """Whether ``value`` is a number that is finite as a float (an int too large for a float is not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def check_max_cost(value: Any) -> float | None:
    """A budget is a finite number >= 0 (None: no budget given). NaN, infinities and negative
    numbers are refused, so no comparison with a budget can ever be fooled."""
    if value is None:
        return None
    if not finite(value) or value < 0:
        raise BudgetError(f"--max-cost must be a finite number >= 0, got {value!r}")
    return float(value)


def within_budget(cost: float, max_cost: float) -> bool:
    """Whether ``cost`` fits ``max_cost``, written so that a NaN on either side never fits."""
    return bool(cost <= max_cost)


def check_positive_int(value: Any, name: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f" and at most {maximum}"
        raise ConfigError(f"{name} must be a positive integer{upper}, got {value!r}")
    return value
