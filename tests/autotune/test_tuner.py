"""Offline tuning sessions: outcomes recorded, failures survived, resume, bad input, concurrent writers."""

from __future__ import annotations

import multiprocessing as mp

import optuna
import pytest

from autotune import Outcome, Source, StorageError, TuningError
from autotune.measure import MeasureOptions
from autotune.space import search_space
from autotune.storage import open_storage
from autotune.tuner import pick_best, tune
from kernels import Config, EuropeanOption, Gamma, Poisson, PolicyGroup, Portfolio

from .conftest import FAST

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)
PORTFOLIO = Portfolio([PolicyGroup(20, Poisson(0.5), Gamma(2.0, 100.0))])


def small_space(workload, n_sims, **kwargs):
    args = {"backends": ("numpy",), "executors": ("serial", "threads"), "qmc": (False,), "chunk_sizes": (None, 4096)}
    args.update(kwargs)
    return search_space(workload, n_sims, cores=2, **args)


def test_brute_force_session_measures_every_config_and_reports(db_url: str) -> None:
    space = small_space(EURO, 20_000)
    n_valid = len(space.enumerate())
    report = tune(EURO, 20_000, storage=db_url, space=space, measure_options=FAST, progress=False)
    assert report.sampler == "brute" and report.trials == n_valid
    assert report.outcomes == {"complete": n_valid}
    assert space.is_valid(report.best_config)
    assert report.speedup_over_default > 0 and report.speedup_over_worst >= 1
    assert report.default_time_s is not None and report.best_time_s > 0
    store = open_storage(db_url)
    rows = store.measurements(session_id=report.session_id)
    assert len(rows) == n_valid + len(report.finalists)
    assert all(r.ok and r.steady_s > 0 and r.source is Source.TUNE for r in rows)
    assert {r.config for r in rows[:n_valid]} == set(space.enumerate())
    assert all(r.first_call_s is not None and r.accuracy_z is not None for r in rows[:n_valid])  # harness rows
    session = store.tuning_session(report.session_id)
    assert session.status == "complete" and session.report["best_config"] == report.best_config.to_dict()
    # the Optuna study lives in the same database, for optuna-dashboard; its trials point at our rows
    study = optuna.load_study(study_name=report.study_name, storage=db_url)
    assert len(study.trials) == n_valid
    by_uid = {r.uid: r for r in rows}
    for trial in study.trials:
        assert set(trial.user_attrs) == {"session_id", "measurement_uid"}
        assert trial.user_attrs["session_id"] == report.session_id
        assert trial.value == by_uid[trial.user_attrs["measurement_uid"]].steady_s


def test_failing_and_hanging_configs_are_recorded_and_the_session_goes_on(db_url: str) -> None:
    space = small_space(EURO, 20_000, backends=("numpy", "failing", "hanging"), executors=("serial",),
                        chunk_sizes=(None,))
    options = MeasureOptions(isolate=True, timeout_s=4, min_repeats=2, max_repeats=3, min_total_s=0.0)
    report = tune(EURO, 20_000, storage=db_url, space=space, measure_options=options, progress=False)
    assert report.outcomes == {"complete": 2, "failed": 2, "timed_out": 2}
    assert report.best_config.backend == "numpy"
    rows = open_storage(db_url).measurements(session_id=report.session_id)
    failed = [r for r in rows if r.outcome is Outcome.FAILED]
    assert failed and all("always fails" in r.error for r in failed)
    assert sum(r.outcome is Outcome.TIMED_OUT for r in rows) == 2
    assert all(r.steady_s is None and r.source is Source.TUNE for r in rows if not r.ok)


def test_nothing_completing_is_a_tuning_error_and_fails_the_session(db_url: str) -> None:
    space = small_space(EURO, 20_000, backends=("failing",), executors=("serial",), chunk_sizes=(None,))
    with pytest.raises(TuningError, match="no config completed"):
        tune(EURO, 20_000, storage=db_url, space=space, measure_options=FAST, progress=False)
    with open_storage(db_url) as store:
        rows = store.measurements()
        assert rows and all(r.outcome is Outcome.FAILED for r in rows)
        session = store.tuning_session(rows[0].session_id)
        assert session is not None and session.status == "failed"
        assert session.report["failed_reason"] == "no config completed"


def test_rejected_configs_are_never_recommended(db_url: str) -> None:
    space = small_space(EURO, 100_000, backends=("numpy", "biased"), executors=("serial",), chunk_sizes=(None,))
    report = tune(EURO, 100_000, storage=db_url, space=space, measure_options=FAST, progress=False)
    assert report.outcomes.get("rejected") == 2
    assert report.best_config.backend == "numpy"
    assert all(c.backend == "numpy" for c, _ in report.finalists)


def test_sessions_resume_their_study(db_url: str) -> None:
    space = small_space(PORTFOLIO, 20_000)
    n_valid = len(space.enumerate())
    first = tune(PORTFOLIO, 20_000, storage=db_url, space=space, budget_trials=3, measure_options=FAST,
                 progress=False)
    second = tune(PORTFOLIO, 20_000, storage=db_url, space=space, measure_options=FAST, progress=False)
    assert first.study_name == second.study_name
    assert first.trials == 3 and second.trials == n_valid - 3  # nothing measured twice
    study = optuna.load_study(study_name=second.study_name, storage=db_url)
    assert len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]) == n_valid


