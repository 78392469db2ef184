"""Aggregate losses by FFT: ``Config(method="fft")``.

The annual loss of a portfolio is computed as a distribution on a grid ``0, h, ..., (n-1)h``
instead of being simulated:

1. each group's layer payment is discretised on the grid (:func:`kernels._discretise.discretise_layer`,
   per-occurrence deductible and limit applied first);
2. its discrete Fourier transform ``phi`` goes through the frequency's probability generating
   function: a group without aggregate terms is one compound sum with the pooled count of its
   policies (``pgf_pooled(phi)``); a group with per-policy aggregate terms gets one policy's
   distribution first (``irfft(pgf(phi))``), the aggregate deductible and limit applied to it
   (masses off the grid split linearly between their neighbours, keeping the mean), and then
   the ``n_policies``-fold convolution as a power of its transform;
3. the groups' transforms multiply, and one inverse transform gives the portfolio's distribution.

Statistics are the Monte Carlo estimates' definitions applied to the distribution: VaR at level
``p`` is the smallest grid loss whose distribution function reaches ``p``, TVaR is
``VaR + E[(L - VaR)^+] / (1 - p)``.

**Error control.** An answer on a grid has a discretisation error (the step ``h``) and an
aliasing error (probability beyond the grid's extent ``X = n h`` wraps around to small losses),
not a statistical one. Each round computes three grids, ``(h, X)``, ``(h/2, X)`` and ``(h, 2X)``,
reports the ``(h/2, X)`` answer, and estimates its error for each statistic as
``|q(h/2, X) - q(h, X)| + 2 |q(h, 2X) - q(h, X)|``: the change from halving the step (which
over-states the finer grid's discretisation error, by about 2x for first-order and 4x for
second-order convergence) plus twice the change from doubling the extent (the aliasing measured;
twice, so that tails as heavy as a Pareto of shape 1 are covered, :data:`ALIAS_FACTOR`), plus a
float64 roundoff floor (:data:`ROUNDOFF`). A VaR's estimate is at least two steps of the finer grid, ``h``. The first
step is chosen to divide the limits and aggregate deductibles where they have a common unit (round
numbers do), so that the atoms at the limits lie on the grid. Where they have none, an atom off the
grid is split between its neighbours, which keeps the mean but moves each policy's (or claim's)
value by up to a step and can escape the comparison of nested grids; VaR and TVaR estimates then
add that many steps (see :func:`_first_grid`).

This is an *error estimate*, deterministic and without a confidence level; a target's
``confidence`` does not apply to it. Rounds go on, the step
halved as often as the discretisation part projects (first order, conservatively), or, in a round
where the aliasing part is over half the tolerance, only the extent doubled, until every named statistic
is within its tolerance, the grid reaches the caller's cap (``target_met=False``), or the next
grid would be over :data:`MAX_FFT_POINTS` or the memory limit (:class:`GridTooLargeError`).

Without a target, the default accuracy is :data:`DEFAULT_FFT_RTOL` on every statistic (or that
fraction of the mean loss, for a statistic near 0).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._analytic import compound_moments
from ._config import FFT_BACKENDS
from ._discretise import DISCRETISATIONS, discretise_layer
from ._estimators import estimate_names, vector_dot
from ._lazy import fft
from ._resources import memory_limit
from ._results import Grid, SimulationResult, Timing
from ._target import Target, TargetNotMetWarning
from ._validation import check_choice, check_int, check_real
from ._workloads import PolicyGroup, PolicyTerms, Portfolio
from .backends._registry import get_backend

__all__ = [
    "DEFAULT_FFT_RTOL",
    "MAX_FFT_POINTS",
    "AggregateDistribution",
    "GridTooLargeError",
    "aggregate_distribution",
    "run_fft",
]

DEFAULT_FFT_RTOL = 1e-4
"""Accuracy of an FFT run without a target: every statistic within this fraction of its value
(or of the mean loss, whichever is larger)."""
MAX_FFT_POINTS = 2**28
"""Most points of one FFT grid (about 40 GiB of work arrays)."""
INITIAL_POINTS = 2**10
"""Points of the first grid of a run."""
BYTES_PER_POINT = 160
"""Work memory per grid point: the discretisation's temporaries, transforms and the distribution."""
INITIAL_SPREAD = 8.0
"""The first grid reaches the mean loss plus this many standard deviations."""
ROUNDOFF = 1e-10
"""Relative floor of every error estimate (of the larger of the value and the mean loss): float64
transforms of many points round to about this."""
MIN_RTOL = 1e-9
"""The least relative tolerance an FFT run accepts (without an atol): ten times :data:`ROUNDOFF`."""
CDF_SLACK = 1e-12
"""A VaR is the first grid loss whose distribution function is within this of the level."""
ALIAS_FACTOR = 2.0
"""The aliasing estimate is this times the change from doubling the extent: exact for a tail whose mass
beyond the extent halves when the extent doubles (a Pareto of shape 1), conservative for lighter ones."""
MAX_ALIGNED_POINTS = 2**21
"""Most points of a first grid whose step is shrunk to put every limit on the grid."""
ZERO_REFINEMENTS = 8
"""Times the step is halved while an estimate with only a relative tolerance is 0, before its
target is declared impossible (``Target.tolerance``'s error)."""
ALIGN_RESOLUTION = 1e-6
"""Deductibles and limits are put on a common grid of this resolution to find their common step."""


