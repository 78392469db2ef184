"""Monte Carlo kernels: aggregate insurance losses and option prices, computed many ways.

``simulate(workload, n_sims, config, seed)`` is the single entry point; with
``target=Target(atol=..., rtol=...)`` it runs until the requested precision is
reached instead of for a fixed ``n_sims``. A
:class:`Config` says how to compute (backend, workers, executor, precision,
chunking, QMC, shared memory); ``Config(executor="dask")`` runs the chunks on a Dask
cluster (:func:`use_dask`, ``DASK_SCHEDULER_ADDRESS``, else a local cluster). Every valid
config estimates the same quantity with its own statistical error. This package knows nothing of tuning.

Limits on what is accepted are module constants (``MAX_SIMS``, ``MAX_CHUNKS``,
``MAX_POLICIES``, ``MAX_EXPECTED_CLAIMS``, ...; see :mod:`kernels._limits`), and a
run's memory (:func:`estimate_memory`) is checked against :func:`memory_limit`
(the machine's available memory, the ``KERNELS_MEMORY_LIMIT`` environment
variable, or :func:`set_memory_limit`).

``load_lock(path)`` reads a lock file written by ``autotune pin``: ``lock.config_for(workload)``
is the pinned config that reproduces audited results bit for bit (see :mod:`kernels._lock`).

Tools built on kernels may use the helpers exported here: the chunk sizing
(:func:`auto_chunk_size`, :func:`bytes_per_sim`, :func:`draws_per_sim`), the knob values (``BACKENDS``,
``EXECUTORS``, ``PRECISIONS``), the backend registry (:func:`backend_names`,
:func:`register_backend`, :func:`backend_registry`, :func:`adopt_backend_registry`,
also in :mod:`kernels.backends`) and the argument checks (:func:`check_int`,
:func:`check_real`, :func:`check_choice`).
"""

from ._analytic import black_scholes, european_reference, geometric_asian_price, geometric_asian_reference
from ._chunks import auto_chunk_size, bytes_per_sim, draws_per_sim
from ._config import BACKENDS, DISCRETISATIONS, EXECUTORS, METHODS, PRECISIONS, Config
from ._dask import (
    DaskClusterError,
    DaskUnavailableError,
    dask_scheduler_address,
    dask_threads,
    shutdown_dask,
    use_dask,
)
from ._discretise import discretise_layer
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
from ._executors import ExecutionError, MainModuleReentryError, shutdown_pools, worker_context
from ._fft import DEFAULT_FFT_RTOL, MAX_FFT_POINTS, AggregateDistribution, GridTooLargeError, aggregate_distribution
from ._limits import (
    DEFAULT_QMC_SCRAMBLES,
    FLOAT32_LIMIT,
    MAX_BINOMIAL_TRIALS,
    MAX_CHUNKS,
    MAX_EXPECTED_CLAIMS,
    MAX_GROUPS,
    MAX_LOSS,
    MAX_MATURITY,
    MAX_POLICIES,
    MAX_PRICE,
    MAX_QMC_POINTS,
    MAX_QMC_SCRAMBLES,
    MAX_RATE_TIMES_MATURITY,
    MAX_SIMS,
    MAX_TOTAL_VOLATILITY,
    MAX_WORKERS,
    MIN_PRICE,
)
from ._lock import (
    LOCK_VERSION,
    MAX_LOCK_BYTES,
    MAX_LOCK_ENTRIES,
    Lock,
    LockEntry,
    LockEnvironmentWarning,
    LockFileError,
    load_lock,
    lock_environment,
    workload_digest,
)
from ._resources import MEMORY_LIMIT_ENV, estimate_memory, memory_limit, set_memory_limit
from ._results import Grid, SimulationResult, Timing
from ._sequential import DEFAULT_MAX_SIMS
from ._simulate import simulate
from ._target import Target, TargetNotMetWarning
from ._validation import check_choice, check_int, check_real
from ._workloads import AsianOption, EuropeanOption, PolicyGroup, PolicyTerms, Portfolio, Workload, workload_kind
from .backends import BackendUnavailableError, backend_names, register_backend
from .backends import adopt_registry as adopt_backend_registry
from .backends import registry as backend_registry

__all__ = [
    "BACKENDS",
    "DEFAULT_FFT_RTOL",
    "DEFAULT_MAX_SIMS",
    "DEFAULT_QMC_SCRAMBLES",
    "DISCRETISATIONS",
    "EXECUTORS",
    "FLOAT32_LIMIT",
    "FREQUENCIES",
    "LOCK_VERSION",
    "MAX_BINOMIAL_TRIALS",
    "MAX_CHUNKS",
    "MAX_EXPECTED_CLAIMS",
    "MAX_FFT_POINTS",
    "MAX_GROUPS",
    "MAX_LOCK_BYTES",
    "MAX_LOCK_ENTRIES",
    "MAX_LOSS",
    "MAX_MATURITY",
    "MAX_POLICIES",
    "MAX_PRICE",
    "MAX_QMC_POINTS",
    "MAX_QMC_SCRAMBLES",
    "MAX_RATE_TIMES_MATURITY",
    "MAX_SIMS",
    "MAX_TOTAL_VOLATILITY",
    "MAX_WORKERS",
    "MEMORY_LIMIT_ENV",
    "METHODS",
    "MIN_PRICE",
    "PRECISIONS",
    "SEVERITIES",
    "AggregateDistribution",
    "AsianOption",
    "BackendUnavailableError",
    "Binomial",
    "Config",
    "DaskClusterError",
    "DaskUnavailableError",
    "EuropeanOption",
    "ExecutionError",
    "Exponential",
    "Frequency",
    "Gamma",
    "Grid",
    "GridTooLargeError",
    "Lock",
    "LockEntry",
    "LockEnvironmentWarning",
    "LockFileError",
    "Lognormal",
    "MainModuleReentryError",
    "NegativeBinomial",
    "Pareto",
    "Poisson",
    "PolicyGroup",
    "PolicyTerms",
    "Portfolio",
    "Severity",
    "SimulationResult",
    "Target",
    "TargetNotMetWarning",
    "Timing",
    "Weibull",
    "Workload",
    "adopt_backend_registry",
    "aggregate_distribution",
    "auto_chunk_size",
    "backend_names",
    "backend_registry",
    "black_scholes",
    "bytes_per_sim",
    "check_choice",
    "check_int",
    "check_real",
    "dask_scheduler_address",
    "dask_threads",
    "discretise_layer",
    "draws_per_sim",
    "estimate_memory",
    "european_reference",
    "geometric_asian_price",
    "geometric_asian_reference",
    "load_lock",
    "lock_environment",
    "memory_limit",
    "register_backend",
    "set_memory_limit",
    "shutdown_dask",
    "shutdown_pools",
    "simulate",
    "use_dask",
    "worker_context",
    "workload_digest",
    "workload_kind",
]
