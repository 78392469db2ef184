"""Time to accuracy in autotune: error models, tune(target=...), tuned_simulate(target=...)."""

from __future__ import annotations

import math

import pytest

import autotune
from autotune.accuracy import Estimator, estimators_for, fit_error_model, pilot_choice, target_key
from autotune.space import search_space
from autotune.storage import open_storage
from kernels import AsianOption, Config, EuropeanOption, Gamma, Poisson, PolicyGroup, PolicyTerms, Portfolio, Target

from ..conftest import FAST

EURO = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2)
ASIAN = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2, n_steps=16)
BOOK = Portfolio([PolicyGroup(20, Poisson(0.5), Gamma(2.0, 500.0), PolicyTerms(100.0, 5_000.0))])


def test_estimators_cover_every_valid_combination():
    assert len(estimators_for(EURO)) == 8
    assert set(estimators_for(BOOK)) == {Estimator(), Estimator(qmc=True)}
    for est in estimators_for(ASIAN):
        assert Estimator.of(est.apply(Config(backend="numba"))) == est


def test_pseudo_random_error_model_pools_the_variance_per_simulation():
    em = fit_error_model(Estimator(), "price", EURO, Config(), [(1000, 0.5, 10.0), (4000, 0.25, 10.0)])
    assert (em.rate, em.dof) == (0.5, None)
    assert em.coefficient == pytest.approx(math.sqrt(250.0))  # se^2 n = 250 at both sizes
    # half-width z se(n) = 0.01 -> n = (1.96 * sqrt(250) / 0.01)^2
    assert em.sims_for(Target(atol=0.01)) == pytest.approx((1.959964 * math.sqrt(250.0) / 0.01) ** 2, rel=1e-5)


def test_quasi_random_rate_is_fitted_and_clipped():
    cfg = Config(qmc=True)
    fast = fit_error_model(Estimator(qmc=True), "price", EURO, cfg, [(1024, 1e-2, 10.0), (8192, 1e-2 / 8, 10.0)])
    assert fast.rate == pytest.approx(1.0)
    assert fast.dof == cfg.qmc_scrambles - 1
    flat = fit_error_model(Estimator(qmc=True), "price", EURO, cfg, [(1024, 1e-2, 10.0), (8192, 1e-2, 10.0)])
    assert flat.rate == 0.5  # never assumed slower than Monte Carlo
    one = fit_error_model(Estimator(qmc=True), "price", EURO, cfg, [(1024, 1e-2, 10.0)])
    assert one.rate == 0.5  # one size: no rate can be fitted, Monte Carlo's is the safe guess


def test_pilot_prefers_variance_reduction_on_the_asian():
    best, sims, predicted = pilot_choice(ASIAN, Target(atol=1e-3))
    assert best.control_variate  # ~1000x less variance: nothing else comes close
    assert predicted[best] * 20 < predicted[Estimator()]
    assert sims > 0


def test_tune_for_a_target_beats_the_default_and_feeds_the_cache(db_url):
    target = Target(atol=1e-2)
    report = autotune.tune(EURO, target=target, storage=db_url, budget_trials=3, measure_options=FAST,
                           space=search_space(EURO, 2**14, backends=("numpy",), executors=("serial",), qmc=(False,)))
    assert isinstance(report, autotune.TargetReport)
    assert Estimator.of(report.best_config) != Estimator()  # plain Monte Carlo needs ~8e6 paths here
    assert report.default_time_s is not None and report.speedup_over_default > 5
    assert report.best.half_width <= 1.0  # the measured runs met the target
    qmc = [e for e in report.errors if e.estimator.qmc]
    assert qmc and all(len(e.sizes) >= 2 for e in qmc)  # QMC errors measured at two sizes
    assert "predicted" in report.summary() and "measured" in report.summary()
    with open_storage(db_url) as store:
        machine = autotune.machine_fingerprint().machine_id
        found = store.best_tuned(machine, target_key(EURO), target=target.to_dict())
        assert found is not None and Config.from_dict(found[1]) == report.best_config
        assert store.best_tuned(machine, target_key(EURO), target=Target(atol=2e-2).to_dict()) is None
        fixed = store.best_tuned(machine, target_key(EURO))  # fixed-n lookups skip target sessions:
        assert fixed is None or fixed[0] == report.execution.session_id  # at most the execution session
        rows = store.measurements(outcome="complete")
        assert all(m.standard_errors.get("price", 0) > 0 for m in rows)  # every measurement keeps its error
    result = autotune.tuned_simulate(EURO, target=target, storage=db_url, seed=3)
    assert result.decision.source == "cache" and result.config == report.best_config
    assert result.target_met and result.half_widths["price"] <= 1e-2


