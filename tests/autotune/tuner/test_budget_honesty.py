"""Budget honesty: a budget that cuts a search short says how much of the space it examined, and the
search order covers every backend x executor pair before refining any of them."""

from __future__ import annotations

import logging

import optuna
import pytest

from autotune.space import coverage_order, search_space, stratum
from autotune.storage import open_storage
from autotune.tuner import tune
from kernels import Config, EuropeanOption

from ..conftest import FAST

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)
N_SIMS = 20_000
LOGGER = "autotune.tuner._tune"


def space_of_48():
    """numpy and the deliberately biased numpy clone (fast, rejected by the accuracy gate: measured all
    the same) x serial, threads, processes (with and without shared memory) x 2 precisions x 3 chunk
    sizes: 48 configs in 6 backend x executor pairs."""
    space = search_space(EURO, N_SIMS, cores=2, backends=("numpy", "biased"), qmc=(False,),
                         chunk_sizes=(None, 4096, 16384))
    assert len(space.enumerate()) == 48
    return space


def pairs(configs) -> set[tuple[str, str]]:
    return {stratum(c) for c in configs}


def searched_configs(db_url: str, report) -> list[Config]:
    """The configs the session's trials measured, in trial order."""
    study = optuna.load_study(study_name=report.study_name, storage=db_url)
    with open_storage(db_url) as store:
        by_uid = {m.uid: m.config for m in store.measurements(session_id=report.session_id)}
    return [by_uid[t.user_attrs["measurement_uid"]] for t in sorted(study.trials, key=lambda t: t.number)
            if "measurement_uid" in t.user_attrs and t.user_attrs["session_id"] == report.session_id]


def test_coverage_order_visits_every_pair_before_refining_any() -> None:
    space = search_space(EURO, N_SIMS, cores=4, chunk_sizes=(None, 4096))
    order = space.search_order()
    assert sorted(order, key=repr) == sorted(space.enumerate(), key=repr)
    assert order[0] == Config()
    n = len(pairs(order))
    assert n == 9 and pairs(order[:n]) == pairs(order)
    assert all(c.precision == "float64" and not c.qmc and c.chunk_size is None and not c.shared_memory
               and c.workers == (1 if c.executor == "serial" else 2) for c in order[:n])  # simplest of each pair
    # within a pair: the simplest first, then one knob changed at a time
    threads = [c for c in order if stratum(c) == ("numba", "threads")]
    assert threads[0] == Config(backend="numba", executor="threads", workers=2)
    assert {c.workers for c in threads[1:5]} >= {4} and not any(c.qmc and c.precision == "float32" for c in threads[:5])
    assert coverage_order(reversed(order)) == order  # a function of the set of configs


def test_truncated_brute_force_reports_what_it_examined_and_warns(db_url: str, caplog) -> None:
    space = space_of_48()
    n_pairs = len(pairs(space.enumerate()))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        report = tune(EURO, N_SIMS, storage=db_url, space=space, sampler="brute", budget_trials=8,
                      measure_options=FAST, progress=False)
    assert report.sampler == "brute" and report.trials == 8
    assert (report.space_size, report.configs_examined) == (48, 8)
    assert report.configs_measured + report.configs_failed == 8 and report.configs_skipped == 0
    assert report.coverage == pytest.approx(8 / 48)
    assert "examined 8 of 48 configs (17%)" in report.summary()
    stored = open_storage(db_url).tuning_session(report.session_id).report
    assert (stored["space_size"], stored["configs_examined"], stored["configs_skipped"]) == (48, 8, 0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == LOGGER]
    assert warnings == ["budget of 8 trials examined 8 of 48 configs (17%); "
                        "raise --budget-trials or --budget-seconds to cover the rest"]
    measured = searched_configs(db_url, report)
    assert len(measured) == 8 and measured[0] == Config()
    assert pairs(measured[:n_pairs]) == pairs(space.enumerate())  # every backend x executor pair, first
    assert report.best_config.backend == "numpy"  # the biased clone is measured, but never recommended


