"""The learned error model and the choice by time to a target, on stored measurements with known laws."""

from __future__ import annotations

import math
import zlib

import numpy as np
import pytest

from autotune import NotFittedError, Outcome, Source, machine_fingerprint, workload_features
from autotune.measure import Measurement
from autotune.model import (
    N_REF,
    ConfigTimeModel,
    ErrorForest,
    TrainingDataError,
    choose_for_target,
    error_features,
    error_training_set,
    sims_for_target,
    spec_digest,
    training_set,
)
from autotune.storage import ResultsLog, Storage, open_storage
from kernels import Config, EuropeanOption, Target
from kernels._target import interval_quantile

SIZES = (2**8, 2**10, 2**12, 2**14, 2**16)
PLAIN, QMC = Config(), Config(qmc=True)
#: Known laws: plain se = 10 sigma / sqrt(n); QMC se = 5 sigma n^-QMC_RATE; seconds per simulation.
QMC_RATE = 0.9
PER_SIM = {PLAIN: 1e-7, QMC: 3e-6}
SIGMAS = (0.1, 0.15, 0.2, 0.25, 0.35, 0.4, 0.45, 0.5)
HELD = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.3)


def true_se(config: Config, sigma: float, n: int) -> float:
    return 10 * sigma / math.sqrt(n) if not config.qmc else 5 * sigma * n**-QMC_RATE


def _fill(store: Storage, noise: float = 0.05) -> None:
    log = ResultsLog(store, machine_fingerprint())
    rows = []
    for sigma in SIGMAS:
        workload = EuropeanOption(100.0, 100.0, 1.0, 0.03, sigma)
        for config in (PLAIN, QMC):
            for n in SIZES:
                rng = np.random.default_rng(zlib.crc32(f"{sigma}/{config.qmc}/{n}".encode()))
                se = true_se(config, sigma, n) * math.exp(noise * rng.standard_normal())
                steady = PER_SIM[config] * n * math.exp(0.02 * rng.standard_normal())
                rows.append((workload_features(workload, n), Measurement(
                    config=config, outcome=Outcome.COMPLETE, n_sims=n, steady_s=steady, first_call_s=steady,
                    estimates={"price": 40 * sigma}, standard_errors={"price": se})))
    log.write_batch(rows, source=Source.BENCHMARK)


@pytest.fixture(scope="module")
def law_store(tmp_path_factory: pytest.TempPathFactory):
    with open_storage(f"sqlite:///{tmp_path_factory.mktemp('errors')}/r.db") as store:
        _fill(store)
        yield store


@pytest.fixture(scope="module")
def error_model(law_store: Storage) -> ErrorForest:
    return ErrorForest(n_estimators=50).fit(error_training_set(law_store))


def test_training_set_groups_every_size_of_one_workload_into_one_law(law_store: Storage) -> None:
    data = error_training_set(law_store)
    # One law per (workload, estimator, estimate), though every size is a stored workload key of its own.
    assert len(data) == len(SIGMAS) * 2
    assert len(set(data.workload_specs.tolist())) == len(SIGMAS)
    assert all(len(p) == len(SIZES) for p in data.points)
    qmc_rates = data.y_rate[data.qmc]
    assert np.all(np.abs(qmc_rates - QMC_RATE) < 0.05)  # 5% noise over 2^8 of range in n
    assert np.all(data.y_rate[~data.qmc] == 0.5)
    spec = workload_features(HELD, 2).spec
    assert spec_digest(spec) == spec_digest(workload_features(HELD, 1000).spec)


