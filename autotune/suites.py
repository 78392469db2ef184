"""Built-in workload suites: named sets of (workload, n_sims) to tune, train on or try.

``autotune tune SUITE`` tunes one, ``autotune profile --suite`` runs ``standard`` within a time
budget (so that a new instance type adds to the shared model), and ``autotune demo`` tunes
``demo``, then runs ``demo-unseen`` with ``tuned_simulate``. The experiments use ``standard`` and
``held-out`` (``experiments/model_quality.py``).

Suites restrict the search space to what can win on time: no QMC (it changes the error, not the
speed, and costs a chunk per scramble), automatic chunks plus two explicit sizes.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from kernels import (
    AsianOption,
    Binomial,
    EuropeanOption,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    Weibull,
    Workload,
)

from .measure import MeasureOptions
from .space import SearchSpace, search_space

__all__ = ["SUITES", "Suite", "SuiteEntry", "get_suite"]

log = logging.getLogger(__name__)

_GENERATED_NAME = re.compile(r"workload-\d+")
"""The name a spec file's entry gets when it has none (see ``autotune.cli._specs``): not stored."""


@dataclass(frozen=True)
class SuiteEntry:
    """One workload of a suite at one simulation count, or to a precision target.

    With a ``target`` (a :class:`kernels.Target`), the entry is tuned and run for the least time
    to that precision, and ``n_sims`` is the most simulations a run may use.
    """

    name: str
    workload: Workload
    n_sims: int
    target: Target | None = None

    @property
    def display_name(self) -> str | None:
        """The name stored as the workload's display name; ``None`` for a spec entry's generated
        ``workload-N``, or for a name too long to store (logged: the entry still runs)."""
        from .storage import check_workload_name  # the storage layer (SQLAlchemy) only when asked

        if _GENERATED_NAME.fullmatch(self.name):
            return None
        try:
            return check_workload_name(self.name)
        except ValueError as exc:
            log.warning("%s: not stored as the workload's name: %s", self.name[:40], exc)
            return None


@dataclass(frozen=True)
class Suite:
    """A named set of workloads and how to tune them.

    Attributes:
        name, description: shown by ``autotune tune --list``.
        entries: the workloads.
        backends: backends searched (``None``: all).
        chunk_sizes: explicit chunk sizes searched besides the automatic one (only those below n_sims).
        budget_trials: trials per workload (``None``: every valid config by brute force, else TPE's default).
        measure_options: repeats per config.
    """

    name: str
    description: str
    entries: tuple[SuiteEntry, ...]
    backends: tuple[str, ...] | None = None
    chunk_sizes: tuple[int, ...] = (16_384, 262_144)
    budget_trials: int | None = None
    measure_options: MeasureOptions = field(default_factory=lambda: MeasureOptions(min_repeats=3, max_repeats=5,
                                                                                    min_total_s=0.05))

    def space(self, entry: SuiteEntry, *, cores: int | None = None) -> SearchSpace:
        """The search space of one entry on this machine (or with ``cores`` usable cores)."""
        chunks = (None, *(c for c in self.chunk_sizes if c < entry.n_sims))
        return search_space(entry.workload, entry.n_sims, cores=cores, qmc=(False,), backends=self.backends,
                            chunk_sizes=chunks)


def _euro(K: float, kind: str = "call", q: float = 0.0, T: float = 1.0) -> EuropeanOption:
    return EuropeanOption(S0=100.0, K=K, T=T, r=0.03, sigma=0.25, q=q, kind=kind)


def _asian(K: float, n_steps: int, *, T: float = 1.0, r: float = 0.03, sigma: float = 0.25) -> AsianOption:
    return AsianOption(S0=100.0, K=K, T=T, r=r, sigma=sigma, n_steps=n_steps)


def _pf(*groups: PolicyGroup) -> Portfolio:
    return Portfolio(list(groups))


def _e(name: str, workload: Workload, n_sims: int) -> SuiteEntry:
    return SuiteEntry(name, workload, n_sims)


