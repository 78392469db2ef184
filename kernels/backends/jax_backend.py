"""JAX backend: jitted kernels on JAX's default device (a GPU when JAX sees one).

Importing this module imports jax, so the backend registry imports it only when
the jax backend is used. Two process-wide settings come with it:

* 64-bit mode is switched on (``jax.config.update("jax_enable_x64", True)``):
  float64 paths and float64 accumulation need it. It applies to every later use
  of jax in the process.
* ``XLA_PYTHON_CLIENT_PREALLOCATE`` is set to ``"false"`` unless already set, so
  that several worker processes can share one GPU instead of each taking most of
  its memory. It only takes effect if jax was not imported before this module.

Every chunk of a run is padded to the run's chunk size and the extra samples are
masked, so one compilation serves the whole run. Random numbers come from a
threefry key made from the chunk's ``SeedSequence``; with QMC, Sobol uniforms are
made on the host (as in the numpy backend) and transformed on the device.
Portfolios draw a variable number of claims: the counts are drawn first, their
total comes back to the host and is rounded up to a power-of-two bucket, which
bounds how many shapes are ever compiled.

A chunk's numbers depend on the chunk and on the run's chunk size (the padding:
JAX's Poisson sampler is not prefix-stable), never on the worker, executor or
process that runs it. On GPUs the kernels are compiled with XLA's deterministic
ops, so that results are identical to the last bit across processes too.
"""

from __future__ import annotations

import functools
import math
import os
import threading
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import jax

jax.config.update("jax_enable_x64", True)

from .._chunks import Chunk, plan_chunks  # noqa: E402
from .._config import Config  # noqa: E402
from .._distributions import Frequency  # noqa: E402
from .._estimators import output_shape  # noqa: E402
from .._paths import brownian_bridge, sobol_uniforms  # noqa: E402
from .._workloads import AsianOption, EuropeanOption, PolicyGroup, Portfolio, Workload  # noqa: E402
from . import _jax_kernels as jk  # noqa: E402
from ._base import Backend, float_dtype  # noqa: E402

__all__ = ["JaxBackend"]

# Claim buckets are powers of two of at least this size.
MIN_BUCKET = 1024
# Bridge matrices above this many steps would be large and slow; apply the bridge level by level instead.
MAX_BRIDGE_MATRIX_STEPS = 1024
# How many standard deviations of a chunk's claim total the prepared buckets cover.
BUCKET_SDS = 6.0
MAX_PREPARED_BUCKETS = 4
# Simulations in the chunk that prepare() runs once the kernels are compiled.
_WARMUP_SIMS = 4

_KEY_SPEC = jax.ShapeDtypeStruct((2,), np.uint32)
_INT_SPEC = jax.ShapeDtypeStruct((), np.int64)


def _spec(shape: tuple[int, ...], dtype: Any) -> jax.ShapeDtypeStruct:
    return jax.ShapeDtypeStruct(shape, dtype)


def _compile(fn: Callable[..., Any], *specs: jax.ShapeDtypeStruct) -> Callable[..., Any]:
    # On GPUs, XLA's autotuned reductions can sum in a different order in another
    # process: deterministic ops keep a seed's results identical to the last bit.
    options = {"xla_gpu_deterministic_ops": True} if jax.default_backend() == "gpu" else None
    return jax.jit(fn).lower(*specs).compile(compiler_options=options)


class _Cache:
    """Values built once per key, safe to ask for from several threads (each key is built once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[Hashable, list[Any]] = {}
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        entry = self._entries.get(key)
        if entry is not None:
            return entry[0]
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            entry = self._entries.get(key)
            if entry is None:
                entry = [build()]
                with self._lock:
                    self._entries[key] = entry
        return entry[0]


def _key_data(chunk: Chunk) -> np.ndarray:
    """Two 32-bit words of the chunk's own seed state: the raw data of its threefry key."""
    return chunk.seed.generate_state(2, np.uint32)


def _padded_uniforms(chunk: Chunk, dim: int, size: int) -> np.ndarray:
    """The chunk's Sobol uniforms ``(size, dim)``, padded with 0.5 (a finite normal) past ``chunk.size``."""
    u = np.full((size, dim), 0.5)
    u[: chunk.size] = sobol_uniforms(chunk, dim)
    return u


def _option_params(opt: EuropeanOption | AsianOption) -> np.ndarray:
    return np.array([getattr(opt, name) for name in jk.OPTION_FIELDS], dtype=np.float64)


def _pow2_ceil(x: float) -> int:
    return 1 << max(math.ceil(x) - 1, 0).bit_length()


