"""SimulationResult: estimates, standard errors, the config used, and where the time went."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from ._config import Config
from ._estimators import replicate_based
from ._target import Target, interval_quantile
from ._workloads import Workload

__all__ = ["Grid", "SimulationResult", "Timing"]


@dataclass(frozen=True)
class Timing:
    """Wall-clock breakdown of one :func:`kernels.simulate` call, in seconds.

    Attributes:
        overhead_s: one-time work paid by this call: JIT compilation or loading the
            compile cache, first-call device setup, starting and warming worker
            processes. Close to zero on later calls with the same workload shape.
        compute_s: steady-state work: running the chunks and reducing their output.
        total_s: the whole call.
    """

    overhead_s: float
    compute_s: float
    total_s: float


@dataclass(frozen=True)
class Grid:
    """The grid of an FFT run (``Config(method="fft")``): losses ``0, step, ..., (points - 1) step``."""

    step: float
    points: int
    discretisation: str


def _frozen(mapping: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType({k: float(v) for k, v in mapping.items()})


@dataclass(frozen=True)
class SimulationResult:
    """What one simulation run estimated, with its statistical error.

    Attributes:
        estimates: name -> value: ``price``, ``delta``, ``vega`` for a European option;
            ``price``, ``geometric_price`` for an Asian; ``mean``, ``std``, ``VaR_<p>``,
            ``TVaR_<p>`` for a portfolio.
        standard_errors: name -> standard error, for the same names where one is known.
        config: the config actually used (``chunk_size`` resolved).
        n_sims: number of simulations.
        timing: overhead versus steady-state compute.
        workload: what was simulated.
        seed_entropy: the entropy of the run's ``SeedSequence``; passing it as ``seed``
            reproduces the run.
        target: the :class:`Target` the run was asked to reach, or None (a fixed ``n_sims``).
        half_widths: for a run to a target, name -> half-width of the target's confidence
            interval reached, for each estimate the target names.
        target_met: True when every named estimate met the target; False when the run
            stopped at its cap first (a :class:`TargetNotMetWarning` was issued); None
            without a target.
        rounds: how many batches of simulations the run took (1 for a fixed ``n_sims``), or
            for an FFT run how many rounds of grids.
        error_bounds: for an FFT run (``Config(method="fft")``), name -> estimated error of every
            estimate: a discretisation and aliasing error estimate, not a standard error (see
            :mod:`kernels._fft`); empty for Monte Carlo.
        grid: for an FFT run, the grid of the reported distribution; ``n_sims`` is then its
            number of points. None for Monte Carlo.
    """

    estimates: Mapping[str, float]
    standard_errors: Mapping[str, float]
    config: Config
    n_sims: int
    timing: Timing
    workload: Workload = field(repr=False)
    seed_entropy: int = field(default=0, repr=False)
    target: Target | None = None
    half_widths: Mapping[str, float] = field(default_factory=dict)
    target_met: bool | None = None
    rounds: int = 1
    error_bounds: Mapping[str, float] = field(default_factory=dict)
    grid: Grid | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "error_bounds", _frozen(self.error_bounds))
        object.__setattr__(self, "estimates", _frozen(self.estimates))
        object.__setattr__(self, "standard_errors", _frozen(self.standard_errors))
        object.__setattr__(self, "half_widths", _frozen(self.half_widths))

    def __getitem__(self, name: str) -> float:
        return self.estimates[name]

    def degrees_of_freedom(self, name: str) -> int | None:
        """Degrees of freedom of ``name``'s standard error: ``qmc_scrambles - 1`` when it comes from
        the scatter of a quasi-random run's scrambles, None (normal) otherwise."""
        return degrees_of_freedom(self.workload, self.config, name)

    def half_width(self, name: str, level: float = 0.95) -> float:
        """Half-width of the two-sided ``level`` confidence interval of one estimate.

        For an FFT run, the estimate's error bound (:attr:`error_bounds`), whatever the level.
        """
        if name in self.error_bounds:
            return self.error_bounds[name]
        if name not in self.standard_errors:
            raise KeyError(f"no standard error is known for {name!r}; known: {sorted(self.standard_errors)}")
        if not 0 < level < 1:
            raise ValueError(f"level must be in (0, 1), got {level}")
        return interval_quantile(float(level), self.degrees_of_freedom(name)) * self.standard_errors[name]

    def confidence_interval(self, name: str, level: float = 0.95) -> tuple[float, float]:
        """Two-sided confidence interval for one estimate (normal, or Student-t for scramble-based errors)."""
        half = self.half_width(name, level)
        return self.estimates[name] - half, self.estimates[name] + half

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (infinite values become None)."""

        def clean(m: Mapping[str, float]) -> dict[str, float | None]:
            return {k: (v if math.isfinite(v) else None) for k, v in m.items()}

        return {
            "estimates": clean(self.estimates),
            "standard_errors": clean(self.standard_errors),
            "config": self.config.to_dict(),
            "n_sims": self.n_sims,
            "timing": {"overhead_s": self.timing.overhead_s, "compute_s": self.timing.compute_s,
                       "total_s": self.timing.total_s},
            "seed_entropy": str(self.seed_entropy),
            "target": self.target.to_dict() if self.target is not None else None,
            "half_widths": clean(self.half_widths),
            "target_met": self.target_met,
            "rounds": self.rounds,
            "error_bounds": clean(self.error_bounds),
            "grid": None if self.grid is None else {"step": self.grid.step, "points": self.grid.points,
                                                    "discretisation": self.grid.discretisation},
        }


def degrees_of_freedom(workload: Workload, config: Config, name: str) -> int | None:
    """``qmc_scrambles - 1`` for an estimate whose error comes from QMC scrambles, else None."""
    return config.qmc_scrambles - 1 if config.qmc and replicate_based(workload, name) else None
