"""Severity discretisation: one occurrence's layer payment as probabilities on a grid ``0, h, 2h, ...``.

Two methods, both standard (Klugman, Panjer and Willmot, *Loss Models*, 9.6.5):

* ``"moments"`` (local moment matching of order 1, also called linear mass dispersal): the
  probability of each cell ``[jh, (j+1)h]`` is split between its two end points so that the
  cell's mean is kept. Mass and mean are preserved exactly (up to the mass beyond the grid),
  and statistics of the compound distribution converge as ``h**2`` where they are smooth.
* ``"rounding"`` (mass dispersal): each grid point ``kh`` gets the probability of
  ``[(k - 1/2)h, (k + 1/2)h)``. Mass is preserved; the mean is off by ``O(h)`` at atoms
  and ``O(h**2)`` elsewhere.

The payment is ``Y = min(max(X - d, 0), u)``: the per-occurrence deductible ``d`` and limit ``u``
apply before discretising, so ``Y`` has an atom at 0 (``P(X <= d)``) and, with a finite
limit, an atom at ``u``; both are placed exactly (the atom at ``u`` split linearly between
the two grid points around it when ``u`` is not on the grid). Probability beyond the last
grid point is left out, not folded back: the returned masses then sum to less than 1, which
the caller measures.

Cell probabilities are differences of survival functions and of upper partial moments in
the tail and of distribution functions and lower partial moments in the body, so tail
cells keep their relative precision.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ._distributions import Exponential, Gamma, Lognormal, Pareto, Severity, Weibull
from ._lazy import special
from ._validation import check_choice

__all__ = ["DISCRETISATIONS", "discretise_layer"]

DISCRETISATIONS: tuple[str, ...] = ("moments", "rounding")
"""Values of ``Config.discretisation`` (see :mod:`kernels._discretise`)."""


NEGLIGIBLE_TAIL = 1e-17
"""Ground-up probability left out of a discretisation beyond the severity's quantile of this tail."""


@functools.lru_cache(maxsize=1024)
def _negligible_beyond(severity: Severity) -> float:
    with np.errstate(all="ignore"):
        x = float(severity.scipy().isf(NEGLIGIBLE_TAIL))
    return x if math.isfinite(x) else math.inf


def _sf(severity: Severity, x: np.ndarray) -> np.ndarray:
    """``P(X > x)``, elementwise (``x >= 0``)."""
    if isinstance(severity, Pareto):
        return np.exp(-severity.shape * np.log1p(x / severity.scale))
    if isinstance(severity, Exponential):
        return np.exp(-x / severity.scale)
    if isinstance(severity, Gamma):
        return special.gammaincc(severity.shape, x / severity.scale)
    if isinstance(severity, Weibull):
        return np.exp(-((x / severity.scale) ** severity.shape))
    if isinstance(severity, Lognormal):
        with np.errstate(divide="ignore"):
            return special.ndtr(-(np.log(x) - severity.mu) / severity.sigma)
    raise ValueError(f"no discretisation for a {type(severity).__name__} severity")


def _cdf(severity: Severity, x: np.ndarray) -> np.ndarray:
    """``P(X <= x)``, elementwise, computed without ``1 - sf`` where it is small."""
    if isinstance(severity, Pareto):
        return -np.expm1(-severity.shape * np.log1p(x / severity.scale))
    if isinstance(severity, Exponential):
        return -np.expm1(-x / severity.scale)
    if isinstance(severity, Gamma):
        return special.gammainc(severity.shape, x / severity.scale)
    if isinstance(severity, Weibull):
        return -np.expm1(-((x / severity.scale) ** severity.shape))
    if isinstance(severity, Lognormal):
        with np.errstate(divide="ignore"):
            return special.ndtr((np.log(x) - severity.mu) / severity.sigma)
    raise ValueError(f"no discretisation for a {type(severity).__name__} severity")