class GridTooLargeError(ValueError):
    """An FFT run would need a grid over :data:`MAX_FFT_POINTS` points or the memory limit."""


@dataclass(frozen=True)
class AggregateDistribution:
    """A portfolio's annual loss as probabilities ``pmf[k]`` of the losses ``k * step``.

    ``pmf`` sums to less than 1 by the probability left beyond the severities' grids, and
    carries the aliasing of whatever lies beyond the grid's extent.
    """

    step: float
    pmf: np.ndarray

    @property
    def losses(self) -> np.ndarray:
        return self.step * np.arange(self.pmf.size)

    def estimates(self, levels: Sequence[float]) -> dict[str, float]:
        """``mean``, ``std``, ``VaR_<p>`` and ``TVaR_<p>`` (the Monte Carlo estimates' definitions)."""
        pmf, x = self.pmf, self.losses
        mean = vector_dot(pmf, x)
        out = {"mean": mean, "std": math.sqrt(max(vector_dot(pmf, (x - mean) ** 2), 0.0))}
        cdf = np.cumsum(pmf)
        for p in levels:
            # The slack keeps float64 round-off in the cumulative sum from moving a VaR that sits on an atom.
            k = min(int(np.searchsorted(cdf, p - CDF_SLACK)), pmf.size - 1)
            var = float(x[k])
            excess = vector_dot(pmf[k + 1 :], x[k + 1 :] - var)
            out[f"VaR_{p:g}"] = var
            out[f"TVaR_{p:g}"] = var + excess / (1 - p)
        return out


def _backend(name: str) -> tuple[Any, Callable[..., Any], Callable[..., Any]]:
    """``(xp, rfft, irfft)`` of a backend: scipy.fft on numpy, or jax.numpy (a GPU when JAX sees one)."""
    if name == "jax":
        get_backend("jax")  # imports JAX with 64-bit mode on, or raises BackendUnavailableError
        import jax.numpy as jnp

        return jnp, jnp.fft.rfft, jnp.fft.irfft


    return np, fft.rfft, fft.irfft


def _apply_aggregate_terms(pmf: np.ndarray, step: float, terms: PolicyTerms) -> np.ndarray:
    """The distribution of ``min(max(S - aggregate_deductible, 0), aggregate_limit)`` on the same grid."""
    n = pmf.size
    z = np.clip(step * np.arange(n) - terms.aggregate_deductible, 0.0, terms.aggregate_limit) / step
    k = np.minimum(np.floor(z).astype(np.int64), n - 1)
    frac = np.clip(z - k, 0.0, 1.0)
    out = np.bincount(k, weights=pmf * (1 - frac), minlength=n)
    out += np.bincount(np.minimum(k + 1, n - 1), weights=pmf * frac, minlength=n)
    return out


def _group_transform(group: PolicyGroup, step: float, points: int, discretisation: str,
                     xp: Any, rfft: Callable[..., Any], irfft: Callable[..., Any]) -> Any:
    terms = group.terms
    severity = discretise_layer(group.severity, terms.deductible, terms.limit, step, points, discretisation)
    phi = rfft(xp.asarray(severity))
    if group.pooled:
        return group.frequency.pooled(group.n_policies).pgf(phi, xp)
    policy = np.asarray(irfft(group.frequency.pgf(phi, xp), points))
    policy = _apply_aggregate_terms(policy, step, terms)
    return rfft(xp.asarray(policy)) ** group.n_policies


