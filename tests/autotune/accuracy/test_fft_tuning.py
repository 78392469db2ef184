"""The FFT method as a knob of time-to-target tuning: chosen where it is fastest, Monte Carlo where it cannot."""

from __future__ import annotations

import pytest

import autotune
import kernels
from autotune.accuracy import target_key
from autotune.api._tuned import fft_try_points
from autotune.model import CONFIG_FEATURES, encode_config
from autotune.space import search_space
from autotune.storage import open_storage
from kernels import Config, Gamma, Pareto, Poisson, PolicyGroup, PolicyTerms, Portfolio, Target

from ..conftest import FAST

LIGHT = Portfolio([PolicyGroup(1, Poisson(3.0), Gamma(2.0, 1000.0), PolicyTerms(deductible=500.0, limit=5000.0))])
HEAVY = Portfolio([PolicyGroup(1, Poisson(2.0), Pareto(0.6, 100.0), PolicyTerms(limit=1e10))])
FFT = Config(method="fft")


@pytest.fixture
def small_memory():
    """8 MiB: enough for HEAVY's Monte Carlo runs to a VaR at 5%, far too little for its grids."""
    kernels.set_memory_limit(8 * 2**20)
    yield
    kernels.set_memory_limit(None)


def test_tune_picks_fft_where_it_reaches_the_target_fastest(db_url):
    target = Target(rtol=1e-3, estimate="TVaR_0.99")
    report = autotune.tune(LIGHT, target=target, storage=db_url, budget_trials=2, measure_options=FAST)
    assert report.best_config == FFT
    assert report.execution is None  # FFT beat every estimator's prediction by > FFT_DECISIVE: no exec tuning
    assert report.best.half_width <= 1 and 0 < report.best.sims <= kernels.MAX_FFT_POINTS  # grid points, met
    mc = [f for f in report.finalists if f.config.method == "mc"]
    assert all(f.predicted_s is None or f.predicted_s > 30 * report.best_time_s for f in mc)
    with open_storage(db_url) as store:
        rows = [m for m in store.measurements(outcome="complete") if m.config.method == "fft"]
        assert rows and all(m.estimates["TVaR_0.99"] > 0 and m.standard_errors == {} for m in rows)
        found = store.best_tuned(autotune.machine_fingerprint().machine_id, target_key(LIGHT),
                                 target=target.to_dict())
        assert found is not None and Config.from_dict(found[1]) == FFT
    result = autotune.tuned_simulate(LIGHT, target=target, storage=db_url)
    assert result.decision.source == "cache" and result.config == FFT
    assert result.target_met and result.error_bounds["TVaR_0.99"] <= 1e-3 * result["TVaR_0.99"]


def test_tune_falls_back_to_monte_carlo_where_fft_cannot(db_url, small_memory):
    target = Target(rtol=5e-2, estimate="VaR_0.95")
    report = autotune.tune(HEAVY, target=target, storage=db_url, budget_trials=2, measure_options=FAST,
                           space=search_space(HEAVY, 2**14, backends=("numpy",), executors=("serial",),
                                              qmc=(False,)))
    assert report.best_config.method == "mc" and report.best.half_width <= 1
    assert all(f.config.method == "mc" for f in report.finalists)
    with open_storage(db_url) as store:
        failed = [m for m in store.measurements(outcome="failed") if m.config.method == "fft"]
        assert failed and "GridTooLargeError" in failed[0].error and "Pareto" in failed[0].error


def test_tuned_simulate_tries_fft_first_on_a_portfolio(db_url):
    target = Target(rtol=1e-3, estimate="TVaR_0.99")
    result = autotune.tuned_simulate(LIGHT, target=target, storage=db_url)
    assert result.decision.source == "fft" and result.config == FFT
    assert result.target_met and result.grid is not None and result.n_sims <= fft_try_points(LIGHT)
    assert autotune.predict_config(LIGHT, target=target, storage=db_url).source == "fft"
    # The default policy never tries FFT.
    plain = autotune.tuned_simulate(LIGHT, target=Target(rtol=2e-2, estimate="TVaR_0.99"), storage=db_url,
                                    policy="default", seed=1)
    assert plain.config == Config() and plain.grid is None


def test_a_missed_fft_try_falls_back_and_is_remembered(db_url, small_memory):
    target = Target(rtol=5e-2, estimate="VaR_0.95")
    first = autotune.tuned_simulate(HEAVY, target=target, storage=db_url, seed=1)
    assert first.decision.source == "pilot" and first.config.method == "mc"
    assert "fft: GridTooLargeError" in first.decision.note and first.target_met
    again = autotune.predict_config(HEAVY, target=target, storage=db_url)
    assert again.source == "pilot" and "fft:" in again.note  # not tried again in this process


def test_the_model_sees_the_method():
    assert "method_fft" in CONFIG_FEATURES
    assert encode_config(FFT, LIGHT, 4096)["method_fft"] == 1.0
    assert encode_config(Config(), LIGHT, 4096)["method_fft"] == 0.0
