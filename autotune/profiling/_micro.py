"""Micro-benchmarks that profile a machine, and storing their results as a profile row.

Each figure is a median over repeats, taken after one warm-up, timed with ``time.perf_counter``.
A benchmark that fails (numba or JAX missing, a broken process start) leaves its figure None and
its reason in ``results["errors"]``; the other figures are still measured.
"""

from __future__ import annotations

import importlib.metadata
import logging
import math
import multiprocessing as mp
import numbers
import os
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..features import machine_fingerprint
from ..storage import ResultsLog, Storage, open_storage

__all__ = ["FIGURES", "ProfileResult", "profile_machine", "run_micro_benchmarks"]

logger = logging.getLogger(__name__)

#: The measured figures of :func:`run_micro_benchmarks`, with their units.
FIGURES: dict[str, str] = {
    "normal_draws_per_s_1core": "draws/s",
    "normal_draws_per_s_all": "draws/s",
    "exp_per_s": "elements/s",
    "memory_bandwidth_gb_s": "GB/s",
    "process_spawn_s": "s",
    "numba_compile_s": "s",
    "jax_compile_s": "s",
}

DRAW_BLOCK = 1 << 20  # normal draws per generator call (8 MiB of float64)
EXP_BLOCK = 1 << 16  # cache-resident, so exp_per_s measures arithmetic rather than memory
_BARRIER_TIMEOUT_S = 60.0
_salt = random.Random()  # makes every JAX program unique, so no compilation cache (even on disk) can hit


@dataclass(frozen=True)
class _Plan:
    repeats: int  # timed repeats of the throughput benchmarks
    target_s: float  # wall time of one timed repeat
    memory_mib: int  # size of each of the three bandwidth arrays
    scaling_budget_s: float  # thread_scaling takes fewer repeats (>= 3) on many cores to stay near this
    spawn_repeats: int
    compile_repeats: int


_QUICK = _Plan(repeats=3, target_s=0.02, memory_mib=16, scaling_budget_s=1.0, spawn_repeats=3, compile_repeats=1)
_FULL = _Plan(repeats=7, target_s=0.05, memory_mib=64, scaling_budget_s=15.0, spawn_repeats=7, compile_repeats=3)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return os.cpu_count() or 1


def _median_positive(values: list[float]) -> float:
    value = float(statistics.median(values))
    if not (math.isfinite(value) and value > 0):
        raise RuntimeError(f"measured a non-positive or non-finite value {value!r}")
    return value


def _rate(step: Callable[[], None], work: float, plan: _Plan) -> float:
    """Median of ``work`` units per second over repeats of ``step``, each repeat ~``plan.target_s`` long."""
    step()  # warm-up
    start = time.perf_counter()
    step()
    calls = max(1, min(100_000, round(plan.target_s / max(time.perf_counter() - start, 1e-9))))
    rates = []
    for _ in range(plan.repeats):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        rates.append(calls * work / (time.perf_counter() - start))
    return _median_positive(rates)


def _draws_1core(plan: _Plan) -> float:
    gen = np.random.Generator(np.random.PCG64(12345))
    out = np.empty(DRAW_BLOCK)
    return _rate(lambda: gen.standard_normal(out=out), DRAW_BLOCK, plan)