_STANDARD = (
    _e("euro-atm-2k", _euro(100.0), 2_000),
    _e("euro-atm-10k", _euro(100.0), 10_000),
    _e("euro-put-50k", _euro(90.0, "put"), 50_000),
    _e("euro-div-200k", _euro(80.0, q=0.02), 200_000),
    _e("euro-otm-1m", _euro(110.0), 1_000_000),
    _e("asian-12-20k", _asian(100.0, 12), 20_000),
    _e("asian-52-5k", _asian(95.0, 52), 5_000),
    _e("asian-252-20k", _asian(100.0, 252), 20_000),
    _e("asian-24-100k", _asian(105.0, 24, T=0.5), 100_000),
    _e("pf-10-2k", _pf(PolicyGroup(10, Poisson(2.0), Gamma(2.0, 500.0), PolicyTerms(250.0, 5_000.0))), 2_000),
    _e("pf-100-nb-20k", _pf(PolicyGroup(100, NegativeBinomial(2.0, 0.5), Lognormal(7.0, 1.0),
                                        PolicyTerms(500.0, 20_000.0))), 20_000),
    _e("pf-5000-20k", _pf(PolicyGroup(5_000, Poisson(0.02), Lognormal(8.0, 1.5),
                                      PolicyTerms(1_000.0, 250_000.0))), 20_000),
    _e("pf-agg-10k", _pf(PolicyGroup(50, Poisson(1.0), Gamma(1.5, 800.0), PolicyTerms(100.0, 5_000.0, 200.0, 8_000.0)),
                         PolicyGroup(5, Poisson(3.0), Exponential(300.0))), 10_000),
    _e("pf-pareto-50k", _pf(PolicyGroup(20, Binomial(5, 0.2), Pareto(2.5, 2_000.0), PolicyTerms(0.0, 50_000.0))),
       50_000),
    _e("pf-weibull-10k", _pf(PolicyGroup(500, Poisson(0.2), Weibull(0.8, 1_000.0), PolicyTerms(200.0, 10_000.0))),
       10_000),
    _e("pf-2-100k", _pf(PolicyGroup(2, Poisson(1.5), Exponential(1_000.0))), 100_000),
    _e("euro-put-5k", _euro(105.0, "put", T=0.5), 5_000),
    _e("euro-short-500k", _euro(100.0, T=0.25), 500_000),
    _e("euro-long-2m", _euro(120.0, T=3.0), 2_000_000),
    _e("asian-6-200k", _asian(100.0, 6), 200_000),
    _e("asian-126-10k", _asian(90.0, 126), 10_000),
    _e("asian-36-50k", _asian(100.0, 36), 50_000),
    _e("asian-252-2k", _asian(110.0, 252, T=2.0), 2_000),
    _e("pf-1000-bin-50k", _pf(PolicyGroup(1_000, Binomial(3, 0.05), Gamma(3.0, 400.0),
                                          PolicyTerms(100.0, 10_000.0))), 50_000),
    _e("pf-3grp-20k", _pf(PolicyGroup(40, Poisson(0.5), Lognormal(7.0, 1.3), PolicyTerms(250.0, 25_000.0)),
                          PolicyGroup(400, NegativeBinomial(2.0, 0.8), Gamma(2.0, 1_500.0)),
                          PolicyGroup(3, Poisson(4.0), Weibull(1.2, 700.0), PolicyTerms(0.0, 5_000.0))), 20_000),
    _e("pf-10000-10k", _pf(PolicyGroup(10_000, Poisson(0.01), Pareto(2.2, 5_000.0),
                                       PolicyTerms(1_000.0, 500_000.0))), 10_000),
    _e("pf-nb-agg-5k", _pf(PolicyGroup(80, NegativeBinomial(1.5, 0.6), Lognormal(6.5, 1.0),
                                       PolicyTerms(50.0, 3_000.0, 500.0, 20_000.0))), 5_000),
    _e("pf-50-200k", _pf(PolicyGroup(50, Poisson(0.3), Exponential(2_000.0), PolicyTerms(500.0, 50_000.0))), 200_000),
    _e("pf-200-2k", _pf(PolicyGroup(200, Poisson(0.8), Lognormal(7.5, 1.1), PolicyTerms(100.0, 40_000.0))), 2_000),
    _e("pf-weibull-agg-50k", _pf(PolicyGroup(15, Binomial(4, 0.3), Weibull(0.9, 2_500.0),
                                             PolicyTerms(200.0, 15_000.0, 0.0, 40_000.0))), 50_000),
)

