"""The measurement harness: honest timings of one config, and the accuracy gate."""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing as mp
import os
import statistics
import tempfile
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import psutil

from kernels import (
    MAX_SIMS,
    Config,
    SimulationResult,
    Workload,
    adopt_backend_registry,
    backend_registry,
    check_int,
    check_real,
    dask_scheduler_address,
    shutdown_dask,
    shutdown_pools,
    simulate,
    use_dask,
    worker_context,
    workload_kind,
)

from .._outcome import Outcome
from ._record import Measurement

__all__ = [
    "DEFAULT_TIMEOUT_S", "MeasureOptions", "accuracy_z", "check_options", "compare_configs", "measure",
    "reference_result",
]

log = logging.getLogger(__name__)

# Seed offset of the reference run, so that it is independent of the candidate's runs.
_REFERENCE_SEED_OFFSET = 1_000_003


#: Default limit for measuring one config in isolation (seconds).
DEFAULT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class MeasureOptions:
    """How one config is measured.

    Args:
        warmup: untimed runs first (>= 1); the first one is timed apart as ``first_call_s``.
        min_repeats, max_repeats: timed steady-state runs; repeats stop once ``min_total_s`` of
            steady-state time is reached (at least ``min_repeats``, at most ``max_repeats``).
        min_total_s: steady-state time to accumulate before stopping.
        isolate: measure in a separate process (the default), so that a crash or out-of-memory
            kill is recorded as FAILED and a hang as TIMED_OUT, and the caller goes on.
            ``False`` measures in this process: faster, but a hang or crash of a config is the
            caller's.
        timeout_s: limit for the whole measurement of one config (> 0, or None for no limit).
            With ``isolate`` the process is killed at the limit; without it, a config whose
            first call alone exceeds the limit is recorded as TIMED_OUT and not repeated.
        accuracy_k: the accuracy gate: reject a config whose estimates differ from the
            reference by more than ``k`` combined standard errors.
        seed: seed of the timed runs (an integer in [0, 2**63)).
    """

    warmup: int = 1
    min_repeats: int = 3
    max_repeats: int = 15
    min_total_s: float = 0.3
    isolate: bool = True
    timeout_s: float | None = DEFAULT_TIMEOUT_S
    accuracy_k: float = 4.0
    seed: int = 2024

    def __post_init__(self) -> None:
        check_int("MeasureOptions", "warmup", self.warmup, low=1, high=1000)
        check_int("MeasureOptions", "min_repeats", self.min_repeats, low=1, high=10_000)
        check_int("MeasureOptions", "max_repeats", self.max_repeats, low=self.min_repeats, high=10_000)
        check_real("MeasureOptions", "min_total_s", self.min_total_s, low=0)
        check_real("MeasureOptions", "accuracy_k", self.accuracy_k, low=0, low_open=True)
        check_int("MeasureOptions", "seed", self.seed, low=0, high=2**63 - 1)
        if not isinstance(self.isolate, bool):
            raise ValueError(f"MeasureOptions.isolate must be True or False, got {self.isolate!r}")
        if self.timeout_s is not None:
            check_real("MeasureOptions", "timeout_s", self.timeout_s, low=0, low_open=True)


def check_options(options: object) -> MeasureOptions:
    """``options`` if it is a :class:`MeasureOptions`, the defaults if None; else a ValueError naming it."""
    if options is None:
        return MeasureOptions()
    if not isinstance(options, MeasureOptions):
        raise ValueError(f"measure_options must be an autotune.MeasureOptions or None, got {options!r}")
    return options


def reference_result(workload: Workload, n_sims: int, seed: int = 2024) -> SimulationResult:
    """The reference for the accuracy gate: float64, pseudo-random, numpy, same ``n_sims``."""
    return simulate(workload, n_sims, Config(), seed=seed + _REFERENCE_SEED_OFFSET)


def _t_tolerance(k: float, dof: int | None) -> float:
    if dof is None:
        return k
    from scipy import stats  # imported on first use: it takes about a second

    return float(stats.t.ppf(1 - stats.norm.sf(k), dof))


def accuracy_z(
    estimates: dict[str, float], errors: dict[str, float], reference: SimulationResult, config: Config, k: float
) -> tuple[float, bool]:
    """Largest normalised difference from the reference over all shared estimates, and whether it passes.

    Each difference is divided by the combined standard error. With QMC the mean's
    (or price's) error comes from ``qmc_scrambles`` replicates, so its threshold is
    the Student-t multiple with the same false-alarm rate as ``k`` normal errors.
    """
    worst, passed = 0.0, True
    for name, value in estimates.items():
        if name not in reference.standard_errors or name not in errors:
            continue
        se = math.hypot(errors[name], reference.standard_errors[name])
        diff = abs(value - reference.estimates[name])
        if not math.isfinite(value):
            return math.inf, False
        z = diff / se if se > 0 else (0.0 if diff == 0 else math.inf)
        dof = config.qmc_scrambles - 1 if config.qmc and name in ("price", "mean", "geometric_price") else None
        scaled = z * k / _t_tolerance(k, dof)
        worst = max(worst, scaled)
        passed &= scaled <= k
    return worst, passed