def test_resuming_over_another_space_neither_fails_nor_measures_again(db_url: str) -> None:
    """Optuna cannot change a parameter's choices inside a study: a session over a wider space gets a
    study of its own, and still skips every config an earlier session measured."""
    narrow = small_space(PORTFOLIO, 20_000)
    wide = small_space(PORTFOLIO, 20_000, backends=("numpy", "numba"))
    first = tune(PORTFOLIO, 20_000, storage=db_url, space=narrow, measure_options=FAST, progress=False)
    second = tune(PORTFOLIO, 20_000, storage=db_url, space=wide, sampler="brute", measure_options=FAST,
                  progress=False)
    assert second.study_name == f"{first.study_name}:space-{wide.signature()}" != first.study_name
    assert narrow.signature() != wide.signature() == small_space(PORTFOLIO, 20_000, backends=("numpy", "numba")
                                                                 ).signature()
    assert first.trials == len(narrow.enumerate())
    assert second.trials == len(wide.enumerate()) - len(narrow.enumerate())  # the numba configs only
    with open_storage(db_url) as store:
        searched = [m for m in store.measurements(session_id=second.session_id) if m.accuracy_z is not None]
    assert {m.config_id for m in searched}.isdisjoint(
        {m.config_id for m in store.measurements(session_id=first.session_id)})


def test_tpe_session_starts_from_the_default_and_respects_the_budget(db_url: str) -> None:
    space = small_space(EURO, 20_000, qmc=(False, True), chunk_sizes=(None, 4096, 16384),
                        backends=("numpy", "numba"), executors=("serial", "threads", "processes"))
    assert len(space.enumerate()) > 48
    report = tune(EURO, 20_000, storage=db_url, space=space, budget_trials=6, measure_options=FAST,
                  progress=False, seed=1)
    assert report.sampler == "tpe" and report.trials == 6
    study = optuna.load_study(study_name=report.study_name, storage=db_url)
    with open_storage(db_url) as store:
        [first] = [m for m in store.measurements(session_id=report.session_id)
                   if m.uid == study.trials[0].user_attrs["measurement_uid"]]
    assert first.config == Config()


def test_budget_in_seconds_stops_the_search(db_url: str) -> None:
    space = small_space(EURO, 20_000, qmc=(False, True), chunk_sizes=(None, 4096, 16384),
                        backends=("numpy", "numba"), executors=("serial", "threads", "processes"))
    report = tune(EURO, 20_000, storage=db_url, space=space, budget_seconds=0.5, sampler="random",
                  measure_options=FAST, progress=False)
    assert 1 <= report.trials < len(space.enumerate())


def test_a_budget_spent_before_the_first_trial_still_tries_one_config(db_url: str) -> None:
    # The session's setup (reference run, compiles) outlasts a tiny budget: it still measures one config
    # instead of failing with nothing to report.
    report = tune(EURO, 20_000, storage=db_url, space=small_space(EURO, 20_000), budget_seconds=1e-9,
                  sampler="random", measure_options=FAST, progress=False)
    assert report.trials == 1 and report.best_time_s > 0


def test_ties_go_to_the_simpler_config() -> None:
    simple, fancy = Config(), Config(executor="threads", workers=2, precision="float32")
    same = [1.0, 1.01, 0.99, 1.02, 0.98]
    assert pick_best({fancy: [x * 0.995 for x in same], simple: same}) == simple
    assert pick_best({fancy: [x * 0.5 for x in same], simple: same}) == fancy


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"budget_trials": 0}, ValueError, "budget_trials"),
    ({"budget_seconds": 0}, ValueError, "budget_seconds"),
    ({"budget_seconds": -3.0}, ValueError, "budget_seconds"),
    ({"sampler": "annealing"}, ValueError, "sampler"),
    ({"storage": "notadb://nowhere"}, StorageError, "notadb"),
    ({"storage": "sqlite:////nonexistent/dir/results.db"}, StorageError, "nonexistent"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 1.5}, ValueError, "seed"),
    ({"space": {"backends": ["numpy"]}}, ValueError, "space must be"),
    ({"measure_options": {"isolate": False}}, ValueError, "measure_options must be"),
    ({"progress": "yes"}, ValueError, "progress must be"),
    ({"storage": 42}, ValueError, "storage must be"),
    ({"finalists": 0}, ValueError, "finalists"),
])
def test_bad_arguments_fail_clearly(kwargs: dict, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        tune(EURO, 10_000, **{"progress": False, **kwargs})


def _tune_in_process(url: str, n_sims: int) -> None:
    space = small_space(EURO, n_sims)
    tune(EURO, n_sims, storage=url, space=space, measure_options=FAST, progress=False)


def test_concurrent_sessions_share_one_sqlite_file(db_url: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_tune_in_process, args=(db_url, n)) for n in (10_000, 12_000, 14_000)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    store = open_storage(db_url)
    n_valid = len(small_space(EURO, 10_000).enumerate())
    rows = store.measurements(source="tune")
    per_workload = {}
    for r in rows:
        per_workload[r.workload_id] = per_workload.get(r.workload_id, 0) + 1
    assert len(per_workload) == 3
    assert all(n >= n_valid for n in per_workload.values())