def test_learned_laws_predict_the_needed_sims_of_an_unseen_workload(error_model: ErrorForest) -> None:
    sigma = HELD.sigma
    se_ref, rate = error_model.law(HELD, "price", PLAIN)
    assert rate == 0.5
    # Between its neighbours' sigmas (0.25 and 0.35): the forest's answer lies within their laws.
    assert true_se(PLAIN, 0.25, N_REF) * 0.9 < se_ref < true_se(PLAIN, 0.35, N_REF) * 1.1
    q_se_ref, q_rate = error_model.law(HELD, "price", QMC)
    assert q_rate == pytest.approx(QMC_RATE, abs=0.05)
    assert true_se(QMC, 0.25, N_REF) * 0.8 < q_se_ref < true_se(QMC, 0.35, N_REF) * 1.2
    target = Target(atol=0.01)
    for config in (PLAIN, QMC):
        need = error_model.sims_needed(HELD, config, target)
        # The truth at sigma 0.3, with the kernels' quantile (Student-t for QMC's 16 scrambles).
        q = interval_quantile(0.95, 15 if config.qmc else None)
        r = 0.5 if not config.qmc else QMC_RATE
        truth = (q * (10 if not config.qmc else 5) * sigma / 0.01) ** (1 / r)
        assert truth / 1.5 < need < truth * 2.1, (config, need, truth)  # QMC rounds up to 16 * 2^k


def test_relative_targets_use_the_learnt_value(error_model: ErrorForest) -> None:
    value = error_model.value(HELD, "price")
    assert 40 * 0.25 * 0.9 < value < 40 * 0.35 * 1.1
    by_atol = error_model.sims_needed(HELD, PLAIN, Target(atol=0.01 * value))
    assert error_model.sims_needed(HELD, PLAIN, Target(rtol=0.01)) == by_atol
    assert error_model.sims_needed(HELD, PLAIN, Target(rtol=0.01), values={"price": 2 * value}) < by_atol


def test_needed_sims_are_monotone_and_the_least_that_meet_the_target() -> None:
    q = interval_quantile(0.95, None)
    needs = [sims_for_target(0.02, 0.5, tol, q) for tol in (1e-4, 3e-4, 1e-3, 3e-3)]
    assert needs == sorted(needs, reverse=True) and len(set(needs)) == 4
    for tol, n in zip((1e-4, 3e-4, 1e-3, 3e-3), needs, strict=True):
        assert q * 0.02 * (n / N_REF) ** -0.5 <= tol < q * 0.02 * ((n - 1) / N_REF) ** -0.5
    assert sims_for_target(0.02, 0.5, 1e-3, interval_quantile(0.99, None)) > needs[2]  # more confidence
    n_qmc = sims_for_target(0.02, 1.0, 1e-4, q, qmc_scrambles=16)
    points = n_qmc // 16
    assert n_qmc % 16 == 0 and points & (points - 1) == 0  # 16 scrambles x a power of two
    assert q * 0.02 * (n_qmc / N_REF) ** -1.0 <= 1e-4 < q * 0.02 * (n_qmc / 2 / N_REF) ** -1.0
    assert sims_for_target(10.0, 0.5, 1e3, q, minimum=50) == 50


def test_choice_picks_the_estimator_with_the_least_true_time(law_store: Storage,
                                                             error_model: ErrorForest) -> None:
    times = ConfigTimeModel(n_estimators=30).fit(training_set(law_store))
    machine = machine_fingerprint().vector()
    candidates = [PLAIN, QMC]

    def truth(config: Config, tol: float) -> float:
        q = interval_quantile(0.95, 15 if config.qmc else None)
        if config.qmc:
            n = sims_for_target(true_se(QMC, HELD.sigma, N_REF), QMC_RATE, tol, q, qmc_scrambles=16)
        else:
            n = sims_for_target(true_se(PLAIN, HELD.sigma, N_REF), 0.5, tol, q)
        return PER_SIM[config] * n

    for tol in (0.01, 0.3):  # tight: QMC's faster convergence wins; loose: plain's cheaper sims win
        best = min(candidates, key=lambda c: truth(c, tol))
        choice = choose_for_target(times, error_model, machine, HELD, Target(atol=tol), candidates)
        assert choice.config == best, (tol, choice.ranked)
        assert [c for c, _, _ in choice.ranked] == sorted(candidates, key=lambda c: truth(c, tol))
        assert truth(best, tol) / 2 < choice.predicted_s < truth(best, tol) * 2
    assert choose_for_target(times, error_model, machine, HELD, Target(atol=0.01), candidates).config == QMC