class _PeakRSS:
    """Samples the resident memory of this process and its children while a run is going."""

    def __init__(self, interval: float = 0.005) -> None:
        self._proc = psutil.Process()
        self._interval = interval
        self._stop = threading.Event()
        self.baseline = self._rss()
        self.peak = self.baseline
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _rss(self) -> int:
        total = self._proc.memory_info().rss
        for child in self._proc.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> _PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())


def _failed(config: Config, n_sims: int, outcome: Outcome, error: str) -> Measurement:
    return Measurement(config=config, outcome=outcome, n_sims=n_sims, error=error)


def _measure_here(workload: Workload, n_sims: int, config: Config, options: MeasureOptions) -> Measurement:
    """Time ``config`` in this process. Exceptions from the kernel become FAILED."""
    try:
        start = time.perf_counter()
        with _PeakRSS() as mem:
            result = simulate(workload, n_sims, config, seed=options.seed)
        first_call = time.perf_counter() - start
        peak = max(mem.peak - mem.baseline, 0)
        if options.timeout_s is not None and first_call > options.timeout_s:
            return replace(_failed(config, n_sims, Outcome.TIMED_OUT,
                                   f"first call took {first_call:.2f} s, over the {options.timeout_s:g} s limit"),
                           first_call_s=first_call)
        for _ in range(options.warmup - 1):
            simulate(workload, n_sims, config, seed=options.seed)
        samples: list[float] = []
        while len(samples) < options.max_repeats:
            t0 = time.perf_counter()
            result = simulate(workload, n_sims, config, seed=options.seed)
            samples.append(time.perf_counter() - t0)
            if len(samples) >= options.min_repeats and sum(samples) >= options.min_total_s:
                break
    except Exception as exc:  # a failing config is a measurement outcome, not the end of tuning
        log.info("config %s failed: %s", config.label(), exc)
        return _failed(config, n_sims, Outcome.FAILED, f"{type(exc).__name__}: {exc}")
    q1, q3 = np.percentile(samples, [25, 75])
    return Measurement(
        config=config, outcome=Outcome.COMPLETE, n_sims=n_sims,
        steady_s=float(statistics.median(samples)), iqr_s=float(q3 - q1), samples=tuple(samples),
        first_call_s=first_call, peak_memory_bytes=peak,
        estimates=dict(result.estimates), standard_errors=dict(result.standard_errors),
    )


def _child(
    conn, paths: dict[str, str], log_path: str, workload: Workload, n_sims: int, config: Config,
    options: MeasureOptions, dask_address: str | None = None,
) -> None:
    # What the config prints (a crash's last words, its workers' warnings) goes to a file the parent
    # reads on failure, not to the user's terminal.
    with open(log_path, "ab", buffering=0) as out:
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
    try:
        adopt_backend_registry(paths)
        if dask_address is not None:  # the parent's cluster (its client does not cross processes)
            use_dask(dask_address)
        conn.send(_measure_here(workload, n_sims, config, options))
    except BaseException:
        conn.send(_failed(config, n_sims, Outcome.FAILED, traceback.format_exc(limit=3)))
    finally:
        conn.close()
        shutdown_pools()  # the measured config's worker pool must not hold this process open
        shutdown_dask()


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        procs = [*parent.children(recursive=True), parent]
    except psutil.Error:
        return
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(procs, timeout=5)


# Set while this thread starts a measurement process.
def _check_not_importing_main() -> None:
    """Refuse to measure from a child that is importing a main script (it would start measurements again)."""
    if getattr(mp.current_process(), "_inheriting", False):
        raise RuntimeError(
            "autotune: a tuning measurement was started while this child process was importing the main "
            "script of its parent, i.e. the script calls autotune at top level and a child process is "
            "running it again. Put the script's calls under 'if __name__ == \"__main__\":'."
        )


def _measure_isolated(workload: Workload, n_sims: int, config: Config, options: MeasureOptions) -> Measurement:
    _check_not_importing_main()
    # The library's context: its processes never re-import the user's main script, so an unguarded
    # script that calls autotune.tune runs once (kernels.worker_context).
    ctx = worker_context()
    # Takes effect if the fork server is not running yet: each measurement process then starts with
    # the harness and numba (a second per process otherwise) already imported.
    if hasattr(ctx, "set_forkserver_preload"):
        ctx.set_forkserver_preload(["numpy", "scipy.stats", "numba", "kernels", __name__])
    recv, send = ctx.Pipe(duplex=False)
    fd, log_path = tempfile.mkstemp(prefix="autotune-measure-", suffix=".log")
    os.close(fd)
    dask_address = dask_scheduler_address() if config.executor == "dask" else None
    args = (send, backend_registry(), log_path, workload, n_sims, config, options, dask_address)
    proc = ctx.Process(target=_child, args=args, name="autotune-measure")
    proc.start()
    send.close()
    try:
        if recv.poll(options.timeout_s):
            try:
                result = recv.recv()
            except EOFError:
                result = None
        else:
            result = None
            if proc.is_alive():
                _kill_tree(proc.pid)
                return _failed(config, n_sims, Outcome.TIMED_OUT, f"killed after the {options.timeout_s:g} s limit")
        proc.join(timeout=10)
        if result is None:
            code = proc.exitcode
            why = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            hint = " (killed: out of memory?)" if code == -9 else ""
            said = _tail(log_path)
            return _failed(config, n_sims, Outcome.FAILED,
                           f"measurement process died with {why}{hint}" + (f"; it printed: {said}" if said else ""))
        return result
    finally:
        if proc.is_alive():
            _kill_tree(proc.pid)
        recv.close()
        with contextlib.suppress(OSError):
            os.unlink(log_path)