_HELD_OUT = (
    _e("euro-put-3m", _euro(100.0, "put"), 3_000_000),
    _e("euro-deep-400k", _euro(70.0, q=0.01), 400_000),
    _e("asian-100-40k", _asian(100.0, 100, T=2.0, r=0.02, sigma=0.3), 40_000),
    _e("pf-2000-nb-5k", _pf(PolicyGroup(2_000, NegativeBinomial(1.0, 0.9), Gamma(2.0, 3_000.0),
                                        PolicyTerms(500.0, 50_000.0))), 5_000),
    _e("pf-mixed-30k", _pf(PolicyGroup(30, Poisson(0.8), Lognormal(7.5, 1.2),
                                       PolicyTerms(200.0, 30_000.0, 0.0, 60_000.0)),
                           PolicyGroup(200, Binomial(2, 0.1), Weibull(1.5, 4_000.0), PolicyTerms(1_000.0, 20_000.0)),
                           PolicyGroup(8, NegativeBinomial(3.0, 0.4), Pareto(3.0, 5_000.0))), 30_000),
    _e("euro-call-30k", _euro(95.0, T=0.75), 30_000),
    _e("asian-12-300k", _asian(100.0, 12), 300_000),
    _e("asian-180-8k", _asian(95.0, 180, sigma=0.2), 8_000),
    _e("pf-400-pareto-60k", _pf(PolicyGroup(400, Poisson(0.3), Pareto(2.8, 3_000.0), PolicyTerms(250.0, 75_000.0))),
       60_000),
    _e("pf-2grp-15k", _pf(PolicyGroup(5, Poisson(2.5), Gamma(1.2, 900.0), PolicyTerms(100.0, 8_000.0)),
                          PolicyGroup(1_500, Binomial(1, 0.05), Lognormal(7.8, 1.4), PolicyTerms(500.0, 60_000.0))),
       15_000),
    _e("pf-exp-agg-400k", _pf(PolicyGroup(3, Poisson(1.2), Exponential(1_500.0),
                                          PolicyTerms(0.0, 10_000.0, 0.0, 25_000.0))), 400_000),
)

_DEMO = (
    _e("euro-20k", _euro(100.0), 20_000),
    _e("euro-put-200k", _euro(95.0, "put"), 200_000),
    _e("euro-1m", _euro(105.0), 1_000_000),
    _e("asian-24-10k", _asian(100.0, 24), 10_000),
    _e("asian-64-20k", _asian(100.0, 64), 20_000),
    _e("pf-20-10k", _pf(PolicyGroup(20, Poisson(1.0), Gamma(2.0, 500.0), PolicyTerms(250.0, 10_000.0))), 10_000),
    _e("pf-1000-20k", _pf(PolicyGroup(1_000, Poisson(0.05), Lognormal(8.0, 1.2), PolicyTerms(500.0, 100_000.0))),
       20_000),
    _e("pf-agg-5k", _pf(PolicyGroup(30, Poisson(1.5), Exponential(800.0), PolicyTerms(100.0, 5_000.0, 0.0, 20_000.0))),
       5_000),
)

_DEMO_UNSEEN = (
    _e("euro-put-2m", _euro(90.0, "put", T=2.0), 2_000_000),
    _e("asian-52-50k", _asian(105.0, 52, sigma=0.3), 50_000),
    _e("pf-3000-nb-40k", _pf(PolicyGroup(3_000, NegativeBinomial(1.0, 0.95), Gamma(2.0, 2_000.0),
                                         PolicyTerms(500.0, 50_000.0))), 40_000),
)

SUITES: dict[str, Suite] = {
    s.name: s
    for s in (
        Suite("standard", "30 workloads of the three kinds, n_sims 2e3..2e6 (the model-quality training suite)",
              _STANDARD),
        Suite("held-out", "11 workloads of other sizes and shapes than `standard` (model-quality evaluation)",
              _HELD_OUT),
        Suite("demo", "8 small workloads the demo tunes in about 1.5 minutes on 2 cores", _DEMO,
              backends=("numpy", "numba"), chunk_sizes=(65_536,),
              measure_options=MeasureOptions(min_repeats=2, max_repeats=3, min_total_s=0.02)),
        Suite("demo-unseen", "3 workloads the demo never tunes: tuned_simulate must predict them", _DEMO_UNSEEN,
              backends=("numpy", "numba"), chunk_sizes=(65_536,), budget_trials=10,
              measure_options=MeasureOptions(min_repeats=2, max_repeats=3, min_total_s=0.02)),
    )
}
"""The built-in suites by name."""


def get_suite(name: str) -> Suite:
    """The built-in suite ``name``.

    Raises:
        ValueError: no such suite (the message lists them).
    """
    try:
        return SUITES[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown suite {name!r}; built-in suites are {sorted(SUITES)}") from None
