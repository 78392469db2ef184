"""``tuned_simulate``: run a simulation with the best config autotune knows, and learn from it."""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import statistics
import time
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kernels import (
    MAX_SIMS,
    Config,
    Portfolio,
    SimulationResult,
    Target,
    TargetNotMetWarning,
    Workload,
    check_int,
    simulate,
    workload_kind,
)

from .._outcome import Outcome, Source
from ..accuracy import TARGET_KEY_SIMS, pilot_choice
from ..features import workload_features
from ..measure import Measurement
from ..space import check_reference, reproducible_with, search_space
from ..storage import check_workload_name
from ._runtime import CacheEntry, Runtime, WorkloadState, runtime

if TYPE_CHECKING:
    from ..model import TargetChoice

__all__ = ["POLICIES", "Decision", "TunedResult", "predict_config", "tuned_simulate"]

log = logging.getLogger(__name__)

POLICIES = ("auto", "exploit", "cache", "model", "default")
#: A portfolio's first run to a target tries the FFT method within this many grid points (over its groups):
#: about 0.1-0.5 s at most, and usually milliseconds; a miss is remembered for the process.
FFT_TRY_POINTS = 2**20
FFT_CONFIG = Config(method="fft")
#: Explore when the model's uncertainty (std of log time across trees) exceeds this.
EXPLORE_UNCERTAINTY = 0.35
#: At most one call in this many explores, and at most ``EXPLORE_MAX`` explorations per workload and process.
EXPLORE_EVERY = 5
EXPLORE_MAX = 5
#: Only candidates predicted within this factor of the best are explored (bounds the cost of a bad guess).
EXPLORE_COST_FACTOR = 1.5
#: A cache entry is marked stale when a call's steady-state time is this many times off the tuned time.
STALE_FACTOR = 3.0
#: ... on this many consecutive calls (one slow call on a busy machine is not drift).
STALE_AFTER = 3


@dataclass(frozen=True)
class Decision:
    """How ``tuned_simulate`` chose its config.

    Attributes:
        source: ``"cache"`` (a tuning session's measured best for this machine and workload),
            ``"model"`` (the random forest's prediction), ``"explore"`` (a promising but uncertain
            candidate, measured to learn) or ``"default"`` (``Config()``).
        config: the config the result was computed with.
        predicted_s: the expected steady-state time (tuned median or model prediction), if any.
        measured_s: this call's wall time in ``kernels.simulate`` (a first call's includes its one-off costs).
        model_version: the id of the stored model used, if any.
        uncertainty: the model's spread (std of log time across trees), if the model was asked.
        overhead_s: time spent deciding (excluding the kernel).
        note: why a tier was skipped or a fallback happened, if so.
        target: with ``tuned_simulate(..., target=...)``, the precision asked for; the source may
            then also be ``"pilot"`` (the estimator with the least predicted time to the target,
            from quick pilot runs of each) or, for a portfolio, ``"fft"`` (the FFT method reached
            the target within ``fft_try_points`` grid points; a miss is noted and remembered).
        predicted_sims: with a target, the simulations the choice was expected to need.
    """

    source: str
    config: Config
    predicted_s: float | None
    measured_s: float | None
    model_version: int | None
    uncertainty: float | None
    overhead_s: float
    note: str | None = None
    target: Target | None = None
    predicted_sims: float | None = None


@dataclass(frozen=True)
class TunedResult(SimulationResult):
    """A :class:`kernels.SimulationResult` plus the :class:`Decision` behind it."""

    decision: Decision | None = None


