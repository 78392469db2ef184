"""Numba backend: compiled per-path loops that release the GIL.

Each chunk is one call of one compiled kernel (:mod:`._numba_kernels`), drawing
from a ``numpy.random.Generator`` built from the chunk's seed, so a chunk's
numbers depend on the chunk alone. Parallelism comes from the executor (threads
run kernels concurrently because they release the GIL), never from inside a
kernel. Quasi-random normals and QMC pooled counts are made on the host exactly
as in :mod:`.numpy_backend` and passed in.

All portfolios share one generic kernel (groups are packed into arrays), so the
compiled specializations are one per workload kind and precision; they are
cached on disk by numba and loaded by :meth:`NumbaBackend.prepare`.
"""

from __future__ import annotations

import math
import threading
from functools import lru_cache

import numba  # noqa: F401  (imported here so that a missing numba fails at backend lookup)
import numpy as np
from scipy.special import ndtri

from .._chunks import Chunk, plan_chunks
from .._config import Config
from .._estimators import ASIAN_COLUMNS, EUROPEAN_COLUMNS
from .._paths import brownian_bridge, sobol_uniforms
from .._workloads import AsianOption, EuropeanOption, Portfolio, Workload, workload_kind
from . import _numba_kernels as nk
from ._base import Backend, float_dtype

# Simulations in the chunk that prepare() runs to compile or load the kernels.
_WARMUP_SIMS = 4


def _qmc_normals(chunk: Chunk, dim: int, dtype: type) -> np.ndarray:
    """Path-major inverse-CDF Sobol normals ``(size, dim)`` in ``dtype``, C-contiguous."""
    return np.ascontiguousarray(ndtri(sobol_uniforms(chunk, dim)), dtype=dtype)


@lru_cache(maxsize=64)
def _european_constants(opt: EuropeanOption, dtype: type) -> np.ndarray:
    """The kernel's read-only constants at ``EU_*``, in ``dtype``."""
    sqrt_t = math.sqrt(opt.T)
    disc = math.exp(-opt.r * opt.T)
    sign = 1.0 if opt.is_call else -1.0
    consts = np.empty(nk.EU_CONSTANTS, dtype=dtype)
    consts[nk.EU_DRIFT] = (opt.r - opt.q - 0.5 * opt.sigma**2) * opt.T
    consts[nk.EU_VOL] = opt.sigma * sqrt_t
    consts[nk.EU_S0] = opt.S0
    consts[nk.EU_K] = opt.K
    consts[nk.EU_DISC] = sign * disc
    consts[nk.EU_DELTA] = sign * disc / opt.S0
    consts[nk.EU_SQRT_T] = sqrt_t
    consts[nk.EU_SIGMA_T] = opt.sigma * opt.T
    consts[nk.EU_CONTROL] = disc
    consts.flags.writeable = False
    return consts


def _european(opt: EuropeanOption, chunk: Chunk, dtype: type, antithetic: bool, control: bool,
              out: np.ndarray) -> None:
    z = _qmc_normals(chunk, 1, dtype).ravel() if chunk.replicate >= 0 else np.empty(0, dtype=dtype)
    rng = np.random.default_rng(chunk.seed)
    nk.european_stats(rng, z, chunk.size, opt.is_call, antithetic, control, _european_constants(opt, dtype), out)


@lru_cache(maxsize=64)
def _asian_schedule(n_steps: int, T: float, r: float, q: float, sigma: float, S0: float, dtype: type) -> tuple:
    """Read-only per-option arrays: drift per date and the Brownian-bridge schedule, in the kernel's types."""
    h = T / n_steps
    mu = r - q - 0.5 * sigma**2
    dt = np.dtype(dtype).type
    times = (np.arange(1, n_steps + 1) * h).astype(dtype)
    drift = dt(mu) * times + dt(math.log(S0))
    bb = brownian_bridge(n_steps, T)
    ints = [np.ascontiguousarray(a, dtype=np.int64) for a in (bb.target, bb.left, bb.right)]
    floats = [np.ascontiguousarray(a, dtype=dtype) for a in (bb.lw, bb.rw, bb.sd)]
    arrays = [drift, *ints, *floats]
    for a in arrays:
        a.flags.writeable = False
    return arrays[0], dt(math.sqrt(h)), dt(sigma), *arrays[1:]


def _asian(opt: AsianOption, chunk: Chunk, dtype: type, antithetic: bool, out: np.ndarray) -> None:
    drift, sqrt_h, sigma, target, left, right, lw, rw, sd = _asian_schedule(
        opt.n_steps, opt.T, opt.r, opt.q, opt.sigma, opt.S0, dtype
    )
    if chunk.replicate >= 0:
        z = _qmc_normals(chunk, opt.n_steps, dtype)
    else:
        z = np.empty((0, opt.n_steps), dtype=dtype)
    rng = np.random.default_rng(chunk.seed)
    disc = math.exp(-opt.r * opt.T)
    nk.asian_stats(
        rng, z, chunk.size, drift, sqrt_h, sigma, target, left, right, lw, rw, sd,
        float(opt.K), disc, opt.is_call, antithetic, out,
    )