def _thread_scaling(threads: int, plan: _Plan) -> list[dict[str, float]]:
    """Total draws per second with k = 1..threads threads, each with its own generator and buffer.

    NumPy releases the GIL while a bit generator fills a buffer, so the threads run in parallel.
    """
    gens = [np.random.Generator(np.random.PCG64(seed)) for seed in range(threads)]
    bufs = [np.empty(DRAW_BLOCK) for _ in range(threads)]
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="autotune-profile") as pool:

        def round_(k: int, calls: int) -> float:
            # k tasks on a pool of >= k threads always land on k distinct threads, so the barrier opens.
            barrier = threading.Barrier(k)

            def work(i: int) -> tuple[float, float]:
                barrier.wait(timeout=_BARRIER_TIMEOUT_S)
                start = time.perf_counter()
                for _ in range(calls):
                    gens[i].standard_normal(out=bufs[i])
                return start, time.perf_counter()

            spans = list(pool.map(work, range(k)))
            return k * calls * DRAW_BLOCK / (max(e for _, e in spans) - min(s for s, _ in spans))

        round_(threads, 1)  # warm-up: starts every thread and touches every buffer
        calls = max(1, round(plan.target_s * round_(1, 1) / DRAW_BLOCK))
        repeats = max(3, min(plan.repeats, int(plan.scaling_budget_s / (threads * plan.target_s))))
        rates = [_median_positive([round_(k, calls) for _ in range(repeats)]) for k in range(1, threads + 1)]
    return [{"threads": k, "draws_per_s": rate, "efficiency": rate / (k * rates[0])}
            for k, rate in enumerate(rates, start=1)]


def _exp_rate(plan: _Plan) -> float:
    x = np.random.default_rng(7).uniform(-5.0, 5.0, EXP_BLOCK)
    y = np.empty_like(x)
    return _rate(lambda: np.exp(x, out=y), EXP_BLOCK, plan)


def _memory_bandwidth(plan: _Plan) -> float:
    """GB/s (1e9 bytes) moved by a STREAM-like copy and triad on one thread, counting every pass."""
    n = plan.memory_mib * (1 << 20) // 8
    a, b, c = np.full(n, 1.0), np.full(n, 2.0), np.full(n, 0.5)  # written once so the pages exist
    scalar = 3.0

    def step() -> None:
        np.copyto(a, b)  # copy: read b, write a
        np.multiply(c, scalar, out=a)  # triad a = b + s*c in two passes: read c, write a ...
        np.add(a, b, out=a)  # ... then read a and b, write a

    return _rate(step, (16 + 16 + 24) * n, plan) / 1e9


def _start_method() -> str:
    # The same choice as the process executor: forking a process that runs numba or JAX threads can deadlock.
    return "forkserver" if sys.platform.startswith("linux") or sys.platform == "darwin" else "spawn"


def _process_spawn(plan: _Plan) -> float:
    """Median seconds to start a worker process, run a trivial function there and get its result back."""
    ctx = mp.get_context(_start_method())

    def once() -> float:
        start = time.perf_counter()
        with ProcessPoolExecutor(max_workers=1, mp_context=ctx) as pool:
            pid = pool.submit(os.getpid).result(timeout=120)
            elapsed = time.perf_counter() - start
        if pid == os.getpid():
            raise RuntimeError("the worker reported this process's id: no new process was started")
        return elapsed

    once()  # warm-up: starts the fork server, a one-off cost of the first process pool
    return _median_positive([once() for _ in range(plan.spawn_repeats)])


def _fresh_sum_exp() -> Callable[[np.ndarray], float]:
    def sum_exp(x: np.ndarray) -> float:
        total = 0.0
        for i in range(x.shape[0]):
            total += math.exp(x[i])
        return total

    return sum_exp


def _numba_compile(plan: _Plan) -> float:
    """Median seconds to compile a small fresh ``numba.njit`` function (first call minus a warm call)."""
    try:
        import numba
    except Exception as exc:
        raise ImportError(f"numba could not be imported: {exc}") from exc
    x = np.linspace(-1.0, 1.0, 4096)

    def once() -> float:
        fn = numba.njit(_fresh_sum_exp())  # a new dispatcher, no cache=True: it always compiles
        start = time.perf_counter()
        fn(x)
        first = time.perf_counter() - start
        start = time.perf_counter()
        fn(x)
        return first - (time.perf_counter() - start)

    once()  # warm-up: LLVM's one-off initialisation is not a per-function cost
    return _median_positive([once() for _ in range(plan.compile_repeats)])


