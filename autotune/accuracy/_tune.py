"""Tuning for a precision target: the least time to ``Target``, not the least time per ``n_sims``.

Time to a target factors into two parts that are measured apart:

* **the estimator** (``qmc``, ``antithetic``, ``control_variate``) sets how many simulations the
  target needs. Each estimator runs a pilot on the default execution config (two sizes for
  quasi-random estimators, whose convergence rate is fitted, not assumed); its standard errors
  give an :class:`ErrorModel` and the simulations it needs.
* **the execution config** (backend, executor, workers, precision, chunks) sets the seconds per
  simulation. It is tuned once, by a fixed-``n_sims`` session (:func:`autotune.tune`) at the
  size the most promising estimator needs.

The product predicts each pairing's time to the target, without measuring the whole cross
product. A portfolio also gets **the FFT method** (``Config(method="fft")``): it has no
simulations to count, so it is run to the target directly (its error is a discretisation
estimate); when it beats every estimator's predicted time on the default execution config by
more than ``FFT_DECISIVE`` times, the execution configs are not tuned at all.

The factorisation is then checked on the finalists: the best execution configs
crossed with the best estimators (and the default config) run to the target for real, side by
side, and the fastest measured run wins.
"""

from __future__ import annotations

import contextlib
import logging
import math
import statistics
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kernels import MAX_FFT_POINTS, Config, Portfolio, Target, TargetNotMetWarning, Workload, simulate, workload_kind
from kernels._estimators import tail_levels
from kernels._sequential import DEFAULT_MAX_SIMS, MIN_TAIL_SIMS, PILOT_POINTS, PILOT_SIMS

from .._errors import TuningError
from .._outcome import Outcome, Source
from ..features import machine_fingerprint, workload_features
from ..measure import Measurement, MeasureOptions, config_key, measure, reference_result
from ..space import complexity, search_space
from ..storage import ResultsLog, Storage
from ..storage._storage import TARGET_SAMPLER
from ._errors import ErrorModel, Estimator, estimators_for, fit_error_model

__all__ = ["TARGET_KEY_SIMS", "Finalist", "TargetReport", "target_key", "tune_to_target"]

log = logging.getLogger(__name__)

#: Quasi-random pilots run at these multiples of the pilot size, to fit the convergence rate.
QMC_PILOT_FACTORS = (1, 8)
#: The execution configs are tuned at the size the best estimator needs, within these bounds.
MIN_EXEC_SIMS, MAX_EXEC_SIMS = 2**14, 2**21
#: Execution configs and estimators crossed in the final check.
FINAL_EXEC, FINAL_ESTIMATORS = 3, 3
#: Interleaved rounds of runs to the target in the final check.
TARGET_ROUNDS = 3
#: Candidates predicted slower than both of these (seconds; times the best prediction) are not run
#: in the final check.
FINAL_RUN_LIMIT_S, FINAL_RUN_FACTOR = 30.0, 20.0
#: An FFT run this many times faster than every estimator's predicted time on the default execution
#: config ends the search: no execution config gains that much.
FFT_DECISIVE = 100.0
#: Timed runs of the FFT method to the target (after one untimed).
FFT_PILOT_RUNS = 3
FFT_CONFIG = Config(method="fft")


@dataclass(frozen=True)
class Finalist:
    """One config run to the target in the final check.

    Attributes:
        config: the config.
        predicted_sims, predicted_s: what the factorised model predicted (None for the default
            when its estimator was not piloted).
        measured_s: median wall time of its runs to the target (None if they failed, or if it was
            not run because its prediction was over ``FINAL_RUN_LIMIT_S`` and ``FINAL_RUN_FACTOR``
            times the best prediction).
        sims: median simulations those runs used.
        half_width: the largest half-width / tolerance ratio reached over its runs (<= 1: every run met
            the target; only such finalists can be chosen).
    """

    config: Config
    predicted_sims: float | None
    predicted_s: float | None
    measured_s: float | None
    sims: int | None
    half_width: float | None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "predicted_sims": self.predicted_sims,
                "predicted_s": self.predicted_s, "measured_s": self.measured_s, "sims": self.sims,
                "half_width": self.half_width, "note": self.note}


