"""Estimators and their error models: how many simulations each needs to reach a target."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kernels import Config, Portfolio, Target, Workload, simulate
from kernels._estimators import tail_levels
from kernels._results import degrees_of_freedom
from kernels._target import interval_quantile

__all__ = ["ErrorModel", "Estimator", "estimators_for", "fit_error_model", "pilot_choice"]

#: Bounds of a fitted quasi-random convergence rate (error ~ n^-rate): Monte Carlo's 1/2 at worst,
#: 3/2 (smooth integrands under scrambling) at best.
MIN_RATE, MAX_RATE = 0.5, 1.5


@dataclass(frozen=True, order=True)
class Estimator:
    """The statistical half of a config: what a simulation estimates with, not how fast it runs."""

    qmc: bool = False
    antithetic: bool = False
    control_variate: bool = False

    @classmethod
    def of(cls, config: Config) -> Estimator:
        return cls(config.qmc, config.antithetic, config.control_variate)

    def apply(self, config: Config) -> Config:
        """``config`` with this estimator's knobs."""
        return config.replace(qmc=self.qmc, antithetic=self.antithetic, control_variate=self.control_variate)

    def label(self) -> str:
        parts = [name for name, on in (("qmc", self.qmc), ("antithetic", self.antithetic),
                                       ("control variate", self.control_variate)) if on]
        return " + ".join(parts) or "plain"


def estimators_for(workload: Workload) -> tuple[Estimator, ...]:
    """Every estimator ``workload`` supports: all combinations for options; plain and QMC for portfolios."""
    if isinstance(workload, Portfolio):
        return (Estimator(), Estimator(qmc=True))
    return tuple(Estimator(q, a, c) for q in (False, True) for a in (False, True) for c in (False, True))


@dataclass(frozen=True)
class ErrorModel:
    """Standard error of one estimate against the simulation count: ``se(n) = coefficient * n^-rate``.

    Pseudo-random estimators have ``rate = 1/2`` and ``coefficient`` the standard deviation per
    simulation; quasi-random ones have a rate fitted from standard errors measured at two or more
    sizes (clipped to ``[MIN_RATE, MAX_RATE]``).

    Attributes:
        estimator: what was measured.
        name: the estimate (``price``, ``TVaR_0.99``, ...).
        value: its estimated value (for a relative tolerance).
        coefficient, rate: the fitted law.
        dof: degrees of freedom of the interval (scrambles - 1 for scramble-based errors), or None.
        sizes, errors: the measurements it was fitted to.
    """

    estimator: Estimator
    name: str
    value: float
    coefficient: float
    rate: float
    dof: int | None
    sizes: tuple[int, ...]
    errors: tuple[float, ...]

    def standard_error(self, n: float) -> float:
        return self.coefficient * n ** -self.rate

    def sims_for(self, target: Target) -> float:
        """Simulations expected to bring the half-width to the target's tolerance (``inf`` if none do)."""
        tol = target.tolerance(self.name, self.value)
        q = interval_quantile(target.confidence, self.dof)
        if self.coefficient <= 0:
            return float(min(self.sizes))
        return (q * self.coefficient / tol) ** (1 / self.rate)


def fit_error_model(
    estimator: Estimator, name: str, workload: Workload, config: Config,
    points: Sequence[tuple[int, float, float]],
) -> ErrorModel:
    """Fit ``se = a n^-rate`` to ``(n, standard_error, value)`` points of one estimate.

    Pseudo-random: the rate is 1/2 and ``a`` pools the variance per simulation (``se^2 n``). Quasi-random:
    a least-squares line in log-log when there are two sizes or more, else rate 1/2.
    """
    if not points:
        raise ValueError("fit_error_model needs at least one (n, standard_error, value) point")
    sizes = np.array([p[0] for p in points], dtype=np.float64)
    errors = np.array([max(p[1], 0.0) for p in points], dtype=np.float64)
    value = float(points[int(np.argmax(sizes))][2])
    dof = degrees_of_freedom(workload, config, name)
    rate = 0.5
    positive = errors > 0
    if estimator.qmc and np.unique(sizes[positive]).size >= 2:
        slope = np.polyfit(np.log(sizes[positive]), np.log(errors[positive]), 1)[0]
        rate = float(min(max(-slope, MIN_RATE), MAX_RATE))
    if not positive.any():
        coefficient = 0.0
    elif rate == 0.5:
        coefficient = math.sqrt(float(np.mean(errors[positive] ** 2 * sizes[positive])))
    else:  # the line through the largest size, where the asymptotic rate holds best
        i = int(np.argmax(np.where(positive, sizes, -1)))
        coefficient = float(errors[i] * sizes[i] ** rate)
    return ErrorModel(estimator, name, value, coefficient, rate, dof,
                      tuple(int(s) for s in sizes), tuple(float(e) for e in errors))


#: Simulations of each estimator's pilot in :func:`pilot_choice`, and the simulations beyond a
#: tail estimate's level that it needs at least (rough errors suffice to rank estimators).
QUICK_PILOT_SIMS = 2**12
QUICK_PILOT_TAIL = 20


def pilot_choice(workload: Workload, target: Target, *, seed: int = 0,
                 estimators: Sequence[Estimator] | None = None) -> tuple[Estimator, float, dict[Estimator, float]]:
    """Pick the estimator with the least predicted time to ``target`` from quick pilots.

    Each estimator runs ``QUICK_PILOT_SIMS`` simulations (``QUICK_PILOT_TAIL`` beyond VaR/TVaR levels) on the
    default execution config; its standard errors give the simulations it needs (quasi-random at
    the Monte Carlo rate 1/2, a conservative guess from one size), and its time per simulation the
    cost. Returns ``(estimator, predicted simulations, {estimator: predicted seconds})``.
    """
    names = target.names(workload)
    levels = tail_levels(names)
    n = max([QUICK_PILOT_SIMS, *(math.ceil(QUICK_PILOT_TAIL / (1 - p)) for p in levels)])
    predicted: dict[Estimator, float] = {}
    sims: dict[Estimator, float] = {}
    for est in estimators or estimators_for(workload):
        config = est.apply(Config())
        start = time.perf_counter()
        res = simulate(workload, n, config, seed=seed)
        per_sim = (time.perf_counter() - start) / n
        need = max(fit_error_model(est, name, workload, config,
                                   [(n, res.standard_errors[name], res.estimates[name])]).sims_for(target)
                   for name in names)
        sims[est], predicted[est] = need, need * per_sim
    best = min(predicted, key=predicted.get)
    return best, sims[best], predicted
