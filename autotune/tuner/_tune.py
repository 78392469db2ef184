"""Offline tuning sessions: an Optuna study over the search space, every measurement stored."""

from __future__ import annotations

import logging
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass

import optuna
from scipy import stats

from kernels import Config, Workload, workload_kind
from kernels._validation import check_int, check_real

from .._outcome import Outcome
from ..features import machine_fingerprint, workload_features
from ..measure import Measurement, MeasureOptions, compare_configs, measure, reference_result
from ..space import SearchSpace, complexity, search_space
from ..storage import Storage, open_storage
from ._record import record_measurement, register_context
from ._report import TuningReport

__all__ = ["BRUTE_FORCE_THRESHOLD", "SAMPLERS", "tune"]

log = logging.getLogger(__name__)

#: With ``sampler="auto"``, spaces with at most this many valid configs are searched exhaustively.
BRUTE_FORCE_THRESHOLD = 48
SAMPLERS = ("auto", "brute", "tpe", "random")
#: Default trial budget of a TPE or random session when no budget is given.
DEFAULT_TRIALS = 40
#: Interleaved rounds of the final re-measurement.
FINAL_ROUNDS = 5


@dataclass
class _Seen:
    """What the study already knows: config id -> (config, median or None)."""

    medians: dict[str, tuple[Config, float | None]]

    @classmethod
    def from_study(cls, study: optuna.Study) -> _Seen:
        medians: dict[str, tuple[Config, float | None]] = {}
        for t in study.get_trials(deepcopy=False):
            cfg = t.user_attrs.get("config")
            if cfg is None or t.state not in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL):
                continue
            value = t.value if t.state == optuna.trial.TrialState.COMPLETE else None
            medians[t.user_attrs["config_id"]] = (Config.from_dict(cfg), value)
        return cls(medians)

    def add_stored(self, store: Storage, machine_id: str, workload_id: str, n_sims: int) -> int:
        """Also count configs measured in earlier sessions of another study (e.g. over another space);
        returns how many were added."""
        found: dict[str, list[float | None]] = {}
        configs: dict[str, Config] = {}
        for m in store.measurements(machine_id=machine_id, workload_id=workload_id, source="tune"):
            if m.n_sims != n_sims or m.config_id in self.medians:
                continue
            if m.config_id not in configs:
                knobs = store.config(m.config_id)
                try:
                    configs[m.config_id] = Config.from_dict(knobs or {})
                except (ValueError, TypeError):
                    continue
            found.setdefault(m.config_id, []).append(m.median_s if m.status is Outcome.COMPLETE else None)
        for cid, values in found.items():
            done = [v for v in values if v is not None]
            self.medians[cid] = (configs[cid], float(statistics.median(done)) if done else None)
        return len(found)

    def complete(self) -> list[tuple[Config, float]]:
        return sorted(((c, v) for c, v in self.medians.values() if v is not None), key=lambda cv: cv[1])


def _check_budget(name: str, value: float | None, integer: bool) -> float | None:
    if value is None:
        return None
    if integer:
        return check_int("", name, value, low=1)
    return check_real("", name, value, low=0, low_open=True)


def _make_sampler(kind: str, seed: int | None) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(multivariate=True, seed=seed, n_startup_trials=8)
    return optuna.samplers.RandomSampler(seed=seed)


def _progress(total: int | None, enabled: bool | None):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is a dependency
        return None
    if enabled is None:
        enabled = sys.stderr.isatty()
    return tqdm(total=total, unit="trial", disable=not enabled, dynamic_ncols=True)


def pick_best(samples: dict[Config, list[float]], alpha: float = 0.05) -> Config:
    """Fastest median; a statistical tie with it (Mann-Whitney U, two-sided) goes to the simpler config."""
    medians = {c: float(statistics.median(s)) for c, s in samples.items() if s}
    fastest = min(medians, key=medians.get)
    tied = [fastest]
    for c in medians:
        if c == fastest:
            continue
        if len(samples[c]) >= 3 and stats.mannwhitneyu(samples[c], samples[fastest]).pvalue > alpha:
            tied.append(c)
    return min(tied, key=complexity)