@dataclass(frozen=True)
class TargetReport:
    """The result of ``autotune.tune(workload, target=...)``.

    Attributes:
        target: what was tuned for.
        best_config: the config with the least measured time to the target.
        best_time_s: its median time to the target (a whole run, batches and all).
        default_time_s: the default config's, measured side by side (None if it failed, did not
            reach the target within the cap, or was predicted too slow to run; see ``finalists``).
        speedup_over_default: ``default_time_s / best_time_s``.
        errors: the fitted :class:`ErrorModel` of each estimator and estimate.
        estimator_sims: simulations each estimator is predicted to need (label -> n).
        seconds_per_sim: seconds per simulation of each estimator on the default execution config.
        execution: the fixed-``n_sims`` tuning session of the execution configs
            (:class:`autotune.TuningReport`).
        finalists: every config run to the target in the final check, fastest first.
        session_id, machine_id, workload_key, seconds: where, what, and what it cost.
    """

    target: Target
    best_config: Config
    best_time_s: float
    default_time_s: float | None
    speedup_over_default: float | None
    errors: tuple[ErrorModel, ...]
    estimator_sims: dict[str, float]
    seconds_per_sim: dict[str, float]
    execution: Any
    finalists: tuple[Finalist, ...]
    session_id: int
    machine_id: str
    workload_key: str
    seconds: float

    @property
    def best(self) -> Finalist:
        return next(f for f in self.finalists if f.config == self.best_config)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored with the session; ``best_time_s`` feeds the cache tier)."""
        return {
            "target": self.target.to_dict(),
            "best_config": self.best_config.to_dict(),
            "best_time_s": self.best_time_s,
            "default_time_s": self.default_time_s,
            "speedup_over_default": self.speedup_over_default,
            "errors": [{"estimator": e.estimator.label(), "name": e.name, "value": e.value,
                        "coefficient": e.coefficient, "rate": e.rate, "sizes": list(e.sizes),
                        "standard_errors": list(e.errors)} for e in self.errors],
            "estimator_sims": dict(self.estimator_sims),
            "seconds_per_sim": dict(self.seconds_per_sim),
            "execution_session_id": getattr(self.execution, "session_id", None),
            "sampler": TARGET_SAMPLER,
            "trials": getattr(self.execution, "trials", 0),
            "n_sims": None,
            "finalists": [f.to_dict() for f in self.finalists],
            "seconds": self.seconds,
        }

    def summary(self) -> str:
        """A few human-readable lines: both parts, predicted and measured time to the target."""
        lines = [f"target: {self.target.label()}"]
        lines.append("estimators (default execution config): predicted simulations, seconds per simulation")
        for label, n in sorted(self.estimator_sims.items(), key=lambda kv: kv[1]):
            per = self.seconds_per_sim.get(label)
            lines.append(f"  {label:<36} {n:>12.3g} sims  {per * 1e9 if per else math.nan:>8.1f} ns/sim")
        if self.execution is not None:
            lines.append(f"execution: best {self.execution.best_config.label()} at n={self.execution.n_sims}")
        lines.append("finalists run to the target (predicted -> measured):")
        for f in self.finalists:
            pred = f"{f.predicted_s * 1e3:.1f} ms" if f.predicted_s is not None else "n/a"
            meas = f"{f.measured_s * 1e3:.1f} ms" if f.measured_s is not None else "-"
            missed = " (missed the target)" if f.half_width is not None and f.half_width > 1 else ""
            lines.append(f"  {f.config.label():<44} {pred:>10} -> {meas:>10}  n={f.sims}{missed} {f.note}".rstrip())
        sd = f"{self.speedup_over_default:.1f}x" if self.speedup_over_default else "n/a"
        lines.append(f"best: {self.best_config.label()}  {self.best_time_s * 1e3:.1f} ms to target; "
                     f"{sd} over the default; session {self.session_id}, {self.seconds:.0f} s")
        return "\n".join(lines)


def _pilot_sizes(workload: Workload, names: Sequence[str], estimator: Estimator, scrambles: int) -> list[int]:
    n = PILOT_POINTS * scrambles * 4 if estimator.qmc else PILOT_SIMS
    levels = tail_levels(names)
    if levels:
        n = max(n, 4 * math.ceil(MIN_TAIL_SIMS / (1 - max(levels))))
    if estimator.qmc:
        points = 1 << max(math.ceil(n / scrambles) - 1, 0).bit_length()
        return [points * f * scrambles for f in QMC_PILOT_FACTORS]
    return [n]


#: Sessions tuned for a target have no one ``n_sims``: they are stored under the workload's key at this size.
TARGET_KEY_SIMS = PILOT_SIMS


def target_key(workload: Workload) -> str:
    """The workload key under which sessions tuned for a target are stored."""
    return workload_features(workload, TARGET_KEY_SIMS).key


class _TargetSession:
    def __init__(self, workload: Workload, target: Target, store: Storage, options: MeasureOptions,
                 cap: int) -> None:
        self.started = time.perf_counter()
        self.workload, self.target, self.store, self.options, self.cap = workload, target, store, options, cap
        self.names = target.names(workload)
        self.machine = machine_fingerprint()
        self.log = ResultsLog(store, self.machine)
        features = workload_features(workload, TARGET_KEY_SIMS)
        self.key = features.key
        self.log.register_workload(features)
        self.session_id = store.create_session(self.machine.machine_id, self.key, n_sims=cap,
                                               sampler=TARGET_SAMPLER, budget={"target": target.to_dict()})

    def record(self, m: Measurement) -> Measurement:
        (m,) = self.log.write(workload_features(self.workload, m.n_sims), [m], source=Source.TUNE,
                              session_id=self.session_id)
        return m

    def pilot(self) -> tuple[list[ErrorModel], dict[Estimator, float], dict[Estimator, float]]:
        """Each estimator's error model, simulations needed and seconds per simulation (default execution)."""
        models: list[ErrorModel] = []
        needed: dict[Estimator, float] = {}
        per_sim: dict[Estimator, float] = {}
        references: dict[int, Any] = {}
        for est in estimators_for(self.workload):
            config = est.apply(Config())
            sizes = _pilot_sizes(self.workload, self.names, est, config.qmc_scrambles)
            points: dict[str, list[tuple[int, float, float]]] = {name: [] for name in self.names}
            for n in sizes:
                if n not in references:
                    references[n] = reference_result(self.workload, n, seed=self.options.seed)
                m = self.record(measure(self.workload, n, config, reference=references[n], options=self.options))
                if not m.ok:
                    log.warning("estimator %s failed its pilot at n=%d: %s", est.label(), n, m.error)
                    break
                for name in self.names:
                    points[name].append((n, m.standard_errors[name], m.estimates[name]))
                per_sim[est] = m.steady_s / n
            else:  # every pilot completed: fit, and never predict less than the smallest pilot
                fitted = [fit_error_model(est, name, self.workload, config, points[name]) for name in self.names]
                models += fitted
                needed[est] = max(float(sizes[0]), *(f.sims_for(self.target) for f in fitted))
        if not needed:
            raise TuningError("no estimator completed its pilot run; see the failed measurements in the database")
        return models, needed, per_sim

    def fft_pilot(self) -> tuple[float, int] | None:
        """A portfolio's FFT method run to the target: (median seconds, grid points), or None if it cannot
        reach it (recorded as a failed measurement, with the reason)."""
        if not isinstance(self.workload, Portfolio):
            return None
        times, res = [], None
        try:
            for i in range(FFT_PILOT_RUNS + 1):
                start = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", TargetNotMetWarning)
                    res = simulate(self.workload, config=FFT_CONFIG, target=self.target, max_sims=self.cap)
                if i:
                    times.append(time.perf_counter() - start)
                if not res.target_met:
                    raise TuningError(f"the grid reached the cap of {self.cap} points first")
        except Exception as exc:
            log.info("the FFT method cannot reach %s: %s", self.target.label(), exc)
            self.record(Measurement(config=FFT_CONFIG, outcome=Outcome.FAILED, n_sims=min(self.cap, MAX_FFT_POINTS),
                                    error=f"{type(exc).__name__}: {exc}"))
            return None
        seconds = statistics.median(times)
        self.record(Measurement(config=FFT_CONFIG, outcome=Outcome.COMPLETE, n_sims=res.n_sims, steady_s=seconds,
                                samples=tuple(times), estimates=dict(res.estimates), standard_errors={}))
        return seconds, res.n_sims

    def final_check(self, candidates: list[tuple[Config, float | None, float | None]], seed: int) -> list[Finalist]:
        """Run each candidate to the target, side by side, ``TARGET_ROUNDS`` times after a warm-up."""
        samples: dict[Config, list[tuple[float, int, float]]] = {c: [] for c, _, _ in candidates}
        broken: set[Config] = set()
        rng = np.random.default_rng(seed)
        for rnd in range(TARGET_ROUNDS + 1):  # round 0 warms up (compile, pools) and is not counted
            for i in rng.permutation(len(candidates)):
                config = candidates[i][0]
                if config in broken:
                    continue
                start = time.perf_counter()
                try:
                    with warnings.catch_warnings():  # a capped run is recorded by its half-width, not a warning
                        warnings.simplefilter("ignore", TargetNotMetWarning)
                        res = simulate(self.workload, config=config, seed=seed + rnd, target=self.target,
                                       max_sims=self.cap)
                except Exception as exc:
                    broken.add(config)
                    self.record(Measurement(config=config, outcome=Outcome.FAILED, n_sims=self.cap,
                                            error=f"{type(exc).__name__}: {exc}"))
                    continue
                wall = time.perf_counter() - start
                ratio = self.target.shortfall(res.estimates, res.half_widths)
                if rnd:
                    samples[config].append((wall, res.n_sims, ratio))
                    self.record(Measurement(config=config, outcome=Outcome.COMPLETE, n_sims=res.n_sims,
                                            steady_s=wall, samples=(wall,), estimates=dict(res.estimates),
                                            standard_errors=dict(res.standard_errors)))
        out = []
        for config, pred_n, pred_s in candidates:
            s = samples[config]
            if not s:
                out.append(Finalist(config, pred_n, pred_s, None, None, None, "failed"))
                continue
            out.append(Finalist(config, pred_n, pred_s, statistics.median(x[0] for x in s),
                                int(statistics.median(x[1] for x in s)), max(x[2] for x in s)))
        return sorted(out, key=lambda f: (f.measured_s is None, f.measured_s or 0.0))


