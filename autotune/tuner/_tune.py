"""Offline tuning sessions: an Optuna study over the search space, every measurement stored."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import logging
import math
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import optuna

from kernels import MAX_SIMS, Config, Target, Workload, check_int, check_real, workload_kind

from .._errors import TuningError
from .._outcome import Outcome, Source
from ..features import machine_fingerprint, workload_features
from ..measure import Measurement, MeasureOptions, check_options, compare_configs, config_key, measure, reference_result
from ..space import SearchSpace, check_reference, complexity, reproducible_with, search_space, stratum
from ..storage import ResultsLog, Storage, check_workload_name, open_storage
from ._report import TuningReport

if TYPE_CHECKING:
    from ..accuracy import TargetReport

__all__ = ["BRUTE_FORCE_THRESHOLD", "SAMPLERS", "tune"]

log = logging.getLogger(__name__)


def _stats() -> Any:
    """``scipy.stats``, imported on first use (it takes about a second to import)."""
    from scipy import stats

    return stats

#: With ``sampler="auto"``, spaces with at most this many valid configs are searched exhaustively.
BRUTE_FORCE_THRESHOLD = 48
SAMPLERS = ("auto", "brute", "tpe", "random")
#: Default trial budget of a TPE or random session when no budget is given.
DEFAULT_TRIALS = 40
#: Interleaved rounds of the final re-measurement.
FINAL_ROUNDS = 5
#: A RUNNING trial that names no session (its tuner died between ``ask`` and naming it) is failed after this long.
ORPHAN_GRACE_S = 600.0
#: At the end of a session, how long to wait at most for configs other tuners of the study are still measuring.
PEER_WAIT_S = 120.0


@dataclass
class _Seen:
    """What the store already knows for this (machine, workload, n_sims): config id -> (config, median or None).

    Read from the measurements table, the one record of what was measured (Optuna's trials only
    point at it), so configs measured by earlier sessions, over other spaces too, are not measured again.
    """

    medians: dict[str, tuple[Config, float | None]]
    #: config id -> (estimates, standard errors) of its latest measurement that has them
    errors: dict[str, tuple[dict[str, float], dict[str, float]]] = field(default_factory=dict)

    @classmethod
    def from_store(cls, store: Storage, machine_id: str, workload_id: str, n_sims: int,
                   reference: Config | None = None, config_id: str | None = None) -> _Seen:
        found: dict[str, list[float | None]] = {}
        configs: dict[str, Config] = {}
        errors: dict[str, tuple[dict[str, float], dict[str, float]]] = {}
        for m in store.measurements(machine_id=machine_id, workload_id=workload_id, n_sims=n_sims,
                                    source=Source.TUNE, config_id=config_id):
            if (m.config.antithetic or m.config.control_variate) and not (
                    reference is not None and reproducible_with(m.config, reference)):
                continue  # measured for a target (they add work per simulation): not a fixed-n candidate
            configs[m.config_id] = m.config
            if m.ok and m.standard_errors:
                errors[m.config_id] = (dict(m.estimates), dict(m.standard_errors))
            found.setdefault(m.config_id, []).append(m.steady_s if m.ok and m.steady_s is not None else None)
        medians: dict[str, tuple[Config, float | None]] = {}
        for cid, values in found.items():
            done = [v for v in values if v is not None]
            medians[cid] = (configs[cid], float(statistics.median(done)) if done else None)
        return cls(medians, errors)

    def update(self, other: _Seen) -> None:
        """Take what ``other`` (read later from the store) knows."""
        self.medians.update(other.medians)
        self.errors.update(other.errors)

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
        if len(samples[c]) >= 3 and _stats().mannwhitneyu(samples[c], samples[fastest]).pvalue > alpha:
            tied.append(c)
    return min(tied, key=complexity)


def tune(
    workload: Workload,
    n_sims: int | None = None,
    *,
    target: Target | None = None,
    budget_trials: int | None = None,
    budget_seconds: float | None = None,
    storage: str | Storage | None = None,
    sampler: str = "auto",
    seed: int | None = None,
    space: SearchSpace | None = None,
    measure_options: MeasureOptions | None = None,
    progress: bool | None = None,
    finalists: int = 3,
    name: str | None = None,
    reproducible: bool = False,
    reference: Config | None = None,
) -> TuningReport | TargetReport:
    """Run (or resume) an offline tuning session for one workload on this machine.

    Args:
        workload: what to tune.
        n_sims: simulations per run; with a ``target``, the most simulations a run may use.
        target: tune for the least time to this precision (a :class:`kernels.Target`) instead of
            the least time per ``n_sims``: the estimator knobs (qmc, antithetic, control variate)
            join the search, and a :class:`autotune.accuracy.TargetReport` is returned (see
            :mod:`autotune.accuracy`). The budget and space arguments then apply to its
            execution-config session.
        budget_trials: stop after this many trials (>= 1). ``None``: every valid config with
            brute force, else ``DEFAULT_TRIALS`` unless ``budget_seconds`` is given.
        budget_seconds: stop starting new trials after this many seconds (> 0); one config is
            always tried, however small the budget.
        storage: SQLAlchemy URL, a :class:`Storage`, or None (``AUTOTUNE_STORAGE``, then
            ``sqlite:///./results.db``).
        sampler: ``"auto"`` (brute force when the valid space has at most
            ``BRUTE_FORCE_THRESHOLD`` configs, else TPE), ``"brute"``, ``"tpe"`` (multivariate,
            warm-started with the default config) or ``"random"``.
        seed: seed of the sampler.
        space: a custom :class:`SearchSpace` (default: :func:`autotune.space.search_space`).
        measure_options: see :class:`MeasureOptions`; by default every config is measured in its own
            process, so a config that hangs (TIMED_OUT) or crashes (FAILED) is recorded and tuning goes on.
        progress: show a progress bar (default: when stderr is a terminal).
        finalists: how many of the fastest configs are re-measured side by side at the end.
        name: a display name stored with the workload (``autotune runs``, ``instances`` and reports
            show it, and ``runs --workload NAME`` finds it; the Optuna study gets it as the user
            attribute ``workload_name``). The key stays the workload's hash; a workload keeps every
            name it was given, and the latest is shown.
        reproducible: search only configs whose results are bit-identical to the pinned
            ``reference`` (same seed and ``n_sims``): its backend, precision, chunk size and
            estimator (qmc, scrambles, antithetic, control variate) are kept, and only the executor,
            the workers and shared memory are searched (see :func:`autotune.space.reproducible_with`).
            The report's ``default_*`` fields then compare with the reference, not ``Config()``.
            Not with a ``target``: the reproducible class pins the estimator, so tune at a fixed
            ``n_sims``; its configs also run to a target bit-identically.
        reference: the pinned reference of ``reproducible=True`` (default ``Config()``).

    Several processes or machines may tune the same workload into one database at once: they
    share its study, each config is measured by one of them (the first to claim it, see
    :meth:`autotune.storage.Storage.claim_config`), and each picks its best among every
    measurement of the study, after waiting (up to ``PEER_WAIT_S``) for configs the others
    are still measuring.

    Returns:
        A :class:`TuningReport` (a :class:`TargetReport` with a ``target``). Every measurement,
        whatever its outcome, is stored.

    Raises:
        ValueError: bad arguments (zero budget, unknown sampler, ...), naming the argument.
        autotune.TuningError: no config completed.
        autotune.StorageError: the results database cannot be used.
    """
    workload_kind(workload)
    if target is not None and not isinstance(target, Target):
        raise ValueError(f"target must be a kernels.Target or None, got {type(target).__name__}")
    if n_sims is None and target is None:
        raise ValueError("n_sims is required without a target: pass n_sims=... or target=kernels.Target(...)")
    if n_sims is not None:
        n_sims = check_int("", "n_sims", n_sims, low=2, high=MAX_SIMS)
    if target is not None:
        target.names(workload)
    budget_trials = _check_budget("budget_trials", budget_trials, integer=True)
    budget_seconds = _check_budget("budget_seconds", budget_seconds, integer=False)
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    finalists = check_int("", "finalists", finalists, low=1, high=1000)
    if seed is not None:
        seed = check_int("", "seed", seed, low=0, high=2**32 - 1)
    if space is not None and not isinstance(space, SearchSpace):
        raise ValueError(f"space must be an autotune.space.SearchSpace (see autotune.search_space) or None, "
                         f"got {space!r}")
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be True, False or None, got {progress!r}")
    if storage is not None and not isinstance(storage, str | Storage):
        raise ValueError(f"storage must be a database URL, an autotune.storage.Storage or None, got {storage!r}")
    options = check_options(measure_options)
    if name is not None:
        name = check_workload_name(name)
    ref = check_reference(workload, reproducible, reference)
    if ref is not None:
        if target is not None:
            raise ValueError("reproducible=True pins the estimator, so there is nothing to tune for a target: tune at "
                             "a fixed n_sims (tune(workload, n_sims, reproducible=True)); its configs run to a "
                             "target bit-identically too")
        space = _restrict(space, ref) if space is not None else search_space(workload, n_sims, reference=ref)
    with contextlib.ExitStack() as stack:  # a store opened here is closed here
        store = storage if isinstance(storage, Storage) else stack.enter_context(open_storage(storage))
        if target is not None:
            from ..accuracy import tune_to_target

            exec_tuning = {"budget_trials": budget_trials, "budget_seconds": budget_seconds, "sampler": sampler,
                           "space": space, "progress": progress, "finalists": finalists}
            report = tune_to_target(workload, target, store=store, options=options, max_sims=n_sims, seed=seed,
                                    exec_tuning=exec_tuning)
            if name is not None:  # the workload's row exists once a session ran; the key ignores n_sims
                ResultsLog(store, machine_fingerprint()).register_workload(
                    workload_features(workload, n_sims or 2), name=name)
            return report
        return _run_session(_Session(workload, n_sims, store, space or search_space(workload, n_sims), options,
                                     name=name),
                            sampler, seed, budget_trials, budget_seconds, progress, finalists)


def _restrict(space: SearchSpace, ref: Config) -> SearchSpace:
    """``space`` with the knobs ``ref`` pins narrowed to its values (which the space must offer)."""
    if space.reference is not None and space.reference != ref:
        raise ValueError(f"space was built for the reference {space.reference.label()}, not {ref.label()}")
    if ref.method != "mc":
        raise ValueError(f"reference.method={ref.method!r} has no execution knobs to search; a reproducible "
                         "search space needs a Monte Carlo reference (method='mc')")
    for name, value in (("backends", ref.backend), ("precisions", ref.precision), ("chunk_sizes", ref.chunk_size),
                        ("qmc", ref.qmc)):
        if value not in getattr(space, name):
            raise ValueError(f"space.{name}={list(getattr(space, name))} excludes the pinned reference's value "
                             f"{value!r} (reference {ref.label()})")
    return dataclasses.replace(space, backends=(ref.backend,), precisions=(ref.precision,),
                               chunk_sizes=(ref.chunk_size,), qmc=(ref.qmc,), reference=ref)


def _run_session(session: _Session, sampler: str, seed: int | None, budget_trials: int | None,
                 budget_seconds: float | None, progress: bool | None, finalists: int) -> TuningReport:
    store = session.store
    kind = sampler if sampler != "auto" else ("brute" if len(session.valid) <= BRUTE_FORCE_THRESHOLD else "tpe")
    # Our progress bar and log lines report trials; Optuna's per-trial INFO lines would repeat them.
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with store.optuna_errors():  # Optuna's own storage failures (a read-only file, ...) as StorageError
            session.open(kind, seed, budget_trials, budget_seconds)
            session.search(progress)
            return session.finish(finalists)
    except TuningError:
        raise
    except BaseException as exc:  # interrupted or broken: the session must not stay "running"
        with contextlib.suppress(Exception):
            session.fail(f"{type(exc).__name__}: {exc}")
        raise
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


def _fail_orphan_trials(storage: optuna.storages.BaseStorage, study: optuna.Study, store: Storage) -> int:
    """Mark trials left RUNNING by a session that is no longer running (its process died) as FAIL.

    Other tuners may share the study: a RUNNING trial of a ``running`` session is theirs, and so
    is one that names no session yet (a tuner names it just after ``ask``), unless it has been
    running for ``ORPHAN_GRACE_S``. Failing such a trial under a live tuner would make its
    ``tell`` fail with ``UpdateFinishedTrialError``.
    """
    states: dict[int, str | None] = {}
    study_id = storage.get_study_id_from_name(study.study_name)
    now = datetime.datetime.now()  # Optuna stores naive local times
    failed = 0
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        sid = trial.user_attrs.get("session_id")
        if isinstance(sid, int):
            if sid not in states:
                row = store.tuning_session(sid)
                states[sid] = None if row is None else row.status
            if states[sid] == "running":
                continue
        elif trial.datetime_start is None or (now - trial.datetime_start).total_seconds() < ORPHAN_GRACE_S:
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        with contextlib.suppress(optuna.exceptions.UpdateFinishedTrialError):  # finished meanwhile
            storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
            failed += 1
    return failed


def _stratum_heads(configs: list[Config]) -> set[Config]:
    """The first config of each backend x executor pair in ``configs``."""
    heads: dict[tuple[str, str], Config] = {}
    for c in configs:
        heads.setdefault(stratum(c), c)
    return set(heads.values())


def _queued(study: optuna.Study) -> list[dict[str, object]]:
    """The params of the study's WAITING (enqueued, not yet started) trials."""
    return [t.system_attrs.get("fixed_params", t.params)
            for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,))]