class _GroupPlan:
    """How one policy group is drawn in a chunk of ``size`` sims: its static kernel shape and parameters."""

    def __init__(self, group: PolicyGroup, index: int, size: int, dtype: type) -> None:
        self.pooled = group.pooled
        self.frequency: Frequency = group.frequency.pooled(group.n_policies) if self.pooled else group.frequency
        self.per_sim = 1 if self.pooled else group.n_policies
        self.size = size
        self.dtype = np.dtype(dtype)
        self.severity_family = group.severity.family
        self.fparams = np.asarray(self.frequency.params(), dtype=np.float64)
        self.sparams = np.asarray(group.severity.params(), dtype=np.float64)
        self.terms = np.asarray(group.terms.as_tuple(), dtype=np.float64)
        self.count_stream = np.int64(2 * index)
        self.claim_stream = np.int64(2 * index + 1)
        cells = size * self.per_sim
        mean, sd = cells * self.frequency.mean(), math.sqrt(cells * self.frequency.var())
        # A deterministic floor: smaller totals (a short last chunk) reuse the full chunk's bucket.
        self.floor = max(MIN_BUCKET, _pow2_ceil(max(mean - BUCKET_SDS * sd, 1.0)))
        self.likely_top = max(self.floor, _pow2_ceil(mean + BUCKET_SDS * sd))

    def bucket(self, total: int) -> int:
        return max(self.floor, _pow2_ceil(total))

    def likely_buckets(self) -> list[int]:
        buckets = [self.floor]
        while buckets[-1] < self.likely_top and len(buckets) < MAX_PREPARED_BUCKETS:
            buckets.append(2 * buckets[-1])
        return buckets

    def counts_key(self) -> tuple:
        return ("counts", self.frequency.family, self.size, self.per_sim)

    def losses_key(self, bucket: int) -> tuple:
        return ("losses", self.severity_family, self.dtype.name, bucket, self.size, self.per_sim, not self.pooled)


