"""Per-process state behind ``tuned_simulate``: caches, the model, and a background recorder.

Everything here exists so that the decision path stays cheap: the store, the machine
fingerprint, workload features, candidate configs, cache entries and the model are looked up
once and kept; measurements are written by a background thread, so a call never waits for
the database.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import queue
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from kernels import Config, Workload

from .._outcome import Outcome, Source
from ..features import MachineFingerprint, WorkloadFeatures, machine_fingerprint, workload_features
from ..measure import Measurement
from ..space import search_space
from ..storage import ResultsLog, Storage, open_storage

log = logging.getLogger(__name__)

#: How often (seconds) a process looks for a newer model in the store.
MODEL_CHECK_INTERVAL_S = 30.0
#: Retrain in the background once this many new complete rows exist beyond the model's training set
#: (and at least ``RETRAIN_FRACTION`` more than it had).
RETRAIN_MIN_NEW_ROWS = 200
RETRAIN_FRACTION = 0.2
#: The recorder looks at the row count once every this many written measurements.
RETRAIN_CHECK_EVERY = 50
#: The recorder writes at most this many queued measurements in one transaction.
RECORD_BATCH = 2000
#: At exit, the recorder waits this long at most for queued measurements to be written (then warns).
EXIT_FLUSH_TIMEOUT_S = 300.0


@dataclass
class CacheEntry:
    """The measured best config of a (machine, workload): from the latest complete tuning session.

    ``first_call_s`` is each config's median first call in the session (its one-off costs: compiling,
    starting a pool, plus one run), and ``steady_s`` its steady-state time in the session's final
    side-by-side re-measurement, for the tuned best and the default config, where the session has them.
    """

    session_id: int
    config: Config
    best_time_s: float | None
    first_call_s: dict[Config, float] = field(default_factory=dict)
    steady_s: dict[Config, float] = field(default_factory=dict)

    def total_s(self, config: Config, calls: int, paid: bool) -> float | None:
        """Expected seconds of ``calls`` calls of ``config``: its one-off cost (unless already ``paid`` in
        this process) plus ``calls`` steady runs; None where the session did not measure it."""
        steady = self.steady_s.get(config)
        if steady is None:
            return None
        once = 0.0 if paid else max(self.first_call_s.get(config, steady) - steady, 0.0)
        return once + calls * steady


@dataclass
class WorkloadState:
    features: WorkloadFeatures
    name: str | None = None  # the display name given by the latest call (tuned_simulate(..., name=...))
    cache: CacheEntry | None = None
    cache_loaded: bool = False
    candidates: list[Config] | None = None
    calls: int = 0
    explored: int = 0
    drifted: int = 0
    ran: set[Config] = field(default_factory=set)  # configs this process has run on this workload
    # Runs to a target (the state at accuracy.TARGET_KEY_SIMS): per target, read or measured once per process.
    target_cache: dict[Any, CacheEntry | None] = field(default_factory=dict)
    pilots: dict[Any, Any] = field(default_factory=dict)  # target -> accuracy.pilot_choice(...)
    fft_missed: dict[Any, str] = field(default_factory=dict)  # target -> why the FFT try did not reach it
    target_models: dict[Any, Any] = field(default_factory=dict)  # target -> model.choose_for_target(...)
    # Reproducible mode, per pinned reference: the cache tier's in-class choice, and the model's candidates.
    reproducible_cache: dict[Any, Any] = field(default_factory=dict)
    reproducible_candidates: dict[Any, list[Config]] = field(default_factory=dict)


@dataclass
class Runtime:
    """State for one storage URL in this process."""

    url: str | None
    store: Storage | None = None
    error: str | None = None
    machine: MachineFingerprint | None = None
    workloads: dict[tuple[Workload, int], WorkloadState] = field(default_factory=dict)
    model: Any = None
    model_id: int | None = None
    model_n_rows: int = 0
    model_checked_at: float = -1e9
    failed_model_id: int | None = None
    error_model: Any = None
    error_model_id: int | None = None
    failed_error_model_id: int | None = None
    error_model_checked_at: float = -1e9
    results: ResultsLog | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    recorder: Recorder | None = None
    retraining: bool = False

    def open(self) -> Storage | None:
        """The store, opened on first use; None (and ``error`` set) when it cannot be used."""
        if self.store is None and self.error is None:
            try:
                self.store = open_storage(self.url)
            except Exception as exc:  # the user's result matters more than the database
                self.error = f"{type(exc).__name__}: {exc}"
        return self.store

    def fingerprint(self) -> MachineFingerprint:
        if self.machine is None:
            self.machine = machine_fingerprint()
        return self.machine

    def workload(self, workload: Workload, n_sims: int) -> WorkloadState:
        key = (workload, n_sims)
        state = self.workloads.get(key)
        if state is None:
            state = self.workloads[key] = WorkloadState(workload_features(workload, n_sims))
        return state

    def cache_entry(self, state: WorkloadState) -> CacheEntry | None:
        """The tuned best for this machine and workload (read from the store once per process)."""
        if not state.cache_loaded and self.open() is not None:
            try:
                found = self.store.best_tuned(self.fingerprint().machine_id, state.features.key)
            except Exception as exc:
                log.warning("autotune: cannot read the tuning cache (%s); using the model or the default", exc)
                found = None
            if found is not None:
                session_id, knobs, best = found
                try:
                    state.cache = self._with_costs(CacheEntry(session_id, Config.from_dict(knobs), best))
                except ValueError:  # a config this version cannot use
                    state.cache = None
            state.cache_loaded = True
        return state.cache

    def _with_costs(self, entry: CacheEntry) -> CacheEntry:
        """The entry with the steady times of its best and of the default config from the session's final
        side-by-side re-measurement (its report), and their median first calls from its measurements."""
        try:
            row = self.store.tuning_session(entry.session_id)
            rows = self.store.measurements(session_id=entry.session_id, outcome="complete")
        except Exception as exc:
            log.warning("autotune: cannot read the tuning session's one-off costs (%s)", exc)
            return entry
        report = row.report if row is not None and isinstance(row.report, dict) else {}
        for config, steady in ((entry.config, entry.best_time_s), (Config(), report.get("default_time_s"))):
            if isinstance(steady, (int, float)) and not isinstance(steady, bool) and steady > 0:
                entry.steady_s[config] = float(steady)
            first = [m.first_call_s for m in rows if m.config == config and m.first_call_s is not None]
            if first:
                entry.first_call_s[config] = statistics.median(first)
        return entry

    def target_cache_entry(self, state: WorkloadState, target: Any) -> CacheEntry | None:
        """The best of the latest session tuned for ``target`` (read from the store once per process)."""
        if target not in state.target_cache and self.open() is not None:
            found = self.store.best_tuned(self.fingerprint().machine_id, state.features.key, target=target.to_dict())
            entry = None
            if found is not None:
                try:
                    entry = CacheEntry(found[0], Config.from_dict(found[1]), found[2])
                except ValueError:  # a config this version cannot use
                    entry = None
            state.target_cache[target] = entry
        return state.target_cache.get(target)

    def candidates(self, state: WorkloadState, workload: Workload, n_sims: int) -> list[Config]:
        if state.candidates is None:
            state.candidates = search_space(workload, n_sims, cores=self.fingerprint().usable_cores).enumerate()
        return state.candidates

    def current_model(self) -> Any:
        """The latest stored model (checked at most every ``MODEL_CHECK_INTERVAL_S``), or None."""
        now = time.monotonic()
        if now - self.model_checked_at < MODEL_CHECK_INTERVAL_S or self.open() is None:
            return self.model
        self.model_checked_at = now
        from ..model import ForestPredictor
        from ..model._persist import from_row  # numpy alone: no scikit-learn import to decide

        row = None
        try:
            row = self.store.latest_model("default")
            if row is not None and row.id not in (self.model_id, self.failed_model_id):
                self.model = from_row(row, ForestPredictor)
                self.model_id, self.model_n_rows = row.id, row.n_rows
        except Exception as exc:  # a missing, corrupt or mismatched model means no model
            log.warning("autotune: cannot use the stored model (%s); using the default config", exc)
            self.model, self.model_id = None, None
            if row is not None:  # not retried by this process: a bad row stays bad
                self.failed_model_id = row.id
        return self.model

    def current_error_model(self) -> Any:
        """The latest stored learned error model (``"errors"``, checked at most every
        ``MODEL_CHECK_INTERVAL_S``), or None."""
        now = time.monotonic()
        if now - self.error_model_checked_at < MODEL_CHECK_INTERVAL_S or self.open() is None:
            return self.error_model
        self.error_model_checked_at = now
        from ..model._errors_store import error_model_from_row  # numpy alone

        row = None
        try:
            row = self.store.latest_model("errors")
            if row is None:
                self.error_model, self.error_model_id = None, None
            elif row.id not in (self.error_model_id, self.failed_error_model_id):
                self.error_model, self.error_model_id = error_model_from_row(row), row.id
        except Exception as exc:  # a corrupt or mismatched model means no model tier
            log.warning("autotune: cannot use the stored error model (%s); using the pilots", exc)
            self.error_model, self.error_model_id = None, None
            if row is not None:  # not retried by this process: a bad row stays bad
                self.failed_error_model_id = row.id
        return self.error_model

    def results_log(self) -> ResultsLog | None:
        """The writer of this process's online measurements (None when the store cannot be used)."""
        if self.results is None and self.open() is not None:
            self.results = ResultsLog(self.store, self.fingerprint())
        return self.results

    def record(self, state: WorkloadState, m: Measurement, *, stale_session: int | None = None,
               stale_reason: str = "") -> None:
        """Queue a measurement for the background writer (never blocks on the database)."""
        if self.recorder is None:
            with self.lock:
                if self.recorder is None:
                    self.recorder = Recorder(self)
        self.recorder.put((state, m, stale_session, stale_reason))