def aggregate_distribution(
    portfolio: Portfolio, step: float, points: int, *, discretisation: str = "moments", backend: str = "numpy"
) -> AggregateDistribution:
    """The portfolio's annual loss distribution on the fixed grid ``step * arange(points)``.

    No error control: :func:`kernels.simulate` with ``Config(method="fft")`` chooses the grid
    for an accuracy. Useful as a reference on a grid chosen by hand.

    Args:
        portfolio: the :class:`Portfolio`.
        step: grid step (> 0, in loss units); points: grid size (even, in ``[2, MAX_FFT_POINTS]``).
        discretisation: ``"moments"`` or ``"rounding"`` (see :mod:`kernels._discretise`).
        backend: ``"numpy"`` (scipy.fft) or ``"jax"``.
    """
    if not isinstance(portfolio, Portfolio):
        raise ValueError(f"aggregate_distribution needs a Portfolio, got {type(portfolio).__name__}")
    step = check_real("aggregate_distribution", "step", step, low=0, low_open=True)
    points = check_int("aggregate_distribution", "points", points, low=2, high=MAX_FFT_POINTS)
    if points % 2:
        raise ValueError(f"aggregate_distribution.points must be even, got {points}")
    discretisation = check_choice("aggregate_distribution", "discretisation", discretisation, DISCRETISATIONS)
    backend = check_choice("aggregate_distribution", "backend", backend, FFT_BACKENDS)
    xp, rfft, irfft = _backend(backend)
    transform = None
    for group in portfolio.groups:
        part = _group_transform(group, float(step), points, discretisation, xp, rfft, irfft)
        transform = part if transform is None else transform * part
    return AggregateDistribution(step=float(step), pmf=np.asarray(irfft(transform, points), dtype=np.float64))


def _initial_extent(portfolio: Portfolio) -> float:
    """Mean plus INITIAL_SPREAD standard deviations of the loss without aggregate terms (which can only
    lower it), or a group's plausible ceiling where its variance is infinite; at most what the aggregate
    limits allow."""
    mean = var = heavy = 0.0
    for g in portfolio.groups:
        free = PolicyGroup(g.n_policies, g.frequency, g.severity,
                           PolicyTerms(deductible=g.terms.deductible, limit=g.terms.limit))
        m, v = compound_moments(free)
        if math.isfinite(v):
            mean, var = mean + m, var + v
        else:
            heavy += g.loss_ceiling()
    largest = max((g.terms.limit for g in portfolio.groups if math.isfinite(g.terms.limit)), default=0.0)
    extent = max(mean + INITIAL_SPREAD * math.sqrt(var) + heavy, 1.25 * largest)
    capped = sum(g.n_policies * g.terms.aggregate_limit for g in portfolio.groups)
    extent = min(extent, 1.01 * capped)
    return extent if extent > 0 else 1.0


def _term_unit(portfolio: Portfolio) -> float:
    """The largest step of which every finite limit and aggregate deductible is a multiple (0 if none)."""
    values = [v for g in portfolio.groups
              for v in (g.terms.limit, g.terms.aggregate_deductible, g.terms.aggregate_limit)
              if 0 < v < math.inf]
    unit = 0
    for v in values:
        unit = math.gcd(unit, round(v / ALIGN_RESOLUTION))
    return unit * ALIGN_RESOLUTION


def _first_grid(portfolio: Portfolio, points: int) -> tuple[float, int, float]:
    """The first grid's ``(step, points, off_grid)``.

    The step divides the limits and aggregate deductibles where they have a common unit (round
    numbers do), so that their atoms lie on the grid and stay there as the step is halved: it is
    the extent over ``points`` shrunk to a divisor of the unit, or the unit itself (with more points)
    when that needs at most ``MAX_ALIGNED_POINTS``. Otherwise ``off_grid`` is the most steps an off-grid
    atom's linear split can move a tail statistic: one per policy with aggregate terms, and one per
    plausible claim (mean + 10 sd + 10) of a group with a per-occurrence limit.
    """
    extent = _initial_extent(portfolio)
    step = extent / points
    unit = _term_unit(portfolio)
    if unit == 0 or unit >= step:
        return (unit / math.ceil(unit / step) if unit else step), points, 0.0
    if extent / unit <= MAX_ALIGNED_POINTS:
        return unit, 1 << max(math.ceil(math.log2(extent / unit)), 1), 0.0
    off = 0.0
    for g in portfolio.groups:
        if g.terms.has_aggregate_terms:
            off += g.n_policies
        if math.isfinite(g.terms.limit):
            off += g.expected_claims() + 10 * math.sqrt(g.n_policies * g.frequency.var()) + 10
    return step, points, off