def _partial_moments(severity: Severity, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(E[X; X <= x], E[X; X > x])`` elementwise, for the families with a finite mean."""
    if isinstance(severity, (Gamma, Exponential)):
        a = severity.shape if isinstance(severity, Gamma) else 1.0
        t, coef = x / severity.scale, a * severity.scale
        return coef * special.gammainc(a + 1, t), coef * special.gammaincc(a + 1, t)
    if isinstance(severity, Weibull):
        a = 1 + 1 / severity.shape
        t, coef = (x / severity.scale) ** severity.shape, severity.scale * math.gamma(a)
        return coef * special.gammainc(a, t), coef * special.gammaincc(a, t)
    if isinstance(severity, Lognormal):
        mu, s = severity.mu, severity.sigma
        with np.errstate(divide="ignore"):
            z = (np.log(x) - mu - s * s) / s
        coef = math.exp(mu + s * s / 2)
        return coef * special.ndtr(z), coef * special.ndtr(-z)
    raise ValueError(f"no partial moments for a {type(severity).__name__} severity")


def _pareto_sf_integral(severity: Pareto, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``integral of P(X > x) over [a, b]``; finite for every shape (``exprel`` covers ``shape = 1``)."""
    alpha, theta = severity.shape, severity.scale
    span = np.log1p((b - a) / (a + theta))
    return theta * np.exp((1 - alpha) * np.log1p(a / theta)) * span * special.exprel((1 - alpha) * span)


def _cells(severity: Severity, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For the ground-up cells between consecutive ``edges``: their probabilities and first moments
    about their left edges (every function is evaluated once per edge)."""
    lo, width = edges[:-1], np.diff(edges)
    if isinstance(severity, Pareto):
        s = _sf(severity, edges)
        return s[:-1] - s[1:], _pareto_sf_integral(severity, lo, edges[1:]) - width * s[1:]
    s = _sf(severity, edges)
    tail = s[:-1] < 0.5  # upper differences keep their digits in the tail, lower ones in the body
    mass = np.where(tail, s[:-1] - s[1:], np.diff(_cdf(severity, edges)))
    lower, upper = _partial_moments(severity, edges)
    first = np.where(tail, upper[:-1] - upper[1:], np.diff(lower))
    return mass, np.maximum(first - lo * mass, 0.0)


def discretise_layer(
    severity: Severity, deductible: float, limit: float, step: float, points: int, method: str = "moments"
) -> np.ndarray:
    """Probabilities of the payment ``min(max(X - deductible, 0), limit)`` on ``step * arange(points)``.

    Args:
        severity: the ground-up size ``X``.
        deductible: ``d >= 0``; limit: ``u > 0`` or ``math.inf`` (the most one occurrence pays).
        step: grid step ``h > 0``; points: grid size (>= 2).
        method: ``"moments"`` or ``"rounding"`` (see the module's docstring).

    Returns:
        float64 array of ``points`` probabilities. They sum to ``1 - P(Y > (points - 1) h)``:
        probability beyond the grid is left out.
    """
    method = check_choice("discretise_layer", "method", method, DISCRETISATIONS)
    h, n = float(step), int(points)
    out = np.zeros(n)
    top = (n - 1) * h
    d = np.asarray(float(deductible))
    if method == "rounding":
        mid = (np.arange(n) + 0.5) * h
        s = np.where(mid < limit, _sf(severity, d + mid), 0.0)
        out[0] = 1.0 - s[0]
        out[1:] = s[:-1] - s[1:]
        return np.maximum(out, 0.0)
    out[0] = float(_cdf(severity, d))  # X <= d pays nothing
    # Beyond NEGLIGIBLE_TAIL the cells hold nothing a float64 sum would keep; skip their special functions.
    end = min(limit, top, max(_negligible_beyond(severity) - float(d), h))
    cells = min(n - 1, math.ceil(end / h * (1 - 1e-12)))
    edges = np.minimum(np.arange(cells + 1) * h, end)
    mass, moment = _cells(severity, d + edges)
    upper = np.minimum(moment / h, mass)  # the share of each cell that goes to its right end point
    out[:cells] += mass - upper
    out[1 : cells + 1] += upper
    if limit <= top and limit <= end:  # the atom at the limit, split between the grid points around it
        at_limit = float(_sf(severity, d + limit))
        k = min(int(limit // h), n - 1)
        frac = limit / h - k
        out[k] += at_limit * (1 - frac)
        if frac > 0:
            out[k + 1] += at_limit * frac
    return out