def _jax_compile(plan: _Plan) -> float:
    """Median seconds of ``jax.jit(f).lower(x).compile()`` for a small fresh function."""
    try:
        import jax
        import jax.numpy as jnp
    except Exception as exc:
        raise ImportError(f"jax could not be imported: {exc}") from exc
    spec = jax.ShapeDtypeStruct((4096,), jnp.float32)

    def once() -> float:
        scale = 1.0 + _salt.random()  # baked into the program: a new closure and a new program every time

        def f(x: jax.Array) -> jax.Array:
            return jnp.sum(jnp.exp(x * scale))

        start = time.perf_counter()
        jax.jit(f).lower(spec).compile()
        return time.perf_counter() - start

    once()  # warm-up: backend start-up is not a per-function cost
    return _median_positive([once() for _ in range(plan.compile_repeats)])


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in ("numpy", "numba", "jax"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _check_args(quick: object, max_workers: object) -> None:
    if not isinstance(quick, bool):
        raise ValueError(f"quick must be True or False, got {quick!r}")
    if max_workers is not None and (isinstance(max_workers, bool) or not isinstance(max_workers, numbers.Integral)
                                    or max_workers < 1):
        raise ValueError(f"max_workers must be a positive int (threads to use) or None for all usable cores, "
                         f"got {max_workers!r}")


def run_micro_benchmarks(*, quick: bool = False, max_workers: int | None = None) -> dict[str, Any]:
    """Runs the micro-benchmarks on this machine and returns a JSON-safe dict.

    Keys: the figures of :data:`FIGURES`; ``thread_scaling`` (one ``{"threads", "draws_per_s",
    "efficiency"}`` per thread count k = 1..N, efficiency = rate_k / (k * rate_1)); ``usable_cores``
    (this process's CPU affinity); ``quick``; ``process_start_method``; ``versions`` (numpy, numba,
    jax) and ``errors`` (figure name -> why it is None; empty when all ran). Compile times exclude
    imports and one-off start-up (a warm-up runs first). ``memory_bandwidth_gb_s`` is one thread's;
    the quick run's smaller arrays may partly fit in a large last-level cache and overstate it.

    Args:
        quick: fewer repeats and smaller arrays: 5-10 s on two cores (about 2 s of micro-benchmarks, the
            rest importing and compiling numba and JAX) instead of up to ~30 s.
        max_workers: the most threads N for ``thread_scaling`` and ``normal_draws_per_s_all``;
            None uses every usable core.

    Raises:
        ValueError: ``quick`` is not a bool, or ``max_workers`` is not a positive int or None.
    """
    _check_args(quick, max_workers)
    plan = _QUICK if quick else _FULL
    usable = _usable_cores()
    threads = usable if max_workers is None else min(usable, int(max_workers))
    errors: dict[str, str] = {}

    def guarded(name: str, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        try:
            value = fn()
        except Exception as exc:  # one failing benchmark must not cost the whole profile
            errors[name] = f"{type(exc).__name__}: {exc}"
            logger.warning("micro-benchmark %s failed: %s", name, errors[name])
            return None
        logger.debug("micro-benchmark %s took %.2f s", name, time.perf_counter() - start)
        return value

    results: dict[str, Any] = {"usable_cores": usable, "quick": quick}
    results["normal_draws_per_s_1core"] = guarded("normal_draws_per_s_1core", lambda: _draws_1core(plan))
    scaling = guarded("thread_scaling", lambda: _thread_scaling(threads, plan))
    results["normal_draws_per_s_all"] = scaling[-1]["draws_per_s"] if scaling else None
    if scaling is None:
        errors["normal_draws_per_s_all"] = "taken from thread_scaling, which failed"
    results["exp_per_s"] = guarded("exp_per_s", lambda: _exp_rate(plan))
    results["memory_bandwidth_gb_s"] = guarded("memory_bandwidth_gb_s", lambda: _memory_bandwidth(plan))
    results["process_spawn_s"] = guarded("process_spawn_s", lambda: _process_spawn(plan))
    results["process_start_method"] = _start_method()
    results["numba_compile_s"] = guarded("numba_compile_s", lambda: _numba_compile(plan))
    results["jax_compile_s"] = guarded("jax_compile_s", lambda: _jax_compile(plan))
    results["thread_scaling"] = scaling
    results["versions"] = _versions()
    results["errors"] = errors
    return results


def _fmt(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3e}" if abs(value) >= 1e5 else f"{value:.4g}"
    return str(value)


@dataclass(frozen=True)
class ProfileResult:
    """The outcome of :func:`profile_machine`.

    Attributes:
        machine_id: the fingerprint's id (the key of the stored machine and profile rows).
        results: the JSON-safe dict of :func:`run_micro_benchmarks`, as stored.
        seconds: wall time of the profiling (fingerprint, benchmarks and storing).
    """

    machine_id: str
    results: dict[str, Any]
    seconds: float

    def table(self) -> str:
        """A plain-text summary: one ``name  value  unit`` line per figure, then versions and errors."""
        r = self.results
        rows: list[tuple[str, str, str]] = [("usable_cores", _fmt(r.get("usable_cores")), "cores"),
                                            ("quick", _fmt(r.get("quick")), "")]
        rows += [(name, _fmt(r.get(name)), unit) for name, unit in FIGURES.items()]
        rows.append(("process_start_method", _fmt(r.get("process_start_method")), ""))
        for point in r.get("thread_scaling") or ():
            rows.append((f"thread_scaling[{point['threads']}]", _fmt(point["draws_per_s"]),
                         f"draws/s (efficiency {point['efficiency']:.2f})"))
        rows += [(f"versions.{name}", _fmt(v), "") for name, v in (r.get("versions") or {}).items()]
        rows += [(f"errors.{name}", why, "") for name, why in (r.get("errors") or {}).items()]
        width = max(len(name) for name, _, _ in rows)
        vwidth = max(len(value) for _, value, _ in rows)
        lines = [f"machine {self.machine_id} (profiled in {self.seconds:.1f} s)",
                 f"{'name':<{width}}  {'value':>{vwidth}}  unit"]
        lines += [f"{name:<{width}}  {value:>{vwidth}}  {unit}".rstrip() for name, value, unit in rows]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict of the three fields."""
        return {"machine_id": self.machine_id, "results": self.results, "seconds": self.seconds}


def profile_machine(
    store: Storage | str | None = None, *, quick: bool = False, max_workers: int | None = None
) -> ProfileResult:
    """Fingerprints this machine, runs the micro-benchmarks and stores them as a profile row.

    The machine row is inserted or refreshed from :func:`~autotune.features.machine_fingerprint`,
    then the results of :func:`run_micro_benchmarks` are added with ``store.add_profile``.

    Args:
        store: a :class:`~autotune.storage.Storage` (left open), or a URL for
            :func:`~autotune.storage.open_storage` (None: its default), opened and closed here.
        quick, max_workers: see :func:`run_micro_benchmarks`.

    Raises:
        ValueError: bad ``store``, ``quick`` or ``max_workers``.
        StorageError: the database cannot be opened or written.
    """
    _check_args(quick, max_workers)
    if store is not None and not isinstance(store, (Storage, str)):
        raise ValueError(f"store must be a Storage, a database URL or None, got {type(store).__name__}")
    start = time.perf_counter()
    own = not isinstance(store, Storage)
    db = open_storage(store) if own else store  # opened first: a bad URL fails before the benchmarks run
    try:
        machine = machine_fingerprint()
        results = run_micro_benchmarks(quick=quick, max_workers=max_workers)
        ResultsLog(db, machine).register_machine()
        profile_id = db.add_profile(machine.machine_id, results)
    finally:
        if own:
            db.close()
    seconds = time.perf_counter() - start
    logger.info("stored profile %d of machine %s (%.1f s)", profile_id, machine.machine_id, seconds)
    return ProfileResult(machine_id=machine.machine_id, results=results, seconds=seconds)