def tune_to_target(
    workload: Workload,
    target: Target,
    *,
    store: Storage,
    options: MeasureOptions,
    max_sims: int | None = None,
    seed: int | None = None,
    exec_tuning: dict[str, Any] | None = None,
) -> TargetReport:
    """Find the config with the least time to ``target`` on this machine (see the module docstring).

    ``exec_tuning`` holds the keyword arguments of the fixed-``n_sims`` session that tunes the
    execution configs (budget, sampler, space restrictions, progress). Every measurement is stored.
    """
    from ..tuner import tune  # the fixed-n tuner; imported here, it imports this package's caller

    workload_kind(workload)
    cap = DEFAULT_MAX_SIMS if max_sims is None else max_sims
    session = _TargetSession(workload, target, store, options, cap)
    try:
        models, needed, per_sim = session.pilot()
        fft = session.fft_pilot()
        base = per_sim.get(Estimator())
        # Predicted seconds on the default execution config: simulations needed x seconds per simulation.
        ranked = sorted(needed, key=lambda e: needed[e] * per_sim[e])
        best_default_s = needed[ranked[0]] * per_sim[ranked[0]]
        execution = None
        exec_speed: dict[Config, float] = {}
        if fft is not None and fft[0] * FFT_DECISIVE < best_default_s:
            log.info("FFT reaches the target in %.3g s, under 1/%g of the best estimator's %.3g s: the execution "
                     "configs are not tuned", fft[0], FFT_DECISIVE, best_default_s)
        else:
            n_exec = int(min(max(needed[ranked[0]], MIN_EXEC_SIMS), MAX_EXEC_SIMS))
            exec_kwargs = dict(exec_tuning or {})
            space = exec_kwargs.pop("space", None) or search_space(workload, n_exec, qmc=(False,))
            execution = tune(workload, n_exec, storage=store, space=space, measure_options=options, seed=seed,
                             **exec_kwargs)
            exec_speed = {c: t / n_exec for c, t in execution.finalists}
        default_speed = exec_speed.get(Config(), base)
        candidates: dict[Config, tuple[float | None, float | None]] = {}
        if fft is not None:
            candidates[FFT_CONFIG] = (float(fft[1]), fft[0])
        for cfg, speed in list(exec_speed.items())[:FINAL_EXEC]:
            for est in ranked[:FINAL_ESTIMATORS]:
                scale = per_sim[est] / base if base else 1.0  # the estimator's own cost (pairs, Sobol points)
                candidates[est.apply(cfg)] = (needed[est], needed[est] * speed * scale)
        default = Config()
        if default not in candidates:
            pred = needed.get(Estimator())
            candidates[default] = (pred, pred * default_speed if pred and default_speed else None)
        # A candidate predicted far slower than the best (the default at a tight target can need hours) is
        # not run: it is listed with its prediction only, and the report's default time is then None.
        best_pred = min((p for _, p in candidates.values() if p is not None), default=math.inf)
        limit = max(FINAL_RUN_LIMIT_S, FINAL_RUN_FACTOR * best_pred)
        runnable = [(c, n, p) for c, (n, p) in candidates.items() if p is None or p <= limit]
        skipped = [Finalist(c, n, p, None, None, None, "not run: predicted too slow") for c, (n, p)
                   in candidates.items() if p is not None and p > limit]
        finalists = session.final_check(runnable, seed=options.seed if seed is None else seed) + skipped
        # Only runs that met the target count: a config capped by max_sims stops early and looks fast.
        done = [f for f in finalists if f.half_width is not None and f.half_width <= 1]
        if not done:
            raise TuningError(f"no config reached {target.label()} within max_sims={cap} in the final check; "
                              "raise n_sims (the cap) or loosen the target")
        fastest = done[0].measured_s
        # Within 5% of the fastest measured time counts as a tie, which goes to the simpler config.
        best = min((f for f in done if f.measured_s <= fastest * 1.05), key=lambda f: complexity(f.config))
        default_s = next((f.measured_s for f in done if f.config == default), None)  # None: it missed the target
        report = TargetReport(
            target=target, best_config=best.config, best_time_s=best.measured_s, default_time_s=default_s,
            speedup_over_default=default_s / best.measured_s if default_s else None, errors=tuple(models),
            estimator_sims={e.label(): needed[e] for e in ranked},
            seconds_per_sim={e.label(): per_sim[e] for e in ranked}, execution=execution,
            finalists=tuple(finalists), session_id=session.session_id, machine_id=session.machine.machine_id,
            workload_key=session.key, seconds=time.perf_counter() - session.started)
        store.finish_session(session.session_id, status="complete", best_config_id=config_key(best.config),
                             report=report.to_dict())
        log.info("target tuning session %s done: %s", session.session_id, report.summary().replace("\n", "; "))
        return report
    except BaseException as exc:
        with contextlib.suppress(Exception):
            store.finish_session(session.session_id, status="failed",
                                 report={"target": target.to_dict(), "failed_reason": f"{type(exc).__name__}: {exc}"})
        raise