def _decide(rt: Runtime, state: WorkloadState, workload: Workload, n_sims: int, policy: str,
            calls: int | None, ref: Config | None = None) -> tuple[str, Config, float | None, float | None, str | None]:
    """Pick (source, config, predicted_s, uncertainty, note) by the tiers the policy allows.

    With a pinned reference ``ref`` (reproducible mode) every tier picks only among the configs
    bit-identical to it (:func:`autotune.space.reproducible_with`), and the default tier is ``ref``.
    """
    notes = []
    if rt.open() is None:
        return "default", ref or Config(), None, None, f"results database unavailable ({rt.error})"
    expected = calls if calls is not None else max(state.calls, 1)  # the calls this process has seen, this one included
    if ref is not None:
        return _decide_reproducible(rt, state, workload, n_sims, policy, expected, ref)
    if policy in ("auto", "exploit", "cache"):
        entry = rt.cache_entry(state)
        if entry is not None:
            note = _one_shot_note(entry, state, expected)
            if note is not None:  # the tuned config's one-off cost is not repaid within the expected calls
                return "default", Config(), entry.steady_s.get(Config()), None, note
            return "cache", entry.config, entry.best_time_s, None, None
        notes.append("no tuned config for this machine and workload")
    if policy in ("auto", "exploit", "model"):
        model = rt.current_model()
        if model is not None:
            choice = model.choose(rt.fingerprint(), workload, n_sims, rt.candidates(state, workload, n_sims),
                                  calls=expected)
            if policy == "auto" and choice.uncertainty > EXPLORE_UNCERTAINTY:
                explore = _exploration(state, choice)
                if explore is not None:
                    return "explore", explore[0], explore[1], choice.uncertainty, None
            return "model", choice.config, choice.predicted_s, choice.uncertainty, None
        notes.append("no trained model")
    return "default", Config(), None, None, "; ".join(notes) or None


def _decide_reproducible(rt: Runtime, state: WorkloadState, workload: Workload, n_sims: int, policy: str,
                         expected: int, ref: Config) -> tuple[str, Config, float | None, float | None, str | None]:
    """:func:`_decide` in reproducible mode: cache, model and default, each within ``ref``'s class."""
    notes = []
    if policy in ("auto", "exploit", "cache"):
        found = _reproducible_cache(rt, state, ref)
        if found is not None:
            return "cache", found[0], found[1], None, None
        notes.append(f"no tuned config bit-identical to the reference {ref.label()} for this machine and workload")
    if policy in ("auto", "exploit", "model") and ref.method == "mc":
        model = rt.current_model()
        if model is not None:
            if ref not in state.reproducible_candidates:
                space = search_space(workload, n_sims, cores=rt.fingerprint().usable_cores, reference=ref)
                state.reproducible_candidates[ref] = space.enumerate() or [ref]
            choice = model.choose(rt.fingerprint(), workload, n_sims, state.reproducible_candidates[ref],
                                  calls=expected)
            return "model", choice.config, choice.predicted_s, choice.uncertainty, None  # never explores
        notes.append("no trained model")
    return "default", ref, None, None, "; ".join(notes) or None


def _reproducible_cache(rt: Runtime, state: WorkloadState, ref: Config) -> tuple[Config, float | None] | None:
    """The cache tier in reproducible mode: (config, steady time) or None; read once per process and reference.

    The latest complete tuning session's best when it is bit-identical to ``ref``; otherwise the
    in-class config with the least median steady time among the tuning measurements of this
    machine, workload and ``n_sims`` (a reproducible session stores its class's; a wider session
    measures some of it too). None without a complete session.
    """
    if ref in state.reproducible_cache:
        return state.reproducible_cache[ref]
    found: tuple[Config, float | None] | None = None
    machine_id, key = rt.fingerprint().machine_id, state.features.key
    try:
        best = rt.store.best_tuned(machine_id, key)
        if best is not None:
            try:
                tuned: Config | None = Config.from_dict(best[1])
            except ValueError:  # a config this version cannot use
                tuned = None
            if tuned is not None and reproducible_with(tuned, ref):
                found = (tuned, best[2])
            else:
                samples: dict[Config, list[float]] = {}
                for m in rt.store.measurements(machine_id=machine_id, workload_id=key, n_sims=state.features.n_sims,
                                               source=Source.TUNE, outcome=Outcome.COMPLETE):
                    if m.steady_s is not None and reproducible_with(m.config, ref):
                        samples.setdefault(m.config, []).append(m.steady_s)
                medians = {c: float(statistics.median(v)) for c, v in samples.items()}
                if medians:
                    fastest = min(medians, key=medians.__getitem__)
                    found = (fastest, medians[fastest])
    except Exception as exc:
        log.warning("autotune: cannot read the tuning cache (%s); using the model or the reference", exc)
        return None
    state.reproducible_cache[ref] = found
    return found


