"""What a run needs: its chunk size, its peak memory, and whether float32 and this process can hold it.

:func:`check_run` is called by :func:`kernels.simulate` before anything is
planned or started. Its memory check compares :func:`estimate_memory` with
:func:`memory_limit`, which is, in order of precedence: the value given to
:func:`set_memory_limit`; the ``KERNELS_MEMORY_LIMIT`` environment variable
(bytes, or a number with a binary suffix such as ``"512M"``, ``"8GiB"``); the
memory the machine has available now (``psutil.virtual_memory().available``).
The machine's available memory is read at most once per ``AVAILABLE_TTL_S`` for runs that need
at most ``1 / AVAILABLE_MARGIN`` of the last reading (asking psutil costs 0.1-0.2 ms, a few per cent
of a 1e6-path European or of a small run to a target, which asks before every batch); a larger run
reads it afresh.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import re
import time
from typing import NamedTuple

from ._chunks import EUROPEAN_BLOCK, auto_chunk_size, bytes_per_sim, count_chunks
from ._config import Config
from ._estimators import output_shape
from ._limits import FLOAT32_LIMIT, MAX_SIMS, TAIL_Z
from ._validation import check_int
from ._workloads import EuropeanOption, Portfolio, Workload, workload_kind

__all__ = ["MEMORY_LIMIT_ENV", "check_run", "estimate_memory", "memory_limit", "resolve_chunk_size",
           "set_memory_limit"]

MEMORY_LIMIT_ENV = "KERNELS_MEMORY_LIMIT"
# Python objects per planned chunk: the Chunk, its SeedSequence(s), a future.
PLAN_BYTES_PER_CHUNK = 1024
# Whole-sample temporaries of the portfolio reduction (np.partition's copy, the excess over VaR).
REDUCE_COPIES = 2
# The available-memory reading is reused for this long by runs that need at most 1/AVAILABLE_MARGIN of it.
AVAILABLE_TTL_S = 1.0
AVAILABLE_MARGIN = 8
_available: tuple[float, int] | None = None  # (time.monotonic(), bytes) of the last reading

_limit: int | None = None
_UNITS = {"": 1, "k": 2**10, "m": 2**20, "g": 2**30, "t": 2**40}


class MemoryEstimate(NamedTuple):
    """Peak bytes of a run, by what holds them."""

    working: int  # chunks in flight: chunk size x bytes per sim x workers
    results: int  # the run's result buffer, its copies, and the reduction's temporaries
    plan: int  # the chunk plan

    @property
    def total(self) -> int:
        return self.working + self.results + self.plan


def resolve_chunk_size(workload: Workload, n_sims: int, config: Config) -> int:
    """The chunk size a run uses: ``config.chunk_size`` or the automatic one, at most ``n_sims``.

    With QMC no chunk spans two scrambles, so larger sizes would only pad.
    """
    size = min(config.chunk_size or auto_chunk_size(workload, n_sims), n_sims)
    if config.qmc:
        size = min(size, -(-n_sims // config.qmc_scrambles))
    return size


def memory_parts(workload: Workload, n_sims: int, config: Config) -> MemoryEstimate:
    """:func:`estimate_memory`, broken down."""
    chunk = resolve_chunk_size(workload, n_sims, config)
    chunks = count_chunks(n_sims, chunk, qmc=config.qmc, scrambles=config.qmc_scrambles)
    itemsize = 4 if config.precision == "float32" else 8
    in_flight = 1 if config.executor == "serial" else config.workers
    if config.executor == "dask":  # the chunks run in the cluster's workers, whose memory Dask manages
        in_flight = 0
    held = min(chunk, EUROPEAN_BLOCK) if isinstance(workload, EuropeanOption) else chunk  # values a block at a time
    working = in_flight * held * bytes_per_sim(workload, itemsize) * (2 if config.antithetic else 1)
    # Process (and Dask) workers without shared memory pickle their parts back: a second copy of the results.
    copies = 2 if config.executor in ("processes", "dask") and not config.shared_memory else 1
    results = 8 * math.prod(output_shape(workload, n_sims, chunks)) * copies
    if isinstance(workload, Portfolio):  # VaR/TVaR keep and sort every annual loss
        results += 8 * n_sims * REDUCE_COPIES
    return MemoryEstimate(int(working), int(results), PLAN_BYTES_PER_CHUNK * chunks)


def estimate_memory(workload: Workload, n_sims: int, config: Config) -> int:
    """Peak bytes of working memory of ``simulate(workload, n_sims, config)``.

    ``workers x chunk_size x bytes_per_sim(workload, itemsize)`` for the chunks in
    flight (one for the serial executor), plus the float64 result buffer (one
    statistics row per chunk for options, every annual loss for portfolios),
    twice with process (or Dask) workers that pickle their parts back, plus for portfolios
    ``REDUCE_COPIES`` whole-sample temporaries of the VaR/TVaR reduction, plus
    ``PLAN_BYTES_PER_CHUNK`` per chunk; with ``executor="dask"`` the chunks in flight are the
    cluster's workers' memory, not this process's. It counts arrays, not the interpreters of
    worker processes, and follows the numpy backend (the others need no more).
    """
    workload_kind(workload)
    n_sims = check_int("", "n_sims", n_sims, low=2, high=MAX_SIMS)
    if not isinstance(config, Config):
        raise ValueError(f"config must be a kernels.Config, got {type(config).__name__}")
    return memory_parts(workload, n_sims, config).total


def _parse_bytes(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*", text, re.IGNORECASE)
    if m is None or float(m.group(1)) <= 0:
        raise ValueError(f"{MEMORY_LIMIT_ENV} must be a positive number of bytes such as 8589934592, '512M' "
                         f"or '8GiB', got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2).lower()])


def set_memory_limit(nbytes: int | None) -> None:
    """Set the memory a run may use, in bytes, for this process; ``None`` restores the default.

    The default is ``KERNELS_MEMORY_LIMIT`` when set, else the machine's available memory.
    """
    global _limit
    _limit = None if nbytes is None else check_int("set_memory_limit", "nbytes", nbytes, low=1)


def _limit_and_source(need: int | None = None) -> tuple[int, str]:
    if _limit is not None:
        return _limit, "set by kernels.set_memory_limit()"
    env = os.environ.get(MEMORY_LIMIT_ENV, "").strip()
    if env:
        return _parse_bytes(env), f"from {MEMORY_LIMIT_ENV}"
    return _available_memory(need), "the machine's available memory"


def _available_memory(need: int | None) -> int:
    """The machine's available memory: the last reading when recent and ``need`` is far below it."""
    global _available
    now = time.monotonic()
    last = _available
    if need is not None and last is not None and now - last[0] < AVAILABLE_TTL_S and need * AVAILABLE_MARGIN <= last[1]:
        return last[1]
    import psutil

    value = int(psutil.virtual_memory().available)
    _available = (now, value)
    return value