class _Session:
    """One tuning session: the study, the store rows, the budget and what has been measured."""

    def __init__(self, workload: Workload, n_sims: int, store: Storage, space: SearchSpace,
                 options: MeasureOptions, *, name: str | None = None) -> None:
        self.started = time.perf_counter()
        self.name = name
        self.workload, self.n_sims, self.store, self.space, self.options = workload, n_sims, store, space, options
        self.valid = space.search_order()  # every backend x executor pair first: a budget cut still covers them
        if not self.valid:
            raise ValueError("the search space has no valid config under its constraints")
        self.valid_ids = {config_key(c) for c in self.valid}
        self.machine = machine_fingerprint()
        self.features = workload_features(workload, n_sims)
        self.log = ResultsLog(store, self.machine)
        self.study_name = f"autotune:{self.machine.machine_id}:{self.features.key}"
        self.outcomes: Counter[str] = Counter()
        self.history: list[tuple[int, float, float]] = []
        self.trials = 0
        self.session_id: int | None = None
        #: configs of the space measured before this session (read at open): skipped, never measured again
        self.skipped = 0
        #: config id -> outcome of the configs of the space measured in this session
        self.measured: dict[str, Outcome] = {}
        #: what the report compares with: the default config, or the pinned reference in reproducible mode
        self.baseline = space.reference if space.reference is not None else Config()
        #: configs of the space that other tuners of the study measured, or are measuring, during this session
        self.shared: set[str] = set()
        #: trials that measured nothing (a config already measured, or being measured by another tuner)
        self.free = 0

    def open(self, kind: str, seed: int | None, budget_trials: int | None, budget_seconds: float | None) -> None:
        """Create or resume the study, register the rows, queue the configs to try first."""
        self.kind, self.budget_seconds, self.budget_trials_given = kind, budget_seconds, budget_trials
        # First: a workload this machine cannot run (memory, float32 range) fails before any row is written.
        self.reference = reference_result(self.workload, self.n_sims, seed=self.options.seed)
        storage = self.store.optuna_storage()
        if not _fits_space(storage, self.study_name, self.space):
            # Optuna cannot change a parameter's choices within a study: another space gets its own study.
            self.study_name = f"{self.study_name}:space-{self.space.signature()}"
        self.study = optuna.create_study(study_name=self.study_name, storage=storage,
                                         direction="minimize", sampler=_make_sampler(kind, seed),
                                         load_if_exists=True)
        self.log.register_workload(self.features, name=self.name)
        if self.name is not None:
            self.study.set_user_attr("workload_name", self.name)
        dead = self.store.fail_dead_sessions(self.machine.machine_id, self.features.key)
        orphans = _fail_orphan_trials(storage, self.study, self.store)
        if dead or orphans:
            log.warning("resuming after %d dead session(s): %d trial(s) left running were marked failed",
                        len(dead), orphans)
        self.seen = _Seen.from_store(self.store, self.machine.machine_id, self.features.key, self.n_sims,
                                     self.space.reference)
        self.known_at_open = set(self.seen.medians)
        self.session_id = self.store.create_session(
            self.machine.machine_id, self.features.key, n_sims=self.n_sims, study_name=self.study_name,
            sampler=kind, budget={"trials": budget_trials, "seconds": budget_seconds})
        unseen = [c for c in self.valid if config_key(c) not in self.seen.medians]
        self.skipped = len(self.valid) - len(unseen)
        queued = _queued(self.study)
        if kind == "brute":
            # brute force: every valid config not yet measured nor queued, in coverage order (the default,
            # then one config of each backend x executor pair, then their refinements)
            seeds = unseen
            if budget_trials is None:
                budget_trials = len(unseen)
        else:
            # warm start: the default, then the simplest config of each backend x executor pair
            heads = _stratum_heads(self.valid)
            seeds = [c for c in unseen if c in heads]
            if budget_trials is None and budget_seconds is None:
                budget_trials = DEFAULT_TRIALS
        for c in seeds:
            if SearchSpace.params_of(c) not in queued:
                self.study.enqueue_trial(SearchSpace.params_of(c))
        self.budget_trials = budget_trials

    def fail(self, why: str) -> None:
        """Mark the session failed (it stopped before finishing)."""
        if self.session_id is not None:
            self.store.finish_session(self.session_id, status="failed",
                                      report={"outcomes": dict(self.outcomes), "failed_reason": why,
                                              **self.coverage()})

    def coverage(self) -> dict[str, int]:
        """How much of the space this session has examined: the :class:`TuningReport` coverage fields."""
        failed = sum(o in (Outcome.FAILED, Outcome.TIMED_OUT) for o in self.measured.values())
        return {"space_size": len(self.valid), "configs_measured": len(self.measured) - failed,
                "configs_failed": failed, "configs_skipped": self.skipped + len(self.shared)}

    def report_coverage(self) -> None:
        """Log how much of the space the search examined: a WARNING when a budget cut brute force short."""
        cov = self.coverage()
        size = cov["space_size"]
        examined = cov["configs_measured"] + cov["configs_failed"] + cov["configs_skipped"]
        share = f"{examined} of {size} configs ({examined / size:.0%})"
        if examined >= size:
            log.info("%s search examined all %d configs of the space", self.kind, size)
        elif self.kind != "brute":  # a sampler is meant to examine part of the space
            log.info("%s search examined %s", self.kind, share)
        else:
            if self.budget_trials_given is not None and self.trials >= self.budget_trials_given:
                budget = f"budget of {self.budget_trials_given} trials"
            elif self.budget_seconds is not None:
                budget = f"budget of {self.budget_seconds:g} s"
            else:
                budget = f"search of {self.trials} trials"
            log.warning("%s examined %s; raise --budget-trials or --budget-seconds to cover the rest",
                        budget, share)

    def _budget_left(self) -> bool:
        # Brute force counts the trials that measured something: with other tuners on the study, many
        # of its trials find their config measured (or being measured) by another, and cost nothing.
        spent = self.trials - self.free if self.kind == "brute" else self.trials
        if self.budget_trials is not None and spent >= self.budget_trials:
            return False
        # A budget in seconds still tries one config: setting up (the reference run, a first compile)
        # may take longer than a small budget, and a session that measured nothing has nothing to report.
        if (self.budget_seconds is not None and (self.measured or self.seen.complete())
                and time.perf_counter() - self.started >= self.budget_seconds):
            return False
        if self.kind == "brute" and self.free > 10 * len(self.valid) + 100:  # the queue and sampler keep repeating
            return False
        return not (self.kind == "brute" and self.skipped + len(self.measured) + len(self.shared) >= len(self.valid))

    def _refresh(self, cid: str) -> None:
        """Read what the store holds for config ``cid`` (another tuner of the study may have measured it)."""
        self.seen.update(_Seen.from_store(self.store, self.machine.machine_id, self.features.key, self.n_sims,
                                          self.space.reference, config_id=cid))

    def _reuse(self, cid: str) -> float | None:
        """The stored median of a config measured before (by this session, an earlier one, or another tuner)."""
        self.outcomes["cached"] += 1
        self.free += 1
        if cid in self.valid_ids and cid not in self.known_at_open and cid not in self.measured:
            self.shared.add(cid)
        return self.seen.medians[cid][1]

    def _tell(self, trial: optuna.Trial, value: float | None, state: optuna.trial.TrialState | None = None) -> None:
        # skip_if_finished: a trial failed meanwhile as an orphan (say, by a tuner that took this process for
        # dead) is left as it is, with a warning from Optuna, instead of raising UpdateFinishedTrialError.
        if state is not None:
            self.study.tell(trial, state=state, skip_if_finished=True)
        elif value is None:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL, skip_if_finished=True)
        else:
            self.study.tell(trial, value, skip_if_finished=True)

    def _run_trial(self) -> None:
        trial = self.study.ask()
        trial.set_user_attr("session_id", self.session_id)
        self.trials += 1
        try:
            cfg = self.space.suggest(trial)
        except optuna.TrialPruned:
            self._tell(trial, None, optuna.trial.TrialState.PRUNED)
            self.outcomes["pruned"] += 1
            return
        cid = config_key(cfg)
        if cid not in self.seen.medians:
            self._refresh(cid)
        holder = None
        if cid not in self.seen.medians:
            # Claim it: of the tuners sharing the study, the first to claim a config measures it.
            holder = self.store.claim_config(self.machine.machine_id, self.features.key, self.n_sims, cfg,
                                             self.session_id)
            if holder is not None:
                self._refresh(cid)  # measured between our look and our claim?
        if cid in self.seen.medians:  # samplers may propose a config again: reuse, never re-measure
            value = self._reuse(cid)
        elif holder is not None:
            # Another tuner is measuring it now: go on; its result is read at the end (finish).
            log.debug("config %s is being measured by tuning session %s", cid, holder)
            self.outcomes["taken"] += 1
            self.free += 1
            if cid in self.valid_ids:
                self.shared.add(cid)
            self._tell(trial, None, optuna.trial.TrialState.PRUNED)
            return
        else:
            m = measure(self.workload, self.n_sims, cfg, reference=self.reference, options=self.options)
            (m,) = self.log.write(self.features, [m], source=Source.TUNE, session_id=self.session_id)
            trial.set_user_attr("measurement_uid", m.uid)
            if m.ok:
                self.seen.errors[cid] = (m.estimates, m.standard_errors)
            self.outcomes[m.outcome.value] += 1
            if cid in self.valid_ids:
                self.measured[cid] = m.outcome
            value = m.steady_s if m.ok else None
            self.seen.medians[cid] = (cfg, value)
        self._tell(trial, value)

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
        self.report_coverage()

    def _wait_for_peers(self) -> None:
        """Wait (up to ``PEER_WAIT_S``, or the per-config time limit) for configs other tuners are measuring."""
        limit = PEER_WAIT_S if self.options.timeout_s is None else max(PEER_WAIT_S, self.options.timeout_s)
        deadline = time.perf_counter() + limit
        pending = self.store.pending_claims(self.machine.machine_id, self.features.key, self.n_sims,
                                            other_than=self.session_id)
        if pending:
            log.info("waiting for %d config(s) other tuners of study %s are measuring", pending, self.study_name)
        while pending and time.perf_counter() < deadline:
            time.sleep(0.2)
            pending = self.store.pending_claims(self.machine.machine_id, self.features.key, self.n_sims,
                                                other_than=self.session_id)
        if pending:
            log.warning("%d config(s) other tuners claimed were still not measured after %.0f s; "
                        "choosing among the rest", pending, limit)

    def finish(self, finalists: int) -> TuningReport:
        """Re-measure the fastest configs of the whole study (and the default) side by side, pick, store and report.

        The finalists come from every measurement of this (machine, workload, n_sims), read again
        now: other tuners sharing the study may have measured the fastest configs.
        """
        self._wait_for_peers()
        self.seen.update(_Seen.from_store(self.store, self.machine.machine_id, self.features.key, self.n_sims,
                                          self.space.reference))
        complete = self.seen.complete()
        if not complete:
            self.fail("no config completed")
            raise TuningError(f"no config completed in study {self.study_name!r}: {dict(self.outcomes)}")
        default = self.baseline
        if self.space.reference is not None:  # measured before over a wider space: only the class may win
            complete = [(c, v) for c, v in complete if reproducible_with(c, self.space.reference)]
            if not complete:
                self.fail("no config of the reproducible class completed")
                raise TuningError(f"no config bit-identical to the reference {default.label()} completed in study "
                                  f"{self.study_name!r}: {dict(self.outcomes)}")
        top = [c for c, _ in complete[:finalists]]
        default_ok = self.seen.medians.get(config_key(default), (None, None))[1] is not None
        candidates = top + ([default] if default_ok and default not in top else [])
        # Side by side, so that drift in machine load hits all candidates alike.
        samples = compare_configs(self.workload, self.n_sims, candidates, rounds=FINAL_ROUNDS, seed=self.options.seed)
        samples = {c: s for c, s in samples.items() if s}
        if not samples:
            self.fail("every finalist failed when re-measured")
            raise TuningError(f"every finalist of study {self.study_name!r} failed when re-measured")
        best = pick_best(samples)
        median = {c: float(statistics.median(s)) for c, s in samples.items()}
        no_errors: tuple[dict[str, float], dict[str, float]] = ({}, {})
        self.log.write(self.features, [
            Measurement(config=c, outcome=Outcome.COMPLETE, n_sims=self.n_sims, steady_s=median[c], samples=tuple(s),
                        estimates=self.seen.errors.get(config_key(c), no_errors)[0],
                        standard_errors=self.seen.errors.get(config_key(c), no_errors)[1])
            for c, s in samples.items()], source=Source.TUNE, session_id=self.session_id)
        search_best = self.seen.medians[config_key(best)][1]
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
            **self.coverage(),
            finalists=tuple(sorted(median.items(), key=lambda cv: cv[1])),
            history=tuple(self.history),
        )
        self.store.finish_session(self.session_id, status="complete", best_config_id=config_key(best),
                                  report=report.to_dict())
        log.info("tuning session %s done: %s", self.session_id, report.summary().replace("\n", "; "))
        return report
