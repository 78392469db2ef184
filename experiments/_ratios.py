"""Ratios and verdicts shared by the benchmark scripts' tables."""

from __future__ import annotations

import math

__all__ = ["fmt_ratio", "ratio", "verdict"]


def ratio(slow: float | None, fast: float | None) -> float | None:
    """``slow / fast`` (how many times faster ``fast`` is), None when either is missing."""
    if slow is None or fast is None or not fast > 0 or not math.isfinite(slow):
        return None
    return slow / fast


def verdict(value: float | None, aim: float) -> str:
    """``"met"`` when ``value >= aim``, ``"missed"`` below it, ``"n/a"`` without a value."""
    if value is None:
        return "n/a"
    return "met" if value >= aim else "missed"


def fmt_ratio(x: float | None, approx: bool = False) -> str:
    """``12.3x`` or ``1,234x``; ``~`` marks an extrapolated (approximate) ratio."""
    if x is None:
        return "-"
    text = f"{x:.3g}x" if x < 1000 else f"{x:,.0f}x"
    return f"~{text}" if approx else text