def memory_limit() -> int:
    """The bytes a run may use now (see the module docstring for where the value comes from)."""
    return _limit_and_source()[0]


def _fmt(n: float) -> str:
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


def _check_memory(workload: Workload, n_sims: int, config: Config) -> None:
    parts = memory_parts(workload, n_sims, config)
    limit, source = _limit_and_source(parts.total)
    if parts.total <= limit:
        return
    chunk = resolve_chunk_size(workload, n_sims, config)
    in_flight = 1 if config.executor == "serial" else config.workers
    if config.chunk_size is not None and parts.working > parts.results + parts.plan:
        what = f"Config.chunk_size={config.chunk_size} ({in_flight} chunk(s) in flight)"
        fix = "lower Config.chunk_size or Config.workers"
    else:  # automatic chunks are as small as MAX_CHUNKS allows, or the results dominate
        what = f"n_sims={n_sims} (chunks of {chunk} sims, {in_flight} in flight)"
        fix = "lower n_sims" + (" or Config.workers" if in_flight > 1 else "")
    raise ValueError(
        f"{what}: the run needs about {_fmt(parts.total)} of memory ({_fmt(parts.working)} for chunks in flight, "
        f"{_fmt(parts.results)} for results, {_fmt(parts.plan)} for the plan), over the limit of {_fmt(limit)} "
        f"({source}); {fix}, or raise the limit with kernels.set_memory_limit() or {MEMORY_LIMIT_ENV}"
    )


def float32_magnitude(workload: Workload) -> float:
    """The largest magnitude a run's float32 arithmetic plausibly meets (draws, paths, payoffs)."""
    if isinstance(workload, Portfolio):  # claim draws and payments; sums are float64
        return max(min(g.severity.plausible_max(), g.terms.limit) for g in workload.groups)
    opt = workload
    growth = abs(opt.r - opt.q) * opt.T + TAIL_Z * opt.sigma * math.sqrt(opt.T)
    level = max(opt.S0, opt.K, 1.0) * math.exp(growth) * max(1.0, math.exp(-opt.r * opt.T))
    return level * (1 + TAIL_Z * math.sqrt(opt.T) + opt.sigma * opt.T)  # pathwise vega's factor


def check_run(workload: Workload, n_sims: int, config: Config) -> None:
    """Raise ``ValueError`` if this process, float32 or the machine's memory cannot run it."""
    if config.executor == "processes" and mp.current_process().daemon:
        raise ValueError(
            "Config.executor='processes' cannot start worker processes from a daemonic process (such as a "
            "multiprocessing.Pool worker), which may not have children; use executor='threads' or 'serial'"
        )
    if config.precision == "float32":
        magnitude = float32_magnitude(workload)
        if magnitude > FLOAT32_LIMIT:
            raise ValueError(
                f"Config.precision='float32' cannot hold this workload's values: they plausibly reach about "
                f"{magnitude:g}, over the float32 limit of {FLOAT32_LIMIT:g} (kernels.FLOAT32_LIMIT); "
                "use precision='float64'"
            )
    _check_memory(workload, n_sims, config)