class JaxBackend(Backend):
    """Jitted JAX kernels on the default device; compiled once per workload structure, chunk size and precision."""

    name = "jax"

    def __init__(self) -> None:
        self._kernels = _Cache()
        self._prepared: set[tuple] = set()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ contract

    def prepare(self, workload: Workload, config: Config, chunk_size: int) -> None:
        """Compile this workload's kernels for ``chunk_size`` and the precision, then run a tiny chunk.

        The kernels are compiled ahead of time (a portfolio's for the claim
        buckets a full chunk is likely to need, side by side); the tiny chunk
        pays the first-execution costs (device context, module loading) here
        rather than in the first timed chunk.
        """
        key = (workload, config.precision, config.qmc, config.antithetic, int(chunk_size))
        if key in self._prepared:
            return
        dtype = float_dtype(config)
        if isinstance(workload, EuropeanOption):
            self._european(workload, dtype, chunk_size, config.qmc, config.antithetic)
        elif isinstance(workload, AsianOption):
            self._asian(workload, dtype, chunk_size, config.qmc, config.antithetic)
        elif isinstance(workload, Portfolio):
            builds: list[Callable[[], Any]] = []
            for plan in self._plans(workload, chunk_size, dtype):
                if not (config.qmc and plan.pooled):
                    builds.append(functools.partial(self._counts_kernel, plan))
                builds += [functools.partial(self._losses_kernel, plan, b) for b in plan.likely_buckets()]
            # XLA compiles outside the GIL, so the kernels of a many-group portfolio compile side by side.
            with ThreadPoolExecutor(max_workers=min(len(builds), os.cpu_count() or 1)) as pool:
                for future in [pool.submit(build) for build in builds]:
                    future.result()
        else:
            raise ValueError(f"unsupported workload {type(workload).__name__}")
        warm = plan_chunks(_WARMUP_SIMS, _WARMUP_SIMS, np.random.SeedSequence(0), qmc=config.qmc, scrambles=2)[0]
        shape = output_shape(workload, warm.size, 1)
        out = np.empty(shape[1:] if len(shape) == 2 else shape, dtype=np.float64)
        self.run_chunk(workload, config.replace(chunk_size=int(chunk_size)), warm, out)
        with self._lock:
            self._prepared.add(key)

    def run_chunk(self, workload: Workload, config: Config, chunk: Chunk, out: np.ndarray) -> None:
        dtype = float_dtype(config)
        size = max(config.chunk_size or chunk.size, chunk.size)
        qmc = chunk.replicate >= 0
        n_valid = np.int64(chunk.size)
        if isinstance(workload, EuropeanOption):
            args = [_option_params(workload), _key_data(chunk), n_valid]
            if qmc:
                args.append(_padded_uniforms(chunk, 1, size))
            out[:] = np.asarray(self._european(workload, dtype, size, qmc, config.antithetic)(*args))
        elif isinstance(workload, AsianOption):
            args = [_option_params(workload), _key_data(chunk), n_valid]
            if qmc:
                args.append(_padded_uniforms(chunk, workload.n_steps, size))
                if workload.n_steps <= MAX_BRIDGE_MATRIX_STEPS:
                    args.append(self._bridge_matrix(workload, dtype))
            out[:] = np.asarray(self._asian(workload, dtype, size, qmc, config.antithetic)(*args))
        elif isinstance(workload, Portfolio):
            out[:] = self._portfolio_losses(workload, chunk, size, dtype)
        else:
            raise ValueError(f"unsupported workload {type(workload).__name__}")

    # ------------------------------------------------------------------ options

    def _european(self, opt: EuropeanOption, dtype: type, size: int, qmc: bool, antithetic: bool) -> Callable[..., Any]:
        key = ("european", size, np.dtype(dtype).name, opt.is_call, antithetic, qmc)

        def build() -> Callable[..., Any]:
            fn = functools.partial(
                jk.european_stats, size=size, dtype=dtype, is_call=opt.is_call, antithetic=antithetic
            )
            specs = [_spec((6,), np.float64), _KEY_SPEC, _INT_SPEC]
            if qmc:
                specs.append(_spec((size, 1), np.float64))
            return _compile(fn, *specs)

        return self._kernels.get(key, build)

    def _asian(self, opt: AsianOption, dtype: type, size: int, qmc: bool, antithetic: bool) -> Callable[..., Any]:
        n = opt.n_steps
        by_levels = qmc and n > MAX_BRIDGE_MATRIX_STEPS
        # The levels are constants of the compiled function, and depend on T.
        key = ("asian", size, n, np.dtype(dtype).name, opt.is_call, antithetic, qmc, opt.T if by_levels else None)

        def build() -> Callable[..., Any]:
            levels = jk.bridge_levels(brownian_bridge(n, opt.T)) if by_levels else None
            fn = functools.partial(
                jk.asian_stats, size=size, n_steps=n, dtype=dtype, is_call=opt.is_call,
                antithetic=antithetic, levels=levels,
            )
            specs = [_spec((6,), np.float64), _KEY_SPEC, _INT_SPEC]
            if qmc:
                specs.append(_spec((size, n), np.float64))
                if not by_levels:
                    specs.append(_spec((n, n), dtype))
            return _compile(fn, *specs)

        return self._kernels.get(key, build)

    def _bridge_matrix(self, opt: AsianOption, dtype: type) -> jax.Array:
        key = ("bridge", opt.n_steps, opt.T, np.dtype(dtype).name)
        return self._kernels.get(
            key, lambda: jax.device_put(brownian_bridge(opt.n_steps, opt.T).matrix().astype(dtype))
        )

    # ------------------------------------------------------------------ portfolios

    @staticmethod
    def _plans(pf: Portfolio, size: int, dtype: type) -> list[_GroupPlan]:
        return [_GroupPlan(g, i, size, dtype) for i, g in enumerate(pf.groups)]

    def _counts_kernel(self, plan: _GroupPlan) -> Callable[..., Any]:
        def build() -> Callable[..., Any]:
            fn = functools.partial(
                jk.group_counts, family=plan.frequency.family, size=plan.size, per_sim=plan.per_sim
            )
            return _compile(fn, _KEY_SPEC, _INT_SPEC, _INT_SPEC, _spec((2,), np.float64))

        return self._kernels.get(plan.counts_key(), build)

    def _losses_kernel(self, plan: _GroupPlan, bucket: int) -> Callable[..., Any]:
        def build() -> Callable[..., Any]:
            fn = functools.partial(
                jk.group_losses, family=plan.severity_family, dtype=plan.dtype, bucket=bucket,
                size=plan.size, per_sim=plan.per_sim, aggregate=not plan.pooled,
            )
            cells = plan.size * plan.per_sim
            return _compile(
                fn, _KEY_SPEC, _INT_SPEC, _spec((cells,), np.int64), _spec((2,), np.float64), _spec((4,), np.float64)
            )

        return self._kernels.get(plan.losses_key(bucket), build)

    def _portfolio_losses(self, pf: Portfolio, chunk: Chunk, size: int, dtype: type) -> np.ndarray:
        """The chunk's annual losses (float64), with the numpy backend's QMC split (see ``portfolio_losses``)."""
        plans = self._plans(pf, size, dtype)
        key_data = _key_data(chunk)
        n_valid = np.int64(chunk.size)
        pooled_idx = [i for i, p in enumerate(plans) if p.pooled]
        u = sobol_uniforms(chunk, len(pooled_idx)) if chunk.replicate >= 0 and pooled_idx else None
        counts: list[Any] = []
        totals: list[Any] = []
        for gi, plan in enumerate(plans):
            if plan.pooled and u is not None:
                c = np.zeros(size, dtype=np.int64)
                c[: chunk.size] = plan.frequency.scipy().ppf(u[:, pooled_idx.index(gi)]).astype(np.int64)
                counts.append(c)
                totals.append(int(c.sum()))
            else:
                c, total = self._counts_kernel(plan)(key_data, plan.count_stream, n_valid, plan.fparams)
                counts.append(c)
                totals.append(total)
        # All count kernels are queued before the first total is read back.
        acc = None
        for plan, c, total in zip(plans, counts, totals, strict=True):
            kernel = self._losses_kernel(plan, plan.bucket(int(total)))
            part = kernel(key_data, plan.claim_stream, c, plan.sparams, plan.terms)
            acc = part if acc is None else acc + part
        return np.asarray(acc)[: chunk.size]