class Recorder:
    """A daemon thread that writes measurements in batches, marks stale sessions and triggers retraining.

    Nothing queued is lost at exit: :meth:`flush_at_exit` runs from ``atexit`` and from
    ``multiprocessing``'s exit hooks (a pool or ``Process`` child does not run ``atexit``) and waits
    for every queued row, up to ``EXIT_FLUSH_TIMEOUT_S``; should that ever pass, it warns with the
    number of rows that were not written.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.queue: queue.Queue = queue.Queue()
        self.warned = False
        self.written = 0
        self.dropped = 0
        self.thread = threading.Thread(target=self._loop, name="autotune-recorder", daemon=True)
        self.thread.start()
        atexit.register(self.flush_at_exit)
        multiprocessing.util.Finalize(self, self.flush_at_exit, exitpriority=100)

    def put(self, item: tuple) -> None:
        self.queue.put(item)

    def flush(self, timeout: float | None = None) -> int:
        """Wait until every queued measurement is written (or ``timeout`` passes); return how many are left."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.queue.unfinished_tasks and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.002)
        return self.queue.unfinished_tasks

    def flush_at_exit(self) -> None:
        left = self.flush(EXIT_FLUSH_TIMEOUT_S)
        if left:
            log.warning("autotune: %d measurements were not recorded: the results database did not take them "
                        "within %.0f s of exit", left, EXIT_FLUSH_TIMEOUT_S)
        if self.dropped:
            log.warning("autotune: %d measurements of this process were not recorded: the results database "
                        "refused them (see the first warning for why)", self.dropped)
            self.dropped = 0  # said once, whichever exit hook runs first

    def _loop(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < RECORD_BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                self._write(batch)
            except Exception as exc:  # a read-only or broken database must not break the user's calls
                self.dropped += len(batch)
                if not self.warned:
                    log.warning("autotune: could not record %d measurements (%s); results are unaffected",
                                len(batch), exc)
                    self.warned = True
            finally:
                for _ in batch:
                    self.queue.task_done()

    def _write(self, batch: list[tuple]) -> None:
        rt = self.runtime
        results = rt.results_log()
        if results is None:
            self.dropped += len(batch)
            return
        results.write_batch([(state.features, m) for state, m, _, _ in batch], source=Source.ONLINE)
        for state in {id(state): state for state, _, _, _ in batch}.values():
            if state.name is not None:  # once per (workload, name) and process: ResultsLog remembers
                results.register_workload(state.features, name=state.name)
        for _, _, stale_session, reason in batch:
            if stale_session is not None:
                rt.store.mark_session_stale(stale_session, reason=reason)
        before, self.written = self.written, self.written + len(batch)
        if self.written // RETRAIN_CHECK_EVERY > before // RETRAIN_CHECK_EVERY \
                and any(m.outcome is Outcome.COMPLETE for _, m, _, _ in batch):
            self._maybe_retrain(rt.store)

    def _maybe_retrain(self, store: Storage) -> None:
        rt = self.runtime
        if rt.retraining or rt.model_id is None:
            return
        n_rows = store.count_measurements(outcome=Outcome.COMPLETE, steady=True)  # what training uses
        new = n_rows - rt.model_n_rows
        if new < RETRAIN_MIN_NEW_ROWS or new < RETRAIN_FRACTION * rt.model_n_rows:
            return
        rt.retraining = True

        def retrain() -> None:
            from ..model import train

            try:
                train(store)
                rt.model_checked_at = -1e9  # pick the new model up at the next call
                log.info("autotune: retrained the model on %d rows", n_rows)
            except Exception as exc:
                log.warning("autotune: background retraining failed: %s", exc)
            finally:
                rt.retraining = False

        threading.Thread(target=retrain, name="autotune-retrain", daemon=True).start()


_RUNTIMES: dict[str | None, Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def runtime(url: str | None) -> Runtime:
    """The process's runtime state for a storage URL (None: ``AUTOTUNE_STORAGE`` or ./results.db)."""
    rt = _RUNTIMES.get(url)
    if rt is None:
        with _RUNTIMES_LOCK:
            rt = _RUNTIMES.setdefault(url, Runtime(url))
    return rt


def flush(url: str | None = None, timeout: float | None = None) -> int:
    """Wait for queued measurements to be written (all runtimes, or one storage URL's).

    Returns:
        How many were still queued when ``timeout`` passed (0: all written).
    """
    left = 0
    for key, rt in list(_RUNTIMES.items()):
        if (url is None or key == url) and rt.recorder is not None:
            left += rt.recorder.flush(timeout)
    return left


def reset() -> None:
    """Forget every cached store, model and decision in this process (tests; after re-tuning)."""
    flush()
    with _RUNTIMES_LOCK:
        _RUNTIMES.clear()