def _check_grid(portfolio: Portfolio, target: Target, step: float, points: int) -> None:
    limit = min(MAX_FFT_POINTS, memory_limit() // BYTES_PER_POINT)
    if points <= limit:
        return
    worst = max(range(len(portfolio.groups)), key=lambda i: portfolio.groups[i].loss_ceiling())
    g = portfolio.groups[worst]
    raise GridTooLargeError(
        f"Config(method='fft') cannot reach the target {target.label()}: the next grid needs {points:,} points, "
        f"over the limit of {limit:,} (kernels.MAX_FFT_POINTS, or kernels.memory_limit() / {BYTES_PER_POINT} bytes "
        f"per point); its step {step:.4g} is set by the tolerance and its extent {step * points:.4g} by the tail "
        f"of Portfolio.groups[{worst}] ({g.severity!r}, PolicyTerms.limit={g.terms.limit:g}): a lower limit, "
        "a looser target or method='mc' would do"
    )


def run_fft(
    portfolio: Portfolio, config: Any, target: Target | None, cap: int | None, cap_name: str = "max_sims"
) -> SimulationResult:
    """Compute ``portfolio``'s statistics by FFT to ``target`` (or the default accuracy); see the module."""
    t0 = time.perf_counter()
    names = target.names(portfolio) if target is not None else estimate_names(portfolio)
    all_names = estimate_names(portfolio)
    levels = portfolio.levels

    def compute(step: float, points: int) -> dict[str, float]:
        dist = aggregate_distribution(portfolio, step, points, discretisation=config.discretisation,
                                      backend=config.backend)
        return dist.estimates(levels)

    if target is not None and not target.atol and target.rtol < MIN_RTOL:
        raise ValueError(f"Target.rtol={target.rtol:g} is below what float64 transforms resolve with "
                         f"Config(method='fft'); use rtol >= {MIN_RTOL:g} or an atol")
    step, points, off_grid = _first_grid(portfolio, INITIAL_POINTS)
    if cap is not None and 2 * points > cap:  # every round computes a grid of twice the base's points
        fit = 1 << ((cap // 2).bit_length() - 1)
        step, points = step * points / fit, fit
    base = compute(step, points)
    wanted = target if target is not None else Target(
        rtol=DEFAULT_FFT_RTOL, atol=DEFAULT_FFT_RTOL * max(abs(base["mean"]), 1e-300), estimate=all_names)
    rounds = zeros_seen = 0
    while True:
        rounds += 1
        _check_grid(portfolio, wanted, step / 2, 2 * points)
        fine, wide = compute(step / 2, 2 * points), compute(step, 2 * points)
        disc = {n: abs(fine[n] - base[n]) for n in all_names}
        for n in all_names:
            if n.startswith("VaR_"):  # a grid VaR is off by up to a step or two, even where two grids agree
                disc[n] = max(disc[n], step)
            if n.startswith(("VaR_", "TVaR_")):
                disc[n] += off_grid * step / 2
        alias = {n: ALIAS_FACTOR * abs(wide[n] - base[n]) for n in all_names}
        floor = ROUNDOFF * abs(fine["mean"])
        bounds = {n: disc[n] + alias[n] + max(floor, ROUNDOFF * abs(fine[n])) for n in all_names}
        zero = [n for n in names if fine[n] == 0 and not wanted.atol]
        if zero and zeros_seen < ZERO_REFINEMENTS:
            # A coarse grid can put a low VaR at 0, where a relative tolerance means nothing: refine first.
            zeros_seen += 1
            tol = {n: math.inf if n in zero else wanted.tolerance(n, fine[n]) for n in names}
            halvings = 1
        else:
            tol = {n: wanted.tolerance(n, fine[n]) for n in names}  # raises for an estimate that stays 0
            if all(bounds[n] <= tol[n] for n in names):
                met = True
                break
            halvings = max(max(0, math.ceil(math.log2(disc[n] / (tol[n] / 2)))) if disc[n] > tol[n] / 2 else 0
                           for n in names)
        grow = any(alias[n] > tol[n] / 2 for n in names)
        if grow:  # an extent too short distorts the step's estimate as well: grow first, refine after
            halvings = 0
        elif halvings == 0:  # each part is under half its tolerance but not their sum (with the floors)
            halvings = 1
        new_step = step / 2**halvings
        new_points = points * 2**halvings * (2 if grow else 1)
        if cap is not None and 2 * new_points > cap:
            met = False
            warnings.warn(TargetNotMetWarning(
                f"the FFT grid reached {2 * points:,} points before {wanted.label()} (the next round needs "
                f"{2 * new_points:,}, over {cap_name}={cap:,}); the result reports the error reached"),
                stacklevel=4)
            break
        _check_grid(portfolio, wanted, new_step, new_points)
        if (new_step, new_points) == (step / 2, 2 * points):
            base = fine
        elif (new_step, new_points) == (step, 2 * points):
            base = wide
        else:
            base = compute(new_step, new_points)
        step, points = new_step, new_points
    total = time.perf_counter() - t0
    return SimulationResult(
        estimates=fine, standard_errors={}, config=config, n_sims=2 * points,
        timing=Timing(overhead_s=0.0, compute_s=total, total_s=total), workload=portfolio,
        target=target, half_widths={n: bounds[n] for n in names} if target is not None else {},
        target_met=met if target is not None else None, rounds=rounds,
        error_bounds=bounds, grid=Grid(step=step / 2, points=2 * points, discretisation=config.discretisation),
    )
