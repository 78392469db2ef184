"""Monte Carlo kernels: aggregate insurance losses and option prices, computed many ways.

``simulate(workload, n_sims, config, seed)`` is the single entry point. A
:class:`Config` says how to compute (backend, workers, executor, precision,
chunking, QMC, shared memory); every valid config estimates the same quantity
with its own statistical error. This package knows nothing of tuning.

Tools built on kernels may use the helpers exported here: the chunk sizing
(:func:`auto_chunk_size`, :func:`bytes_per_sim`), the knob values (``BACKENDS``,
``EXECUTORS``, ``PRECISIONS``), the backend registry (:func:`backend_names`,
:func:`register_backend`, :func:`backend_registry`, :func:`adopt_backend_registry`,
also in :mod:`kernels.backends`) and the argument checks (:func:`check_int`,
:func:`check_real`, :func:`check_choice`).
"""

from ._analytic import black_scholes, european_reference, geometric_asian_price, geometric_asian_reference
from ._chunks import auto_chunk_size, bytes_per_sim
from ._config import BACKENDS, EXECUTORS, PRECISIONS, Config
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
from ._validation import check_choice, check_int, check_real
from ._workloads import AsianOption, EuropeanOption, PolicyGroup, PolicyTerms, Portfolio, Workload, workload_kind
from .backends import BackendUnavailableError, backend_names, register_backend
from .backends import adopt_registry as adopt_backend_registry
from .backends import registry as backend_registry

__all__ = [
    "BACKENDS",
    "EXECUTORS",
    "FREQUENCIES",
    "PRECISIONS",
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
    "adopt_backend_registry",
    "auto_chunk_size",
    "backend_names",
    "backend_registry",
    "black_scholes",
    "bytes_per_sim",
    "check_choice",
    "check_int",
    "check_real",
    "european_reference",
    "geometric_asian_price",
    "geometric_asian_reference",
    "register_backend",
    "shutdown_pools",
    "simulate",
    "workload_kind",
]