def _one_shot_note(entry: CacheEntry, state: WorkloadState, calls: int) -> str | None:
    """Why the default config costs less than the tuned one over ``calls`` calls (one-off costs included),
    with the break-even number of calls; None when the tuned config is cheaper or the costs are unknown."""
    tuned, default = entry.config, Config()
    if tuned == default:
        return None
    cost = entry.total_s(tuned, calls, paid=tuned in state.ran)
    base = entry.total_s(default, calls, paid=default in state.ran)
    if cost is None or base is None or cost <= base:
        return None
    once = cost - calls * entry.steady_s[tuned]
    gain = entry.steady_s[default] - entry.steady_s[tuned]
    after = f"faster than the default after about {math.ceil(once / gain):,} calls" if gain > 0 else "never faster"
    return (f"tuned config {tuned.label()} pays {once:.3g} s once; {after}, so the default runs "
            f"({calls} call{'s' if calls != 1 else ''} expected; pass calls=N to plan for more)")


def _prepare(workload: Workload, n_sims: int, policy: str, calls: int | None,
             storage: str | None) -> tuple[int, int | None, Runtime, WorkloadState]:
    """Check the public arguments (naming the bad one) and find the runtime and workload state."""
    workload_kind(workload)
    n_sims = check_int("", "n_sims", n_sims, low=2, high=MAX_SIMS)
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {list(POLICIES)}, got {policy!r}")
    if calls is not None:
        calls = check_int("", "calls", calls, low=1)
    if storage is not None and not isinstance(storage, str):
        raise ValueError(f"storage must be a database URL (str) or None, got {storage!r}")
    rt = runtime(storage if storage is not None else os.environ.get("AUTOTUNE_STORAGE"))
    return n_sims, calls, rt, rt.workload(workload, n_sims)


def _decide_safely(rt: Runtime, state: WorkloadState, workload: Workload, n_sims: int, policy: str,
                   calls: int | None, ref: Config | None = None,
                   ) -> tuple[str, Config, float | None, float | None, str | None]:
    """:func:`_decide`, except that ``"default"`` asks nothing and a failure means the default config
    (the reference in reproducible mode)."""
    if policy == "default":
        return "default", ref or Config(), None, None, None
    try:
        return _decide(rt, state, workload, n_sims, policy, calls, ref)
    except Exception as exc:  # deciding must never cost the user the result
        return "default", ref or Config(), None, None, f"decision failed: {exc}"


def _exploration(state: WorkloadState, choice) -> tuple[Config, float] | None:
    """The runner-up to try on this call, within the exploration budget, or None."""
    if state.explored >= EXPLORE_MAX or state.calls % EXPLORE_EVERY != 1:
        return None
    best = choice.ranked[0][1]
    for cfg, predicted in choice.ranked[1:4]:
        if predicted <= best * EXPLORE_COST_FACTOR:
            state.explored += 1
            return cfg, predicted
    return None


