"""Config: how a simulation is computed (never what it computes)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ._chunks import count_chunks
from ._discretise import DISCRETISATIONS
from ._limits import DEFAULT_QMC_SCRAMBLES, MAX_CHUNKS, MAX_QMC_POINTS, MAX_QMC_SCRAMBLES, MAX_SIMS, MAX_WORKERS
from ._validation import check_choice, check_int
from ._workloads import Portfolio
from .backends._registry import BUILTIN_BACKENDS, backend_names

__all__ = ["BACKENDS", "DISCRETISATIONS", "EXECUTORS", "METHODS", "PRECISIONS", "Config"]

BACKENDS: tuple[str, ...] = BUILTIN_BACKENDS
"""The built-in backends (``Config.backend`` also accepts backends registered later)."""
EXECUTORS: tuple[str, ...] = ("serial", "threads", "processes", "dask")
"""Values of ``Config.executor``."""
PRECISIONS: tuple[str, ...] = ("float64", "float32")
"""Values of ``Config.precision``."""
METHODS: tuple[str, ...] = ("mc", "fft")
"""Values of ``Config.method``."""
FFT_BACKENDS: tuple[str, ...] = ("numpy", "jax")
"""Backends with an FFT (``Config(method="fft")``)."""
DASK_REJECTED_BACKENDS: tuple[str, ...] = ("jax",)
"""Backends that ``executor="dask"`` does not run."""


@dataclass(frozen=True)
class Config:
    """The knobs of one simulation run. Every valid Config estimates the same quantity.

    Args:
        backend: ``"numpy"`` (vectorized), ``"numba"`` (njit, GIL released, cached
            compilation) or ``"jax"`` (jit; runs on a GPU when JAX sees one).
        workers: number of workers running chunks in parallel (integer in ``[1, MAX_WORKERS]``).
        executor: ``"serial"`` (one worker, in the calling thread), ``"threads"``,
            ``"processes"`` or ``"dask"`` (chunks on a Dask ``distributed`` cluster, ``workers``
            of them in flight; see :mod:`kernels._dask` and :func:`kernels.use_dask`; numpy, numba
            or a registered backend, not jax); ``workers > 1`` needs one of the last three.
        precision: ``"float64"`` or ``"float32"`` for draws and per-path arithmetic.
            Sums are always accumulated in float64.
        chunk_size: simulations per chunk (integer in ``[1, MAX_SIMS]``), which bounds memory
            and is the unit of seeding; ``None`` picks a size from the workload's memory needs.
            A run may have at most ``MAX_CHUNKS`` chunks.
        qmc: use scrambled Sobol points (randomized quasi-Monte Carlo) instead of
            pseudo-random draws; standard errors then come from independent scrambles.
        qmc_scrambles: number of independent scrambles with ``qmc`` (integer in
            ``[2, MAX_QMC_SCRAMBLES]``, default ``DEFAULT_QMC_SCRAMBLES`` = 32; each scramble is
            one Sobol sequence of at most ``MAX_QMC_POINTS`` points). It sets how the standard
            error is estimated: with 16, the European call's intervals covered 92% at 95% (its
            scramble means are skewed); 32 cover as claimed. Without ``qmc`` it means nothing
            and is always ``DEFAULT_QMC_SCRAMBLES``.
        shared_memory: process workers write chunk results into
            ``multiprocessing.shared_memory`` instead of pickling them back; needs
            ``executor="processes"``.
        antithetic: options only: each simulation is an antithetic pair of paths (normals
            ``z`` and ``-z``), averaged. Costs two paths per simulation; pays where the
            payoff is close to monotone in the normals.
        control_variate: options only: the European price is corrected with the discounted
            terminal spot (mean ``S0 exp(-q T)``), the Asian price with the geometric-average
            Asian (closed form); the coefficient is estimated from the same run.
        method: ``"mc"`` (Monte Carlo simulation) or ``"fft"`` (portfolios only: the aggregate
            loss distribution on a grid, by the frequency's generating function applied to the
            discretised severity's Fourier transform; see :mod:`kernels._fft`). FFT runs on the
            ``numpy`` backend (scipy.fft) or ``jax``, in float64, in the calling thread; the
            Monte Carlo knobs (workers, executor, chunk_size, qmc, antithetic, control_variate,
            shared_memory) keep their defaults with it. Its error is a discretisation error
            estimate, not a standard error.
        discretisation: with ``method="fft"``, how severities are put on the grid: ``"moments"``
            (local moment matching, mean-preserving; the default) or ``"rounding"`` (mass
            dispersal); see :mod:`kernels._discretise`.

    Variance reduction (``qmc``, ``antithetic``, ``control_variate``) never changes what is
    estimated, only its standard error per simulation, so a tuner may change it like any
    other knob. :meth:`check_workload` rejects the combinations a workload has no estimator for.

    The default, ``Config()``, is numpy, one serial worker, float64, automatic
    chunks, pseudo-random: what a user gets without tuning.
    """

    backend: str = "numpy"
    workers: int = 1
    executor: str = "serial"
    precision: str = "float64"
    chunk_size: int | None = None
    qmc: bool = False
    qmc_scrambles: int = DEFAULT_QMC_SCRAMBLES
    shared_memory: bool = False
    antithetic: bool = False
    control_variate: bool = False
    method: str = "mc"
    discretisation: str = "moments"

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "backend", check_choice("Config", "backend", self.backend, backend_names()))
        set_(self, "executor", check_choice("Config", "executor", self.executor, EXECUTORS))
        set_(self, "precision", check_choice("Config", "precision", self.precision, PRECISIONS))
        set_(self, "workers", check_int("Config", "workers", self.workers, low=1, high=MAX_WORKERS))
        if self.chunk_size is not None:
            set_(self, "chunk_size", check_int("Config", "chunk_size", self.chunk_size, low=1, high=MAX_SIMS))
        scrambles = check_int("Config", "qmc_scrambles", self.qmc_scrambles, low=2, high=MAX_QMC_SCRAMBLES)
        for name in ("qmc", "shared_memory", "antithetic", "control_variate"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Config.{name} must be True or False, got {getattr(self, name)!r}")
        # Without qmc the scrambles mean nothing: one value, so that equal configs compare equal.
        set_(self, "qmc_scrambles", scrambles if self.qmc else DEFAULT_QMC_SCRAMBLES)
        if self.executor == "serial" and self.workers > 1:
            raise ValueError(
                f"Config.workers={self.workers} needs executor='threads', 'processes' or 'dask'; "
                "executor='serial' runs exactly one worker"
            )
        if self.executor == "dask":
            self._check_dask()
        if self.shared_memory and self.executor != "processes":
            raise ValueError(
                "Config.shared_memory=True needs executor='processes' "
                f"(got executor={self.executor!r}); threads already share memory"
            )
        set_(self, "method", check_choice("Config", "method", self.method, METHODS))
        set_(self, "discretisation",
             check_choice("Config", "discretisation", self.discretisation, DISCRETISATIONS))
        if self.method == "fft":
            self._check_fft()
        elif self.discretisation != "moments":
            raise ValueError(f"Config.discretisation={self.discretisation!r} applies to method='fft'; "
                             "Monte Carlo (method='mc') draws severities without a grid")

    def _check_dask(self) -> None:
        if self.shared_memory:
            raise ValueError("Config.shared_memory=True needs executor='processes'; executor='dask' workers run on "
                             "other hosts and send their chunks back")
        if self.backend in DASK_REJECTED_BACKENDS:
            raise ValueError(f"Config.backend={self.backend!r} does not run on executor='dask' (each worker process "
                             "would claim the accelerator); use backend 'numpy' or 'numba' with dask")

    def _check_fft(self) -> None:
        if self.backend not in FFT_BACKENDS:
            raise ValueError(f"Config.method='fft' runs on backend 'numpy' (scipy.fft) or 'jax', got "
                             f"backend={self.backend!r}")
        if self.precision != "float64":
            raise ValueError("Config.method='fft' computes the distribution in float64 (float32 loses the far "
                             f"tail's probabilities); got precision={self.precision!r}")
        mc_only = {"workers": 1, "executor": "serial", "chunk_size": None, "qmc": False, "shared_memory": False,
                   "antithetic": False, "control_variate": False}
        for name, default in mc_only.items():
            if getattr(self, name) != default:
                raise ValueError(f"Config.{name}={getattr(self, name)!r} applies to Monte Carlo (method='mc'); "
                                 f"with method='fft' leave it at {default!r}")

    def check_workload(self, workload: object) -> None:
        """Raise ``ValueError`` if this config has no estimator for ``workload``'s kind.

        Antithetic pairs and control variates are defined for the option workloads; a
        portfolio's losses have neither (its variance reduction is ``qmc``).
        """
        if self.method == "fft" and not isinstance(workload, Portfolio):
            raise ValueError(f"Config.method='fft' computes a Portfolio's aggregate loss distribution; a "
                             f"{type(workload).__name__} is priced by Monte Carlo (method='mc')")
        if isinstance(workload, Portfolio):
            for name in ("antithetic", "control_variate"):
                if getattr(self, name):
                    raise ValueError(
                        f"Config.{name}=True applies to option workloads (EuropeanOption, AsianOption); "
                        "a Portfolio has no such estimator, use qmc=True or the default"
                    )

    def check_for(self, n_sims: int) -> None:
        """Raise ``ValueError`` if this config cannot run ``n_sims`` simulations."""
        if self.workers > n_sims:
            raise ValueError(f"Config.workers={self.workers} is more than n_sims={n_sims}; use at most n_sims workers")
        if self.qmc and n_sims < 2 * self.qmc_scrambles:
            raise ValueError(
                f"Config.qmc=True with qmc_scrambles={self.qmc_scrambles} needs n_sims >= "
                f"{2 * self.qmc_scrambles}, got {n_sims}"
            )
        points = -(-n_sims // self.qmc_scrambles)
        if self.qmc and points > MAX_QMC_POINTS:
            raise ValueError(
                f"Config.qmc_scrambles={self.qmc_scrambles} splits n_sims={n_sims} into Sobol sequences of "
                f"{points} points, over the limit of {MAX_QMC_POINTS} (kernels.MAX_QMC_POINTS); use "
                f"qmc_scrambles >= {-(-n_sims // MAX_QMC_POINTS)} or fewer sims"
            )
        if self.chunk_size is not None:
            size = min(self.chunk_size, points) if self.qmc else self.chunk_size
            chunks = count_chunks(n_sims, size, qmc=self.qmc, scrambles=self.qmc_scrambles)
            if chunks > MAX_CHUNKS:
                raise ValueError(
                    f"Config.chunk_size={self.chunk_size} cuts n_sims={n_sims} into {chunks} chunks, over the "
                    f"limit of {MAX_CHUNKS} (kernels.MAX_CHUNKS); use chunk_size >= "
                    f"{-(-n_sims // (MAX_CHUNKS // 2))} or chunk_size=None"
                )

    def replace(self, **changes: Any) -> Config:
        """A copy with some knobs changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The knobs as a plain dict (JSON-safe)."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Config:
        """Build a Config from :meth:`to_dict` output; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Config field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)

    def label(self) -> str:
        """A short human-readable description, e.g. ``numba/threads x2/f32/chunk=65536/qmc/cv`` or ``fft/numpy``."""
        if self.method == "fft":
            return f"fft/{self.backend}" + ("/rounding" if self.discretisation == "rounding" else "")
        parts = [self.backend, f"{self.executor} x{self.workers}", "f32" if self.precision == "float32" else "f64"]
        parts.append(f"chunk={self.chunk_size}" if self.chunk_size else "chunk=auto")
        if self.qmc:
            parts.append("qmc")
        if self.antithetic:
            parts.append("anti")
        if self.control_variate:
            parts.append("cv")
        if self.shared_memory:
            parts.append("shm")
        return "/".join(parts)