def test_resumed_brute_force_counts_what_earlier_sessions_measured(db_url: str, caplog) -> None:
    space = search_space(EURO, N_SIMS, cores=2, backends=("numpy",), executors=("serial", "threads"),
                         qmc=(False,), chunk_sizes=(None, 4096))
    first = tune(EURO, N_SIMS, storage=db_url, space=space, budget_trials=3, measure_options=FAST, progress=False)
    assert pairs(searched_configs(db_url, first)[:2]) == {("numpy", "serial"), ("numpy", "threads")}
    assert "examined 3 of 8" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        second = tune(EURO, N_SIMS, storage=db_url, space=space, measure_options=FAST, progress=False)
    assert (first.configs_examined, first.space_size) == (3, 8)
    assert second.trials == 5 and (second.configs_skipped, second.configs_examined, second.coverage) == (3, 8, 1.0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER]
    assert not set(searched_configs(db_url, second)) & set(searched_configs(db_url, first))  # none measured twice


def test_untruncated_brute_force_reports_full_coverage_without_warning(db_url: str, caplog) -> None:
    space = search_space(EURO, N_SIMS, cores=2, backends=("numpy",), executors=("serial", "threads"),
                         qmc=(False,), chunk_sizes=(None, 4096))
    with caplog.at_level(logging.INFO, logger=LOGGER):
        report = tune(EURO, N_SIMS, storage=db_url, space=space, measure_options=FAST, progress=False)
    assert (report.space_size, report.configs_examined, report.configs_measured, report.coverage) == (8, 8, 8, 1.0)
    assert "examined 8 of 8 configs (100%)" in report.summary()
    assert report.to_dict()["coverage"] == 1.0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER]
    assert any("examined all 8 configs" in r.getMessage() for r in caplog.records)


def test_failed_configs_count_as_examined(db_url: str) -> None:
    space = search_space(EURO, N_SIMS, cores=1, backends=("numpy", "failing"), qmc=(False,), chunk_sizes=(None,))
    report = tune(EURO, N_SIMS, storage=db_url, space=space, measure_options=FAST, progress=False)
    assert (report.space_size, report.configs_measured, report.configs_failed, report.coverage) == (4, 2, 2, 1.0)


def test_tpe_is_seeded_with_every_pair_and_reports_coverage_without_warning(db_url: str, caplog) -> None:
    space = search_space(EURO, N_SIMS, cores=2, backends=("numpy", "biased"), chunk_sizes=(None, 4096, 16384))
    assert len(space.enumerate()) > 48
    n_pairs = len(pairs(space.enumerate()))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        report = tune(EURO, N_SIMS, storage=db_url, space=space, budget_trials=n_pairs, measure_options=FAST,
                      progress=False, seed=1)
    assert report.sampler == "tpe" and report.configs_examined == n_pairs < report.space_size
    measured = searched_configs(db_url, report)
    assert measured[0] == Config() and pairs(measured) == pairs(space.enumerate())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and r.name == LOGGER]


def test_a_time_budget_spent_before_any_trial_still_measures_one_config_and_says_so(db_url: str, caplog) -> None:
    space = search_space(EURO, N_SIMS, cores=2, backends=("numpy",), executors=("serial", "threads"),
                         qmc=(False,), chunk_sizes=(None, 4096))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        report = tune(EURO, N_SIMS, storage=db_url, space=space, sampler="brute", budget_seconds=1e-6,
                      measure_options=FAST, progress=False)
    assert "budget of 1e-06 s examined 1 of 8 configs (12%); raise --budget-trials" in caplog.text
    assert report.trials == 1 and report.best_config == Config()  # brute force starts with the default
    with open_storage(db_url) as store:
        (session,) = [store.tuning_session(1)]
    assert session.status == "complete" and (session.report["space_size"], session.report["configs_measured"]) == (8, 1)