def tuned_simulate(
    workload: Workload,
    n_sims: int | None = None,
    *,
    target: Target | None = None,
    seed: int | None = None,
    storage: str | None = None,
    policy: str = "auto",
    calls: int | None = None,
    record: bool = True,
    name: str | None = None,
    reproducible: bool = False,
    reference: Config | None = None,
) -> TunedResult:
    """Simulate with the fastest config autotune knows for this workload on this machine.

    Tiers, in order: ``"cache"`` (the measured best of a tuning session for this machine and
    workload), ``"model"`` (the random forest's pick among every valid config), ``"default"``
    (``Config()``). Every config computes the same quantity; only the time differs.

    Args:
        workload, n_sims, seed: as for :func:`kernels.simulate`.
        target: run to this precision (a :class:`kernels.Target`) in the least time: the config,
            the estimator (qmc, antithetic pairs, control variate) and the number of simulations
            are chosen for it, and ``n_sims``, if given, is the cap. Tiers: ``"cache"`` (a
            ``tune(workload, target=...)`` session for the same target on this machine), then
            ``"fft"`` for a portfolio (the FFT method, tried first within ``fft_try_points`` grid
            points: milliseconds when it reaches the target, a bounded try when it cannot), then
            ``"model"`` (when the store holds a time model and a learned error model,
            ``autotune.model.train_error_model``: the least predicted time to the target over every
            estimator x execution config, without running anything), then
            ``"pilot"`` (quick pilots of each estimator pick the one with the least predicted time;
            the model, if any, picks its execution config), then ``"default"``.
        storage: SQLAlchemy URL of the results database (default: ``AUTOTUNE_STORAGE``, then
            ``sqlite:///./results.db``).
        policy: ``"auto"`` (all tiers; may explore an uncertain, promising candidate on a bounded
            share of calls), ``"exploit"`` (all tiers, never explore), or one tier alone:
            ``"cache"``, ``"model"``, ``"default"`` (a missing tier falls back to the default).
        calls: how many calls of this workload you expect: one call pays a config's compile cost,
            many calls amortise it (the model ranks by ``compile + calls * steady``).
        record: store this call's timing in the database (in the background) for online learning.
        reproducible: results bit-identical, to the last bit, to those of the pinned ``reference``
            with the same seed (an audit trail can rerun them with ``kernels.simulate``): every tier
            picks only among configs with the reference's backend, precision, chunk size and
            estimator (qmc, scrambles, antithetic, control variate, method); executor, workers and
            shared memory stay free (:func:`autotune.space.reproducible_with`). The cache tier takes
            the tuned best if it is in that class, else the fastest in-class config measured by
            tuning sessions; the model ranks only in-class configs and never explores; the default
            tier (and the fallback when a config fails) is the reference; the cache tier's check of
            one-off costs against ``calls`` does not apply (the class shares one backend, so they
            differ only by a pool start). With a ``target`` only the
            cache tier (a target session's best, if in class) and the reference apply. Always pass a
            ``seed``: without one, no two runs agree.
        reference: the pinned reference of ``reproducible=True`` (default ``Config()``).
        name: a display name stored with the workload when the timing is recorded (as
            ``tune(..., name=...)``: shown by ``autotune runs``, ``instances`` and reports).

    Returns:
        A :class:`TunedResult`: the kernel's result plus ``decision``.

    Never loses the result: an unavailable or corrupt database gives the default config and a
    warning; a config that fails at run time is recorded as failed and the default config runs.
    """
    started = time.perf_counter()
    if not isinstance(record, bool):
        raise ValueError(f"record must be True or False, got {record!r}")
    if name is not None:
        name = check_workload_name(name)
    if seed is not None and not isinstance(seed, np.random.SeedSequence):
        check_int("", "seed", seed, low=0)  # checked here: a bad seed must not be recorded as a failing config
    workload_kind(workload)
    ref = check_reference(workload, reproducible, reference)
    if target is not None:
        return _to_target(workload, target, n_sims, seed, storage, policy, calls, record, started, name, ref)
    if n_sims is None:
        raise ValueError("n_sims is required without a target: pass n_sims=... or target=kernels.Target(...)")
    _check_fixed_reference(ref)
    base = ref or Config()
    n_sims, calls, rt, state = _prepare(workload, n_sims, policy, calls, storage)
    state.calls += 1
    state.name = name if name is not None else state.name
    source, config, predicted, uncertainty, note = _decide_safely(rt, state, workload, n_sims, policy, calls, ref)
    if policy != "default" and rt.error is not None and source == "default":
        warnings.warn(f"autotune: {note}; running the default config", RuntimeWarning, stacklevel=2)
    decided = time.perf_counter()

    try:
        result, measured = _timed(workload, n_sims, config, seed)
    except Exception as exc:
        if config == base:
            raise
        log.warning("autotune: config %s failed (%s); running the %s config", config.label(), exc,
                    "reference" if ref is not None else "default")
        if record:
            rt.record(state, Measurement(config=config, outcome=Outcome.FAILED, n_sims=n_sims,
                                         error=f"{type(exc).__name__}: {exc}"))
        note = f"{source} config {config.label()} failed at run time: {exc}"
        source, config, predicted = "default", base, None
        result, measured = _timed(workload, n_sims, config, seed)

    # The same meanings as the tuner's: a first call of a config on a workload in this process is
    # first_call_s (compile, pool start included); later calls are steady-state samples.
    first = config not in state.ran
    state.ran.add(config)
    if record:
        stale = None
        if source == "cache" and predicted and not first:
            drifted = not (predicted / STALE_FACTOR <= measured <= predicted * STALE_FACTOR)
            state.drifted = state.drifted + 1 if drifted else 0
            if state.drifted >= STALE_AFTER and state.cache is not None:
                stale = state.cache.session_id
                state.cache, state.cache_loaded = None, True  # stop serving it in this process too
        m = Measurement(config=config, outcome=Outcome.COMPLETE, n_sims=n_sims,
                        first_call_s=measured if first else None, steady_s=None if first else measured,
                        samples=() if first else (measured,), estimates=result.estimates,
                        standard_errors=result.standard_errors)
        reason = f"measured {measured:.4g} s against a tuned {predicted or math.nan:.4g} s"
        rt.record(state, m, stale_session=stale, stale_reason=reason)
    decision = Decision(source=source, config=config, predicted_s=predicted, measured_s=measured,
                        model_version=rt.model_id if source in ("model", "explore") else None,
                        uncertainty=uncertainty, overhead_s=(decided - started), note=note)
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return TunedResult(**fields, decision=decision)