@lru_cache(maxsize=64)
def _portfolio_arrays(pf: Portfolio) -> tuple[np.ndarray, ...]:
    """The portfolio's groups packed into the generic kernel's read-only arrays."""
    freqs = [g.frequency.pooled(g.n_policies) if g.pooled else g.frequency for g in pf.groups]
    freq_code = np.array([f.code for f in freqs], dtype=np.int64)
    freq_par = np.array([f.params() for f in freqs], dtype=np.float64).reshape(-1, 2)
    sev_code = np.array([g.severity.code for g in pf.groups], dtype=np.int64)
    sev_par = np.array([g.severity.params() for g in pf.groups], dtype=np.float64).reshape(-1, 2)
    terms = np.array([g.terms.as_tuple() for g in pf.groups], dtype=np.float64).reshape(-1, 4)
    n_policies = np.array([g.n_policies for g in pf.groups], dtype=np.int64)
    pooled = np.array([g.pooled for g in pf.groups], dtype=np.bool_)
    arrays = [
        freq_code, np.ascontiguousarray(freq_par[:, 0]), np.ascontiguousarray(freq_par[:, 1]),
        sev_code, np.ascontiguousarray(sev_par[:, 0]), np.ascontiguousarray(sev_par[:, 1]),
        terms, n_policies, pooled,
    ]
    for a in arrays:
        a.flags.writeable = False
    return tuple(arrays)


def _qmc_counts(pf: Portfolio, chunk: Chunk) -> np.ndarray:
    """Counts ``(size, groups)`` for the pooled groups by inverse CDF of Sobol coordinates, as in numpy_backend."""
    counts = np.zeros((chunk.size, len(pf.groups)), dtype=np.int64)
    pooled_idx = [i for i, g in enumerate(pf.groups) if g.pooled]
    u = sobol_uniforms(chunk, len(pooled_idx))
    for k, gi in enumerate(pooled_idx):
        g = pf.groups[gi]
        counts[:, gi] = g.frequency.pooled(g.n_policies).scipy().ppf(u[:, k]).astype(np.int64)
    return counts


def _portfolio(pf: Portfolio, chunk: Chunk, dtype: type, out: np.ndarray) -> None:
    arrays = _portfolio_arrays(pf)
    if chunk.replicate >= 0 and any(g.pooled for g in pf.groups):
        counts = _qmc_counts(pf, chunk)
    else:
        counts = np.zeros((0, len(pf.groups)), dtype=np.int64)
    rng = np.random.default_rng(chunk.seed)
    nk.portfolio_losses(rng, chunk.size, *arrays, counts, dtype, out)


class NumbaBackend(Backend):
    """Compiled per-path loops (numba ``njit``, GIL released, on-disk compile cache)."""

    name = "numba"

    def __init__(self) -> None:
        self._prepared: set[tuple[str, str, bool]] = set()
        self._lock = threading.Lock()

    def prepare(self, workload: Workload, config: Config, chunk_size: int) -> None:
        """Compile (or load from numba's cache) the kernel for this workload kind and precision.

        The kernel's types depend only on the workload kind and the precision;
        the QMC flag is part of the key so that the host-side Sobol path is
        exercised once too. Runs a tiny chunk of the real workload.
        """
        key = (workload_kind(workload), config.precision, config.qmc)
        if key in self._prepared:
            return
        with self._lock:
            if key in self._prepared:
                return
            chunk = plan_chunks(
                _WARMUP_SIMS, _WARMUP_SIMS, np.random.SeedSequence(0), qmc=config.qmc, scrambles=2
            )[0]
            if isinstance(workload, Portfolio):
                out = np.empty(chunk.size, dtype=np.float64)
            elif isinstance(workload, EuropeanOption):
                out = np.empty(len(EUROPEAN_COLUMNS), dtype=np.float64)
            else:
                out = np.empty(len(ASIAN_COLUMNS), dtype=np.float64)
            self.run_chunk(workload, config, chunk, out)
            self._prepared.add(key)

    def run_chunk(self, workload: Workload, config: Config, chunk: Chunk, out: np.ndarray) -> None:
        dtype = float_dtype(config)
        # Kernels are compiled for contiguous float64 output; anything else goes through a copy.
        target = out if out.flags.c_contiguous and out.dtype == np.float64 else np.empty(out.shape, np.float64)
        if isinstance(workload, Portfolio):
            _portfolio(workload, chunk, dtype, target)
        elif isinstance(workload, EuropeanOption):
            _european(workload, chunk, dtype, config.antithetic, config.control_variate, target)
        elif isinstance(workload, AsianOption):
            _asian(workload, chunk, dtype, config.antithetic, target)
        else:
            raise ValueError(f"unsupported workload {type(workload).__name__}")
        if target is not out:
            out[...] = target
