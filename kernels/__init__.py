"""Monte Carlo kernels: aggregate insurance losses and option prices, computed many ways.

``simulate(workload, n_sims, config, seed)`` is the single entry point. A
:class:`Config` says how to compute (backend, workers, executor, precision,
chunking, QMC, shared memory); every valid config estimates the same quantity
with its own statistical error. This package knows nothing of tuning.
"""

from ._analytic import black_scholes, european_reference, geometric_asian_price, geometric_asian_reference
from ._config import Config
from ._distributions import (
    FREQUENCIES,
    SEVERITIES,
    Binomial,
    Exponential,
    Frequency,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    Severity,
    Weibull,
)
from ._executors import ExecutionError, shutdown_pools
from ._results import SimulationResult, Timing
from ._simulate import simulate
from ._workloads import AsianOption, EuropeanOption, PolicyGroup, PolicyTerms, Portfolio, Workload, workload_kind
from .backends import BackendUnavailableError

__all__ = [
    "FREQUENCIES",
    "SEVERITIES",
    "AsianOption",
    "BackendUnavailableError",
    "Binomial",
    "Config",
    "EuropeanOption",
    "ExecutionError",
    "Exponential",
    "Frequency",
    "Gamma",
    "Lognormal",
    "NegativeBinomial",
    "Pareto",
    "Poisson",
    "PolicyGroup",
    "PolicyTerms",
    "Portfolio",
    "Severity",
    "SimulationResult",
    "Timing",
    "Weibull",
    "Workload",
    "black_scholes",
    "european_reference",
    "geometric_asian_price",
    "geometric_asian_reference",
    "shutdown_pools",
    "simulate",
    "workload_kind",
]