def predict_config(
    workload: Workload,
    n_sims: int | None = None,
    *,
    target: Target | None = None,
    storage: str | None = None,
    policy: str = "exploit",
    calls: int | None = None,
    reproducible: bool = False,
    reference: Config | None = None,
) -> Decision:
    """The config :func:`tuned_simulate` would run for this workload, without running it.

    Args:
        workload, n_sims, target, storage, calls: as for :func:`tuned_simulate`. With a ``target``
            and no tuning session for it, the ``"pilot"`` tier runs its quick pilots (a few
            thousand simulations per estimator) to decide.
        policy: as for :func:`tuned_simulate`; ``"auto"`` is treated as ``"exploit"`` (there is no
            run to learn from, so nothing is explored).
        reproducible, reference: as for :func:`tuned_simulate`: only configs bit-identical to the
            pinned reference (default ``Config()``).

    Returns:
        A :class:`Decision` with ``measured_s=None``. A database that cannot be used gives the
        default config, with the reason in ``note`` (and no warning: nothing is lost).
    """
    started = time.perf_counter()
    workload_kind(workload)
    ref = check_reference(workload, reproducible, reference)
    if target is not None:
        rt, state = _check_target(workload, target, n_sims, policy, calls, storage)
        source, config, predicted, sims, note = _decide_target_safely(rt, state, workload, target, policy, ref)
        return Decision(source=source, config=config, predicted_s=predicted, measured_s=None, model_version=None,
                        uncertainty=None, overhead_s=time.perf_counter() - started, note=note, target=target,
                        predicted_sims=sims)
    if n_sims is None:
        raise ValueError("n_sims is required without a target: pass n_sims=... or target=kernels.Target(...)")
    _check_fixed_reference(ref)
    n_sims, calls, rt, state = _prepare(workload, n_sims, policy, calls, storage)
    source, config, predicted, uncertainty, note = _decide_safely(
        rt, state, workload, n_sims, "exploit" if policy == "auto" else policy, calls, ref)
    return Decision(source=source, config=config, predicted_s=predicted, measured_s=None,
                    model_version=rt.model_id if source == "model" else None, uncertainty=uncertainty,
                    overhead_s=time.perf_counter() - started, note=note)


def _check_fixed_reference(ref: Config | None) -> None:
    if ref is not None and ref.method == "fft":
        raise ValueError("reference=Config(method='fft') computes to an accuracy, not n_sims simulations: pass "
                         "target=kernels.Target(...) with it")


