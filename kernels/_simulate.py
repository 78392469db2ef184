"""The single entry point: ``simulate(workload, n_sims, config, seed)``."""

from __future__ import annotations

import numbers
import time
from functools import lru_cache

import numpy as np

from . import _executors
from ._chunks import plan_chunks
from ._config import Config
from ._estimators import reduce
from ._fft import DEFAULT_FFT_RTOL, MAX_FFT_POINTS, run_fft
from ._limits import MAX_SIMS
from ._resources import check_run, resolve_chunk_size
from ._results import SimulationResult, Timing
from ._sequential import run_to_target
from ._target import Target
from ._validation import check_int
from ._workloads import Workload, workload_kind

__all__ = ["simulate"]

SeedLike = int | np.random.SeedSequence | None


@lru_cache(maxsize=256)
def _with_chunk_size(config: Config, chunk_size: int) -> Config:
    """``config`` with the run's chunk size, kept: ``Config.replace`` validates again, ~9 us a run."""
    return config.replace(chunk_size=chunk_size)


def _seed_sequence(seed: SeedLike) -> np.random.SeedSequence:
    if seed is None or isinstance(seed, np.random.SeedSequence):
        return seed if seed is not None else np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be None, a non-negative integer or a numpy SeedSequence, got {seed!r} "
                         f"({type(seed).__name__})")
    return np.random.SeedSequence(int(seed))


def simulate(
    workload: Workload,
    n_sims: int | None = None,
    config: Config | None = None,
    seed: SeedLike = None,
    *,
    target: Target | None = None,
    max_sims: int | None = None,
) -> SimulationResult:
    """Estimate a workload's quantities by Monte Carlo simulation, at a fixed size or to a precision.

    Args:
        workload: a :class:`Portfolio`, :class:`EuropeanOption` or :class:`AsianOption`.
        n_sims: number of simulations (integer in ``[2, MAX_SIMS]``): simulated years for a
            portfolio, paths (or antithetic pairs) for an option. Required without a ``target``;
            with one it is the cap, like ``max_sims``.
        target: run batch after batch until the :class:`Target` is met (see
            :mod:`kernels._sequential` for the stopping rule); the result reports the
            simulations used, the half-widths reached and ``target_met``.
        max_sims: with a ``target``, the most simulations to run (default
            ``DEFAULT_MAX_SIMS``, 2**30); reaching it first returns the result with
            ``target_met=False`` and a :class:`TargetNotMetWarning`.
        config: how to compute; ``None`` means ``Config()``, the default. With
            ``Config(method="fft")`` (portfolios) the distribution is computed on a grid instead:
            ``n_sims`` does not apply, ``max_sims`` (or ``n_sims`` with a target) caps the grid's
            points, the result's ``n_sims`` is the grid's points and its ``error_bounds`` the
            estimated errors (see :mod:`kernels._fft`); without a target the grid is chosen for
            ``DEFAULT_FFT_RTOL``.
        seed: integer, ``SeedSequence`` or None (fresh entropy, reported in the result).
            The same seed, config and ``n_sims`` give identical results; the same seed,
            backend, precision, ``chunk_size`` and estimator give bit-identical results whatever
            the worker count, executor and shared memory (tested for numpy, numba and JAX on
            the CPU; see :mod:`kernels._lock`).

    Returns:
        A :class:`SimulationResult` with estimates, standard errors, the config used
        and a timing breakdown.

    Raises:
        ValueError: a bad workload, ``n_sims``, config, seed, target or ``max_sims``, naming the field; a run over a
            limit of :mod:`kernels` (``MAX_SIMS``, ``MAX_CHUNKS``, ``MAX_QMC_POINTS``), values that
            float32 cannot hold, or a run that needs more memory than :func:`kernels.memory_limit`
            (see :func:`kernels.estimate_memory`); raised before anything is planned or started.
        kernels.backends.BackendUnavailableError: the backend's library is not installed.
        kernels.ExecutionError: a worker process died.
    """
    t0 = time.perf_counter()
    workload_kind(workload)
    if config is None:
        config = Config()
    elif not isinstance(config, Config):
        raise ValueError(f"config must be a kernels.Config, got {type(config).__name__}")
    config.check_workload(workload)
    if config.method == "fft":
        return _fft_run(workload, n_sims, config, target, max_sims)
    if target is not None or max_sims is not None:
        return _to_target(workload, n_sims, config, seed, target, max_sims)
    if n_sims is None:
        raise ValueError("n_sims is required without a target: pass n_sims=... or target=kernels.Target(...)")
    n_sims = check_int("", "n_sims", n_sims, low=2, high=MAX_SIMS)
    config.check_for(n_sims)
    root = _seed_sequence(seed)
    check_run(workload, n_sims, config)

    chunk_size = resolve_chunk_size(workload, n_sims, config)
    used = _with_chunk_size(config, chunk_size)
    chunks = plan_chunks(n_sims, chunk_size, root, qmc=used.qmc, scrambles=used.qmc_scrambles)

    _executors.prepare(workload, used, chunk_size)
    t1 = time.perf_counter()
    estimates, errors = _executors.run_chunks(
        workload, used, chunks, n_sims, lambda buffer: reduce(workload, buffer, chunks, used)
    )
    t2 = time.perf_counter()
    return SimulationResult(
        estimates=estimates,
        standard_errors=errors,
        config=used,
        n_sims=n_sims,
        timing=Timing(overhead_s=t1 - t0, compute_s=t2 - t1, total_s=t2 - t0),
        workload=workload,
        seed_entropy=int(root.entropy) if isinstance(root.entropy, int) else 0,
    )


def _fft_run(workload: Workload, n_sims: int | None, config: Config, target: Target | None,
             max_sims: int | None) -> SimulationResult:
    if n_sims is not None and target is None:
        raise ValueError(
            "n_sims does not apply to Config(method='fft'), which computes the loss distribution on a grid "
            "chosen for an accuracy: pass target=kernels.Target(...), or nothing for the default accuracy "
            f"(rtol {DEFAULT_FFT_RTOL:g} on every estimate); max_sims caps the grid's points"
        )
    if target is not None and not isinstance(target, Target):
        raise ValueError(f"target must be a kernels.Target, got {type(target).__name__}")
    if n_sims is not None and max_sims is not None:
        raise ValueError("with a target, n_sims is the cap: pass n_sims or max_sims, not both")
    cap = max_sims if max_sims is not None else n_sims
    cap_name = "max_sims" if max_sims is not None else "n_sims"
    if cap is not None:
        cap = min(check_int("", cap_name, cap, low=16, high=MAX_SIMS), MAX_FFT_POINTS)
    if target is not None:
        target.names(workload)
    return run_fft(workload, config, target, cap, cap_name)  # type: ignore[arg-type]


def _to_target(
    workload: Workload, n_sims: int | None, config: Config, seed: SeedLike, target: Target | None,
    max_sims: int | None,
) -> SimulationResult:
    if not isinstance(target, Target):
        raise ValueError(f"target must be a kernels.Target, got {type(target).__name__}"
                         + (" (max_sims applies to a run to a target)" if target is None else ""))
    if n_sims is not None and max_sims is not None:
        raise ValueError("with a target, n_sims is the cap: pass n_sims or max_sims, not both")
    cap = max_sims if max_sims is not None else n_sims
    if cap is not None:
        cap = check_int("", "max_sims" if max_sims is not None else "n_sims", cap, low=2, high=MAX_SIMS)
    target.names(workload)
    return run_to_target(workload, config, _seed_sequence(seed), target, cap,
                         "max_sims" if max_sims is not None else "n_sims")