def test_tuned_simulate_to_a_target_without_a_session_pilots(db_url):
    result = autotune.tuned_simulate(ASIAN, target=Target(rtol=1e-3), storage=db_url, seed=1)
    assert result.decision.source == "pilot"
    assert result.config.control_variate
    assert result.target_met and result.half_widths["price"] <= 1e-3 * abs(result["price"])
    assert result.decision.predicted_sims and result.decision.target == Target(rtol=1e-3)
    plain = autotune.tuned_simulate(ASIAN, target=Target(rtol=1e-3), storage=db_url, seed=1, policy="default")
    assert plain.config == Config() and plain.n_sims > 20 * result.n_sims


def test_n_sims_caps_a_tuned_run_to_a_target(db_url):
    with pytest.warns(Warning, match="before reaching"):
        result = autotune.tuned_simulate(EURO, 20_000, target=Target(atol=1e-4), storage=db_url,
                                         policy="default", seed=1)
    assert result.target_met is False and result.n_sims <= 20_000


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda url: autotune.tuned_simulate(EURO, target="0.01", storage=url), "target must be a kernels.Target"),
        (lambda url: autotune.tuned_simulate(EURO, target=Target(atol=1e-2, estimate="mean"), storage=url),
         "Target.estimate"),
        (lambda url: autotune.tuned_simulate(EURO, storage=url), "n_sims is required without a target"),
        (lambda url: autotune.tune(EURO, storage=url), "n_sims is required without a target"),
        (lambda url: autotune.tune(BOOK, target=Target(rtol=0.01, estimate="price"), storage=url), "Target.estimate"),
    ],
)
def test_bad_target_arguments_are_named(db_url, call, match):
    with pytest.raises(ValueError, match=match):
        call(db_url)


def test_a_config_capped_before_the_target_is_never_chosen(db_url):
    # Plain Monte Carlo needs ~8e6 paths for +-0.01; the cap of 2**17 stops it short (and fast).
    report = autotune.tune(EURO, 2**17, target=Target(atol=1e-2), storage=db_url, budget_trials=2,
                           measure_options=FAST,
                           space=search_space(EURO, 2**14, backends=("numpy",), executors=("serial",), qmc=(False,)))
    assert report.best.half_width <= 1 and report.best.sims <= 2**17
    default = next(f for f in report.finalists if f.config == Config())
    assert default.half_width > 1 and default.sims <= 2**17  # it ran, hit the cap, and was not chosen
    assert report.default_time_s is None and report.speedup_over_default is None


def test_candidates_predicted_far_too_slow_are_listed_not_run(db_url, monkeypatch):
    from autotune.accuracy import _tune

    monkeypatch.setattr(_tune, "FINAL_RUN_LIMIT_S", 0.0)  # only predictions within 20x of the best run
    report = autotune.tune(EURO, target=Target(atol=1e-2), storage=db_url, budget_trials=2, measure_options=FAST,
                           space=search_space(EURO, 2**14, backends=("numpy",), executors=("serial",), qmc=(False,)))
    default = next(f for f in report.finalists if f.config == Config())
    assert default.measured_s is None and default.note.startswith("not run")  # ~8e6 paths vs ~1e4 for QMC
    assert report.default_time_s is None and "not run: predicted too slow" in report.summary()
    assert report.best.measured_s is not None and report.best.half_width <= 1