def _timed(workload: Workload, n_sims: int, config: Config, seed: int | None) -> tuple[SimulationResult, float]:
    """The result of one ``simulate`` call and its wall time."""
    start = time.perf_counter()
    result = simulate(workload, n_sims, config, seed=seed)
    return result, time.perf_counter() - start


def _check_target(workload: Workload, target: Target, cap: int | None, policy: str, calls: int | None,
                  storage: str | None) -> tuple[Runtime, WorkloadState]:
    """Check a run to a target's arguments; the runtime, and the workload's state for runs to a target."""
    if not isinstance(target, Target):
        raise ValueError(f"target must be a kernels.Target or None, got {type(target).__name__}")
    target.names(workload)
    if cap is not None:
        check_int("", "n_sims", cap, low=2, high=MAX_SIMS)
    _, _, rt, state = _prepare(workload, TARGET_KEY_SIMS, policy, calls, storage)
    return rt, state


def _decide_target_safely(rt: Runtime, state: WorkloadState, workload: Workload, target: Target,
                          policy: str, ref: Config | None = None,
                          ) -> tuple[str, Config, float | None, float | None, str | None]:
    if policy == "default":
        return "default", ref or Config(), None, None, None
    try:
        if ref is not None:
            return _decide_target_reproducible(rt, state, target, policy, ref)
        return _decide_target(rt, state, workload, target, policy)
    except Exception as exc:  # deciding must never cost the user the result
        return "default", ref or Config(), None, None, f"decision failed: {exc}"


def _decide_target_reproducible(rt: Runtime, state: WorkloadState, target: Target, policy: str,
                                ref: Config) -> tuple[str, Config, float | None, float | None, str | None]:
    """A run to ``target`` in reproducible mode: a target session's best if bit-identical to ``ref``, else ``ref``.

    The estimator is pinned, so neither the FFT try nor the estimator pilots apply.
    """
    if rt.open() is None:
        return "default", ref, None, None, f"results database unavailable ({rt.error})"
    if policy in ("auto", "exploit", "cache"):
        entry = rt.target_cache_entry(state, target)
        if entry is not None and reproducible_with(entry.config, ref):
            return "cache", entry.config, entry.best_time_s, None, None
    return "default", ref, None, None, f"no session tuned for this target with a config bit-identical to {ref.label()}"


def _decide_target(rt: Runtime, state: WorkloadState, workload: Workload, target: Target,
                   policy: str) -> tuple[str, Config, float | None, float | None, str | None]:
    """(source, config, predicted_s, predicted_sims, note) for a run to ``target``."""
    notes = []
    if policy in ("auto", "exploit", "cache"):
        entry = rt.target_cache_entry(state, target)
        if entry is not None:
            return "cache", entry.config, entry.best_time_s, None, None
        notes.append("no session tuned for this target on this machine")
        if isinstance(workload, Portfolio) and target not in state.fft_missed:
            return "fft", FFT_CONFIG, None, None, "; ".join(notes)
        if target in state.fft_missed:
            notes.append(f"fft: {state.fft_missed[target]}")
    if policy in ("auto", "exploit", "model"):
        choice = _model_for_target(rt, state, workload, target, notes)
        if choice is not None:
            return "model", choice.config, choice.predicted_s, float(choice.n_sims), "; ".join(notes) or None
        if target not in state.pilots:  # once per workload and target in this process
            state.pilots[target] = pilot_choice(workload, target)
        estimator, sims, predicted = state.pilots[target]
        config = estimator.apply(Config())
        model = rt.current_model() if rt.open() is not None else None
        if model is not None:
            n = int(min(max(sims, 2), MAX_SIMS))
            # The model ranks execution configs it knows (plain Monte Carlo); the estimator is applied after.
            candidates = search_space(workload, n, qmc=(False,), cores=rt.fingerprint().usable_cores).enumerate()
            config = estimator.apply(model.choose(rt.fingerprint(), workload, n, candidates).config)
        return "pilot", config, predicted[estimator], sims, "; ".join(notes) or None
    return "default", Config(), None, None, "; ".join(notes) or None


