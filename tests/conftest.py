"""Shared fixtures and checks for the whole suite."""

from __future__ import annotations

import math

from scipy import stats


def tolerance(k: float, dof: int | None) -> float:
    """``k`` standard errors, or, for an error estimated from ``dof`` degrees of freedom
    (randomized QMC with few scrambles), the Student-t multiple with the same two-sided
    false-alarm rate as ``k`` normal standard errors."""
    if dof is None:
        return k
    return float(stats.t.ppf(1 - stats.norm.sf(k), dof))


def assert_close(value: float, reference: float, se: float, *, k: float = 4.0, dof: int | None = None,
                 what: str = "") -> None:
    """Assert ``|value - reference| <= k * se`` (Student-t adjusted when ``dof`` is given)."""
    assert math.isfinite(value), f"{what}: estimate is {value}"
    assert se > 0 and math.isfinite(se), f"{what}: standard error is {se}"
    z = abs(value - reference) / se
    limit = tolerance(k, dof)
    assert z <= limit, f"{what}: {value:.6g} vs {reference:.6g} is {z:.2f} SE away (limit {limit:.2f})"
