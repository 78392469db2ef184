"""The pure helpers of experiments/bench_accuracy.py: candidates, time laws, budgets, ratios, the tuned fallback."""

from __future__ import annotations

import math

import pytest

from experiments import bench_accuracy as ba
from kernels import Config, EuropeanOption, Target


def test_candidates_are_every_variance_reduction_combination_valid_for_the_workload() -> None:
    options = ba.candidate_configs(ba.EUROPEAN)
    assert len(options) == 8 and Config() in options
    assert {(c.qmc, c.antithetic, c.control_variate) for c in options} == {
        (q, a, v) for q in (False, True) for a in (False, True) for v in (False, True)}
    assert all(c.backend == "numpy" and c.executor == "serial" for c in options)
    # a portfolio has no antithetic or control-variate estimator: only qmc remains
    assert ba.candidate_configs(ba.PORTFOLIO) == [Config(), Config(qmc=True)]


def test_time_laws_scale_by_the_tolerance_ratio() -> None:
    assert ba.time_power(False) == 2.0 and ba.time_power(True) == 1.0
    assert ba.scale_to(2.0, 1e-2, 1e-3, 2.0) == pytest.approx(200.0)
    assert ba.scale_to(2.0, 1e-2, 1e-3, 1.0) == pytest.approx(20.0)
    assert ba.predict_from_probe(1.0, 0.05, 0.01, 2.0) == pytest.approx(25.0)
    assert ba.predict_from_probe(1.0, 0.0, 0.01, 2.0) == 1.0


def test_shortlist_keeps_the_fast_ones_and_always_the_best() -> None:
    predicted = {"a": 1.0, "b": 2.5, "c": 3.5, "d": 0.9, "e": 2.0}
    assert ba.shortlist(predicted) == ["d", "a", "e"]
    assert ba.shortlist(predicted, keep=5) == ["d", "a", "e", "b"]  # c is over 3x the best
    assert ba.shortlist({"x": 500.0, "y": 900.0}, max_seconds=60) == ["x"]
    assert ba.shortlist({}) == []


def _measured(tol: float, seconds: float, half_width: float, n: int = 1000) -> ba.Cell:
    cell = ba.Cell("european", tol, "m", status="measured")
    cell.runs.append(ba.Run(seconds, 1.0, n, half_width=half_width))
    return cell


def test_plan_cell_runs_what_fits_and_extrapolates_monte_carlo_by_the_reached_precision() -> None:
    base = _measured(1e-2, 2.0, 1e-2)
    fits = ba.Cell("european", 1e-3, "m")
    ba.plan_cell(fits, 2.0, None, [base], max_seconds=300)
    assert fits.status == "measured" and fits.predicted_s == pytest.approx(200.0)

    too_long = ba.Cell("european", 1e-3, "m")
    ba.plan_cell(too_long, 2.0, None, [base], max_seconds=60)
    assert too_long.status == "extrapolated" and too_long.seconds == pytest.approx(200.0)
    assert too_long.n == pytest.approx(100_000) and too_long.n_approx and "1/tol^2" in too_long.note

    qmc = ba.Cell("european", 1e-4, "m")
    ba.plan_cell(qmc, 1.0, None, [base], max_seconds=10)
    assert qmc.status == "over budget" and qmc.seconds is None


def test_plan_cell_uses_the_warm_up_and_what_it_reached_not_its_tolerance() -> None:
    # a warm-up at 0.1 that stopped at its pilot with half-width 0.004 predicts little at 0.01
    anchor = (0.1, ba.Run(0.5, 1.0, 16_384, half_width=0.004))
    cell = ba.Cell("asian", 1e-2, "m")
    ba.plan_cell(cell, 2.0, anchor, [], max_seconds=60)
    assert cell.status == "measured" and cell.predicted_s == pytest.approx(0.5 * 0.16)


def test_wants_repeat_stops_before_the_cell_budget() -> None:
    cell = _measured(1e-2, 12.0, 1e-2)
    assert ba.wants_repeat(cell, 30.0)
    cell.runs.append(ba.Run(12.0, 1.0))
    assert not ba.wants_repeat(cell, 30.0)
    assert not ba.wants_repeat(ba.Cell("european", 1e-2, "m", status="extrapolated"), 30.0)


def test_ratio_verdict_and_formats() -> None:
    assert ba.ratio(10.0, 0.1) == pytest.approx(100.0)
    assert ba.ratio(None, 1.0) is None and ba.ratio(1.0, 0.0) is None
    assert ba.verdict(100.0, 100.0) == "met" and ba.verdict(9.9, 10.0) == "missed" and ba.verdict(None, 1) == "n/a"
    assert ba.fmt_ratio(2.5, approx=True) == "~2.5x" and ba.fmt_ratio(None) == "-"
    assert ba.fmt_seconds(0.0123) == "12.3 ms" and ba.fmt_seconds(math.inf) == "-"