def _model_for_target(rt: Runtime, state: WorkloadState, workload: Workload, target: Target,
                      notes: list[str]) -> TargetChoice | None:
    """The time forest and the learned error model's pick for ``target`` (once per workload and target in
    this process), or None when either model is missing or the choice fails (noted)."""
    if target in state.target_models:
        return state.target_models[target]
    choice = None
    model = rt.current_model() if rt.open() is not None else None
    errors = rt.current_error_model() if model is not None else None
    if errors is not None:
        from ..accuracy import estimators_for
        from ..model import choose_for_target

        try:
            configs = search_space(workload, TARGET_KEY_SIMS, qmc=(False,),
                                   cores=rt.fingerprint().usable_cores).enumerate()
            candidates = [est.apply(c) for c in configs for est in estimators_for(workload)]
            choice = choose_for_target(model, errors, rt.fingerprint().vector(), workload, target, candidates)
        except Exception as exc:  # the pilots decide instead
            notes.append(f"model: {type(exc).__name__}: {exc}")
    state.target_models[target] = choice
    return choice


def fft_try_points(portfolio: Portfolio) -> int:
    """The grid cap of ``tuned_simulate``'s FFT try: ``FFT_TRY_POINTS`` over the groups (each adds a transform)."""
    return max(2**10, FFT_TRY_POINTS // len(portfolio.groups))


def _try_fft(workload: Portfolio, target: Target, cap: int | None, state: WorkloadState) -> SimulationResult | None:
    """A portfolio's FFT run to ``target`` within ``fft_try_points``; None (and remembered) if it misses."""
    points = fft_try_points(workload) if cap is None else min(cap, fft_try_points(workload))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TargetNotMetWarning)
            result = simulate(workload, config=FFT_CONFIG, target=target, max_sims=points)
    except Exception as exc:  # a grid too large, JAX missing, ...: the try must never cost the user the result
        state.fft_missed[target] = f"{type(exc).__name__}: {exc}"
        return None
    if not result.target_met:
        state.fft_missed[target] = f"not within {points:,} grid points"
        return None
    return result


def _to_target(workload: Workload, target: Target, cap: int | None, seed: int | None, storage: str | None,
               policy: str, calls: int | None, record: bool, started: float, name: str | None,
               ref: Config | None = None) -> TunedResult:
    rt, state = _check_target(workload, target, cap, policy, calls, storage)
    base = ref or Config()
    source, config, predicted, sims, note = _decide_target_safely(rt, state, workload, target, policy, ref)
    decided = start = time.perf_counter()
    result = None
    if source == "fft":
        result = _try_fft(workload, target, cap, state)
        if result is None:  # the try counts as deciding; the Monte Carlo choice runs next
            source, config, predicted, sims, note = _decide_target_safely(rt, state, workload, target, policy, ref)
            decided = start = time.perf_counter()
    if result is None:
        try:
            result = simulate(workload, config=config, seed=seed, target=target, max_sims=cap)
        except Exception as exc:
            if config == base:
                raise
            log.warning("autotune: config %s failed (%s); running the default config", config.label(), exc)
            note = f"{source} config {config.label()} failed at run time: {exc}"
            source, config, predicted, sims = "default", base, None, None
            start = time.perf_counter()
            result = simulate(workload, config=config, seed=seed, target=target, max_sims=cap)
    measured = time.perf_counter() - start
    if record:
        # A run's size varies from call to call: the row is keyed at the size it ran, while first calls
        # (compile, pools) are tracked per workload, whatever the size.
        first = config not in state.ran
        state.ran.add(config)
        rt.record(WorkloadState(workload_features(workload, result.n_sims), name=name),
                  Measurement(config=config, outcome=Outcome.COMPLETE, n_sims=result.n_sims,
                              first_call_s=measured if first else None, steady_s=None if first else measured,
                              samples=() if first else (measured,), estimates=result.estimates,
                              standard_errors=result.standard_errors))
    decision = Decision(source=source, config=config, predicted_s=predicted, measured_s=measured,
                        model_version=None, uncertainty=None, overhead_s=decided - started, note=note,
                        target=target, predicted_sims=sims)
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return TunedResult(**fields, decision=decision)