def test_bad_input_is_named(error_model: ErrorForest, law_store: Storage, tmp_path) -> None:
    with pytest.raises(ValueError, match="name"):
        error_features(HELD, "gamma", PLAIN)
    with pytest.raises(ValueError, match="tolerance"):
        sims_for_target(0.1, 0.5, 0.0, 1.96)
    with pytest.raises(ValueError, match="candidates"):
        choose_for_target(ConfigTimeModel(n_estimators=3).fit(training_set(law_store)), error_model,
                          machine_fingerprint().vector(), HELD, Target(atol=0.1), [])
    with pytest.raises(ValueError, match="error_model"):
        choose_for_target(ConfigTimeModel(n_estimators=3).fit(training_set(law_store)), object(),
                          machine_fingerprint().vector(), HELD, Target(atol=0.1), [PLAIN])
    with pytest.raises(ValueError, match="target"):
        error_model.sims_needed(HELD, PLAIN, 0.01)
    with pytest.raises(NotFittedError):
        ErrorForest().sims_needed(HELD, PLAIN, Target(atol=0.1))
    with open_storage(f"sqlite:///{tmp_path}/empty.db") as empty, pytest.raises(TrainingDataError):
        error_training_set(empty)


def test_a_saved_error_model_loads_with_the_same_predictions(law_store: Storage, tmp_path) -> None:
    from autotune.model import load_error_model, save_error_model, train_error_model

    assert load_error_model(law_store, "missing") is None
    trained = train_error_model(law_store, name="errors-test", n_estimators=10)
    loaded = load_error_model(law_store, "errors-test")
    assert loaded is not None and loaded.model_id_ == trained.model_id_
    for config in (PLAIN, QMC):
        assert loaded.law(HELD, "price", config) == trained.law(HELD, "price", config)
        assert loaded.sims_needed(HELD, config, Target(rtol=1e-3)) == trained.sims_needed(HELD, config,
                                                                                         Target(rtol=1e-3))
    with pytest.raises(ValueError, match="model"):
        save_error_model(law_store, object())


def test_a_stored_payload_that_is_not_an_error_model_is_refused_by_name(law_store: Storage) -> None:
    from autotune import ModelSchemaError
    from autotune.model import ERROR_SCHEMA_VERSION, load_error_model

    for payload in (b"not a zip", b"PK\x05\x06" + bytes(18)):
        law_store.add_model("errors-bad", feature_schema_version=ERROR_SCHEMA_VERSION, n_rows=1, rows_hash="x",
                            payload=payload)
        with pytest.raises(ModelSchemaError, match="errors-bad"):
            load_error_model(law_store, "errors-bad")
    law_store.add_model("errors-old", feature_schema_version=ERROR_SCHEMA_VERSION + 1, n_rows=1, rows_hash="x",
                        payload=b"")
    with pytest.raises(ModelSchemaError, match="layout version"):
        load_error_model(law_store, "errors-old")


def test_tuned_simulate_to_a_target_takes_the_model_tier_when_both_models_are_stored(tmp_path) -> None:
    import autotune
    from autotune.model import train, train_error_model

    url = f"sqlite:///{tmp_path}/tier.db"
    with open_storage(url) as store:
        _fill(store)
        train(store, n_estimators=10)
        before = autotune.tuned_simulate(HELD, target=Target(atol=0.01), storage=url, seed=1, record=False)
        train_error_model(store, n_estimators=10)
    assert before.decision.source == "pilot"  # a time model alone: the pilots choose the estimator
    autotune.api._runtime.reset()  # a fresh process: the stored error model is read on first use
    result = autotune.tuned_simulate(HELD, target=Target(atol=0.01), storage=url, seed=1, record=False)
    d = result.decision
    assert d.source == "model" and result.target_met
    assert d.predicted_sims is not None and d.predicted_sims >= 2 and d.predicted_s > 0
    assert d.config.qmc  # the stored laws make QMC the fastest to ±0.01 here (see the choice test above)