def _tail(path: str, limit: int = 2000) -> str:
    """The last ``limit`` characters a measurement process printed."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(f.tell() - limit, 0))
            return f.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


def measure(
    workload: Workload,
    n_sims: int,
    config: Config,
    *,
    reference: SimulationResult | None = None,
    options: MeasureOptions | None = None,
) -> Measurement:
    """Measure one config: warm-up, compile time apart, adaptive repeats, accuracy gate.

    Args:
        workload, n_sims, config: what to run, and how.
        reference: the accuracy-gate reference (see :func:`reference_result`); None skips the gate.
        options: see :class:`MeasureOptions`.

    Returns:
        A :class:`Measurement`; failures, time-outs and gate rejections are outcomes, not exceptions.
    """
    workload_kind(workload)
    n_sims = check_int("", "n_sims", n_sims, low=2, high=MAX_SIMS)
    if not isinstance(config, Config):
        raise ValueError(f"config must be a kernels.Config, got {config!r}")
    if reference is not None and not isinstance(reference, SimulationResult):
        raise ValueError(f"reference must be a kernels.SimulationResult (see reference_result) or None, "
                         f"got {reference!r}")
    options = check_options(options)
    if options.isolate:
        m = _measure_isolated(workload, n_sims, config, options)
    else:
        m = _measure_here(workload, n_sims, config, options)
    if m.outcome is not Outcome.COMPLETE or reference is None:
        return m
    z, passed = accuracy_z(m.estimates, m.standard_errors, reference, config, options.accuracy_k)
    if passed:
        return replace(m, accuracy_z=z)
    why = f"estimates differ from the reference by {z:.1f} standard errors (limit {options.accuracy_k:g})"
    return replace(m, outcome=Outcome.REJECTED, accuracy_z=z, error=why)


def compare_configs(
    workload: Workload,
    n_sims: int,
    configs: Sequence[Config],
    *,
    rounds: int = 5,
    min_sample_s: float = 0.0,
    seed: int = 2024,
) -> dict[Config, list[float]]:
    """Time several configs side by side: round-robin, so that drift in machine load hits all alike.

    Every config is first run once untimed (compile, pools) and once timed; a config whose run is
    shorter than ``min_sample_s`` is then repeated back to back within each sample, and the sample
    is the mean time per run. Each of the ``rounds`` rounds takes one sample of every config, in a
    fresh random order per round (seeded), so neither position nor drift favours a config.

    Args:
        workload, n_sims: what to run.
        configs: the configs to compare (duplicates are timed once).
        rounds: samples per config (>= 1).
        min_sample_s: shortest sample (>= 0); raises the resolution of sub-millisecond runs.
        seed: seed of every run (the same draws for every config) and of the round order.

    Returns:
        ``{config: [seconds per run, one per round]}``, in the order given. A config that raises
        gets an empty list (and a logged warning); the others are still compared.

    Raises:
        ValueError: bad ``rounds``, ``min_sample_s`` or ``configs``, naming the argument.
    """
    check_int("", "rounds", rounds, low=1)
    check_real("", "min_sample_s", min_sample_s, low=0)
    configs = list(dict.fromkeys(configs))
    bad = [c for c in configs if not isinstance(c, Config)]
    if not configs or bad:
        raise ValueError(f"configs must be a non-empty sequence of kernels.Config, got {bad or configs!r}")
    samples: dict[Config, list[float]] = {c: [] for c in configs}
    inner: dict[Config, int] = {}
    for c in configs:
        try:
            simulate(workload, n_sims, c, seed=seed)
            t0 = time.perf_counter()
            simulate(workload, n_sims, c, seed=seed)
            once = time.perf_counter() - t0
        except Exception as exc:  # one failing config must not end the comparison
            log.warning("compare_configs: %s failed: %s: %s", c.label(), type(exc).__name__, exc)
            continue
        inner[c] = max(1, math.ceil(min_sample_s / once)) if once > 0 else 1
    order = list(inner)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        for i in rng.permutation(len(order)):
            c = order[i]
            t0 = time.perf_counter()
            for _ in range(inner[c]):
                simulate(workload, n_sims, c, seed=seed)
            samples[c].append((time.perf_counter() - t0) / inner[c])
    return samples
