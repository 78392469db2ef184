"""Argument checks shared by the public dataclasses of :mod:`kernels`.

Every check raises :class:`ValueError` naming the field (``Owner.field``) and the
allowed range, so that a bad input fails at the public boundary with a message
that says how to fix the call.
"""

from __future__ import annotations

import math
import numbers


def _describe(value: object) -> str:
    return repr(value)


def check_real(
    owner: str,
    field: str,
    value: object,
    *,
    low: float = -math.inf,
    high: float = math.inf,
    low_open: bool = False,
    high_open: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float, or raise if it is not a real number in range.

    ``low``/``high`` bound the value; ``*_open`` makes the bound strict.
    """
    name = f"{owner}.{field}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a real number, got {_describe(value)}")
    x = float(value)
    if math.isnan(x):
        raise ValueError(f"{name} must be a number, got NaN")
    if math.isinf(x) and not allow_inf:
        raise ValueError(f"{name} must be finite, got {x}")
    lo_ok = x > low if low_open else x >= low
    hi_ok = x < high if high_open else x <= high
    if not (lo_ok and hi_ok):
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise ValueError(f"{name} must be in {lo}{low:g}, {high:g}{hi}, got {x:g}")
    return x


def check_int(owner: str, field: str, value: object, *, low: int = 0, high: int | None = None) -> int:
    """Return ``value`` as an int, or raise if it is not an integer in ``[low, high]``."""
    name = f"{owner}.{field}" if owner else field
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ValueError(f"{name} must be an integer, got {_describe(value)}")
    v = int(value)
    if v < low or (high is not None and v > high):
        rng = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be an integer {rng}, got {v}")
    return v


def check_choice(owner: str, field: str, value: object, choices: tuple[str, ...]) -> str:
    """Return ``value`` if it is one of ``choices`` (case-insensitive), else raise."""
    name = f"{owner}.{field}" if owner else field
    if isinstance(value, str) and value.lower() in choices:
        return value.lower()
    allowed = ", ".join(repr(c) for c in choices)
    raise ValueError(f"{name} must be one of {allowed}, got {_describe(value)}")