def tune(
    workload: Workload,
    n_sims: int,
    *,
    budget_trials: int | None = None,
    budget_seconds: float | None = None,
    storage: str | Storage | None = None,
    sampler: str = "auto",
    seed: int | None = None,
    space: SearchSpace | None = None,
    measure_options: MeasureOptions | None = None,
    progress: bool | None = None,
    finalists: int = 3,
) -> TuningReport:
    """Run (or resume) an offline tuning session for one workload on this machine.

    Args:
        workload: what to tune.
        n_sims: simulations per run.
        budget_trials: stop after this many trials (>= 1). ``None``: every valid config with
            brute force, else ``DEFAULT_TRIALS`` unless ``budget_seconds`` is given.
        budget_seconds: stop starting new trials after this many seconds (> 0).
        storage: SQLAlchemy URL, a :class:`Storage`, or None (``AUTOTUNE_STORAGE``, then
            ``sqlite:///./results.db``).
        sampler: ``"auto"`` (brute force when the valid space has at most
            ``BRUTE_FORCE_THRESHOLD`` configs, else TPE), ``"brute"``, ``"tpe"`` (multivariate,
            warm-started with the default config) or ``"random"``.
        seed: seed of the sampler.
        space: a custom :class:`SearchSpace` (default: :func:`autotune.space.search_space`).
        measure_options: see :class:`MeasureOptions`.
        progress: show a progress bar (default: when stderr is a terminal).
        finalists: how many of the fastest configs are re-measured side by side at the end.

    Returns:
        A :class:`TuningReport`. Every measurement, whatever its outcome, is stored.

    Raises:
        ValueError: bad arguments (zero budget, unknown sampler, ...), naming the argument.
        autotune.StorageError: the results database cannot be used.
    """
    workload_kind(workload)
    n_sims = check_int("", "n_sims", n_sims, low=2)
    budget_trials = _check_budget("budget_trials", budget_trials, integer=True)
    budget_seconds = _check_budget("budget_seconds", budget_seconds, integer=False)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    finalists = check_int("", "finalists", finalists, low=1)
    store = storage if isinstance(storage, Storage) else open_storage(storage)
    session = _Session(workload, n_sims, store, space or search_space(workload, n_sims),
                       measure_options or MeasureOptions())
    kind = sampler if sampler != "auto" else ("brute" if len(session.valid) <= BRUTE_FORCE_THRESHOLD else "tpe")
    # Our progress bar and log lines report trials; Optuna's per-trial INFO lines would repeat them.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        session.open(kind, seed, budget_trials, budget_seconds)
        session.search(progress)
        return session.finish(finalists)
    finally:
        optuna.logging.set_verbosity(verbosity)


def _fits_space(storage: optuna.storages.BaseStorage, study_name: str, space: SearchSpace) -> bool:
    """Whether the study ``study_name`` (if it exists) suggested its parameters from the same choices as ``space``."""
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return True
    choices = space.choices()
    for trial in study.get_trials(deepcopy=False):
        for name, dist in trial.distributions.items():
            if isinstance(dist, optuna.distributions.CategoricalDistribution) and name in choices \
                    and tuple(dist.choices) != tuple(choices[name]):
                return False
    return True