def test_quantlib_grid_puts_every_fixing_on_whole_days_with_the_same_total_variance() -> None:
    k, days, stretch = ba.quantlib_grid(1.0, 252)
    assert (k, days) == (1, 252) and stretch * days / 365 == pytest.approx(1.0)
    k, days, stretch = ba.quantlib_grid(1.0, 1)
    assert (k, days) == (365, 365) and stretch == pytest.approx(1.0)


def test_tuned_config_falls_back_to_best_of_candidates_without_a_target_keyword(monkeypatch) -> None:
    import autotune

    def tune_without_target(workload, n_sims, *, budget_trials=None, storage=None):  # the old signature
        raise AssertionError("not reached")

    monkeypatch.setitem(vars(autotune), "tune", tune_without_target)  # not the lazy import (it may not import)
    monkeypatch.setattr(ba, "PROBE_SIMS", 2**10)
    option = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2)
    tuned = ba.tuned_config(option, Target(atol=0.5), "sqlite://", max_seconds=5.0)
    assert tuned.source == "best-of-candidates" and "target" in tuned.note
    assert tuned.config in ba.candidate_configs(option)
    assert tuned.measured and all("predicted_s" in m for m in tuned.measured)


def test_tuned_config_uses_the_tuner_when_it_takes_a_target(monkeypatch) -> None:
    import autotune

    class Report:
        best_config = Config(qmc=True)

    seen = {}

    def tune(workload, *, target, storage, budget_trials):
        seen.update(target=target, storage=storage, budget_trials=budget_trials)
        return Report()

    monkeypatch.setitem(vars(autotune), "tune", tune)
    tuned = ba.tuned_config(ba.EUROPEAN, Target(atol=1e-3), "sqlite://", budget_trials=7)
    assert tuned.source == "tuner" and tuned.config == Config(qmc=True)
    assert seen == {"target": Target(atol=1e-3), "storage": "sqlite://", "budget_trials": 7}


def test_a_tuner_choice_that_stopped_at_the_cap_gives_way_to_the_fastest_finalist_that_met_the_target() -> None:
    from types import SimpleNamespace

    def finalist(config: Config, seconds: float, over: float) -> SimpleNamespace:
        return SimpleNamespace(config=config, measured_s=seconds, sims=1000, half_width=over)

    capped, slow, fast = Config(), Config(qmc=True), Config(qmc=True, control_variate=True)
    report = SimpleNamespace(best_config=capped, finalists=[finalist(capped, 0.1, 3.0), finalist(fast, 0.2, 0.9),
                                                            finalist(slow, 0.5, 0.8)])
    chosen = ba._from_tuner(report, Target(atol=1e-3), "cap")
    assert chosen.config == fast and chosen.source == "tuner" and "stopped at max_sims" in chosen.note
    report.best_config = fast
    assert ba._from_tuner(report, Target(atol=1e-3), "cap").config == fast
    report.finalists = [finalist(capped, 0.1, 3.0)]
    assert isinstance(ba._from_tuner(report, Target(atol=1e-3), "cap"), str)  # none met: fall back


def test_quantlib_cost_model_learns_its_quadratic_term_and_decides_the_budget() -> None:
    assert ba.quantlib_seconds(1e6, 1e-6, 0.0) == pytest.approx(1.0)
    assert ba.quantlib_seconds(1e6, 1e-6, 1e-12) == pytest.approx(2.0)
    c = ba.learn_quadratic(0.0, seconds=2.0, n=1e6, per_sample=1e-6)
    assert c == pytest.approx(1e-12)
    assert ba.learn_quadratic(c, seconds=0.5, n=1e6, per_sample=1e-6) == c  # never lowered
    assert ba.learn_quadratic(c, seconds=9.0, n=None, per_sample=1e-6) == c
    # 1.1 s for a linear 1.0 s: the 0.1 s excess is within the error of the linear estimate, not learnt
    assert ba.learn_quadratic(0.0, seconds=1.1, n=1e6, per_sample=1e-6) == 0.0
    # by the law 1e-3 would take 200 s: it would fit 300 s, but the n^2 term says 1e10 * 1e-12 * ... > 300 s
    base = _measured(1e-2, 2.0, 1e-2, n=1_000_000)
    cell = ba.Cell("european", 1e-3, "ql")
    ba.plan_cell(cell, 2.0, None, [base], max_seconds=300, cost=lambda n: ba.quantlib_seconds(n, 1e-6, c))
    assert cell.status == "extrapolated" and cell.seconds == pytest.approx(200.0)
    assert cell.budget_s == pytest.approx(100.0 + 1e4) and "lower bound" in cell.note