class _Session:
    """One tuning session: the study, the store rows, the budget and what has been measured."""

    def __init__(self, workload: Workload, n_sims: int, store: Storage, space: SearchSpace,
                 options: MeasureOptions) -> None:
        self.started = time.perf_counter()
        self.workload, self.n_sims, self.store, self.space, self.options = workload, n_sims, store, space, options
        self.valid = space.enumerate()
        if not self.valid:
            raise ValueError("the search space has no valid config under its constraints")
        self.machine = machine_fingerprint()
        self.features = workload_features(workload, n_sims)
        self.study_name = f"autotune:{self.machine.machine_id}:{self.features.key}"
        self.outcomes: Counter[str] = Counter()
        self.history: list[tuple[int, float, float]] = []
        self.trials = 0

    def open(self, kind: str, seed: int | None, budget_trials: int | None, budget_seconds: float | None) -> None:
        """Create or resume the study, register the rows, queue the configs to try first."""
        self.kind, self.budget_seconds = kind, budget_seconds
        storage = self.store.optuna_storage()
        if not _fits_space(storage, self.study_name, self.space):
            # Optuna cannot change a parameter's choices within a study: another space gets its own study.
            self.study_name = f"{self.study_name}:space-{self.space.signature()}"
        self.study = optuna.create_study(study_name=self.study_name, storage=storage,
                                         direction="minimize", sampler=_make_sampler(kind, seed),
                                         load_if_exists=True)
        self.seen = _Seen.from_study(self.study)
        self.seen.add_stored(self.store, self.machine.machine_id, self.features.key, self.n_sims)
        self.context = register_context(self.store, self.machine, self.features)
        self.session_id = self.store.create_session(
            self.machine.machine_id, self.features.key, n_sims=self.n_sims, study_name=self.study_name,
            sampler=kind, budget={"trials": budget_trials, "seconds": budget_seconds})
        unseen = [c for c in self.valid if self.context.config_id(c) not in self.seen.medians]
        if kind == "brute":
            for c in unseen:  # brute force: every valid config not yet measured, simplest first
                self.study.enqueue_trial(SearchSpace.params_of(c), skip_if_exists=True)
            if budget_trials is None:
                budget_trials = len(unseen)
        else:
            default = Config()
            if default in unseen:  # warm start: the default is the first trial
                self.study.enqueue_trial(SearchSpace.params_of(default), skip_if_exists=True)
            if budget_trials is None and budget_seconds is None:
                budget_trials = DEFAULT_TRIALS
        self.budget_trials = budget_trials
        self.reference = reference_result(self.workload, self.n_sims, seed=self.options.seed)

    def _budget_left(self) -> bool:
        if self.budget_trials is not None and self.trials >= self.budget_trials:
            return False
        if self.budget_seconds is not None and time.perf_counter() - self.started >= self.budget_seconds:
            return False
        return not (self.kind == "brute" and len(self.seen.medians) >= len(self.valid))

    def _run_trial(self) -> None:
        trial = self.study.ask()
        self.trials += 1
        try:
            cfg = self.space.suggest(trial)
        except optuna.TrialPruned:
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            self.outcomes["pruned"] += 1
            return
        cid = self.context.config_id(cfg)
        trial.set_user_attr("config", cfg.to_dict())
        trial.set_user_attr("config_id", cid)
        if cid in self.seen.medians:  # samplers may propose a config again: reuse, never re-measure
            self.outcomes["cached"] += 1
            value = self.seen.medians[cid][1]
        else:
            m = measure(self.workload, self.n_sims, cfg, reference=self.reference, options=self.options)
            record_measurement(self.store, self.context, m, session_id=self.session_id, source="tune")
            self.outcomes[m.outcome.value] += 1
            trial.set_user_attr("outcome", m.outcome.value)
            if m.error:
                trial.set_user_attr("error", m.error[:500])
            value = m.median_s if m.ok else None
            self.seen.medians[cid] = (cfg, value)
        if value is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, value)

    def search(self, progress: bool | None) -> None:
        """Run trials until the budget is spent, recording each one."""
        bar = _progress(self.budget_trials, progress)
        try:
            while self._budget_left():
                self._run_trial()
                done = self.seen.complete()
                best = done[0][1] if done else math.inf
                elapsed = time.perf_counter() - self.started
                self.history.append((self.trials, elapsed, best))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(best=f"{best * 1e3:.2f}ms", elapsed=f"{elapsed:.0f}s", refresh=False)
        finally:
            if bar is not None:
                bar.close()

    def finish(self, finalists: int) -> TuningReport:
        """Re-measure the fastest configs (and the default) side by side, pick, store and report."""
        complete = self.seen.complete()
        if not complete:
            self.store.finish_session(self.session_id, status="failed", report={"outcomes": dict(self.outcomes)})
            raise RuntimeError(f"no config completed in study {self.study_name!r}: {dict(self.outcomes)}")
        default = Config()
        top = [c for c, _ in complete[:finalists]]
        default_ok = self.seen.medians.get(self.context.config_id(default), (None, None))[1] is not None
        candidates = top + ([default] if default_ok and default not in top else [])
        # Side by side, so that drift in machine load hits all candidates alike.
        samples = compare_configs(self.workload, self.n_sims, candidates, rounds=FINAL_ROUNDS, seed=self.options.seed)
        samples = {c: s for c, s in samples.items() if s}
        if not samples:
            self.store.finish_session(self.session_id, status="failed", report={"outcomes": dict(self.outcomes)})
            raise RuntimeError(f"every finalist of study {self.study_name!r} failed when re-measured")
        best = pick_best(samples)
        median = {c: float(statistics.median(s)) for c, s in samples.items()}
        for c, s in samples.items():
            m = Measurement(c, Outcome.COMPLETE, self.n_sims, median_s=median[c], samples=tuple(s))
            record_measurement(self.store, self.context, m, session_id=self.session_id, source="tune")
        search_best = self.seen.medians[self.context.config_id(best)][1]
        report = TuningReport(
            best_config=best,
            best_time_s=median[best],
            default_time_s=median.get(default),
            speedup_over_default=median[default] / median[best] if default in median else None,
            speedup_over_worst=complete[-1][1] / search_best if search_best else None,
            trials=self.trials,
            outcomes=dict(self.outcomes),
            seconds=time.perf_counter() - self.started,
            sampler=self.kind,
            study_name=self.study_name,
            session_id=self.session_id,
            machine_id=self.machine.machine_id,
            workload_key=self.features.key,
            n_sims=self.n_sims,
            finalists=tuple(sorted(median.items(), key=lambda cv: cv[1])),
            history=tuple(self.history),
        )
        self.store.finish_session(self.session_id, status="complete", best_config_id=self.context.config_id(best),
                                  report=report.to_dict())
        log.info("tuning session %s done: %s", self.session_id, report.summary().replace("\n", "; "))
        return report
