"""experiments/target_model_quality.py: its truth helpers, and the --quick run end to end."""

from __future__ import annotations

import json
import math

import pytest

from autotune.accuracy import Estimator
from experiments import target_model_quality as tmq
from kernels import EuropeanOption, Target
from kernels._target import interval_quantile


def test_true_time_interpolates_between_sizes_and_is_linear_beyond() -> None:
    timings = {1000: 0.01, 4000: 0.02}
    assert tmq.true_time(timings, 1000) == pytest.approx(0.01)
    assert tmq.true_time(timings, 2000) == pytest.approx(0.01 * math.sqrt(2))  # log-log midpoint
    assert tmq.true_time(timings, 40_000) == pytest.approx(0.2)
    assert tmq.true_time(timings, 10) == pytest.approx(0.01)  # below the sizes: no faster than the smallest


def test_true_sims_follow_the_measured_law() -> None:
    workload = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)
    # se = 2 / sqrt(n) exactly, value 10: a ±1% target at 95% needs (1.96 * 2 / 0.1)^2 simulations.
    points = [(n, {"price": 2 / math.sqrt(n)}, {"price": 10.0}) for n in (1000, 4000)]
    need = tmq.true_sims(workload, Estimator(), points, Target(rtol=0.01))
    assert need == math.ceil((interval_quantile(0.95, None) * 2 / 0.1) ** 2)


@pytest.mark.slow  # collects a quick dataset on this machine and cross-validates: about 15 s on 2 cores
def test_quick_run_writes_a_table_of_fractions_of_oracle(tmp_path) -> None:
    result = tmq.main(["--quick", "--out", str(tmp_path)])
    assert result["workloads"] == tmq.QUICK.n_options + tmq.QUICK.n_portfolios
    assert len(result["rows"]) == result["workloads"] * len(tmq.TARGETS)
    for row in result["rows"]:
        for method in tmq.METHODS:
            assert 0 < row[method] <= 1 + 1e-12  # the oracle is the least true time over every candidate
    written = json.loads((tmp_path / "target_model_quality_quick.json").read_text())
    assert written["fraction_of_oracle"].keys() == set(tmq.METHODS)
    assert "| model |" in (tmp_path / "target_model_quality_quick.md").read_text()


def test_validate_runs_each_pick_to_the_target_and_scores_against_the_fastest() -> None:
    from autotune import workload_features
    from kernels import Config

    workload = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)
    target = Target(rtol=1e-2)
    picks = {"oracle": Config(control_variate=True), "model": Config(control_variate=True), "default": Config(),
             "always QMC": Config(qmc=True), "always pseudo-random (fastest execution)": Config(precision="float32")}
    row = {"workload": "w", "target": target.label(), "spec": workload_features(workload, 2).spec,
           "target_dict": target.to_dict(), "configs": {m: c.to_dict() for m, c in picks.items()},
           "true_s": {**dict.fromkeys(picks, 0.01), "default": 100.0}, "default": 0.25}
    v = tmq.validate({"rows": [row]}, rounds=1)
    group = v["groups"][0]
    assert max(group["ratios"].values()) == pytest.approx(1.0)  # the fastest run scores 1
    assert all(0 < r <= 1 for r in group["ratios"].values())
    assert group["ratios"]["default"] == 0.25 and not group["measured"]["default"]  # too slow: stored ratio kept
    assert v["not_run"]["default"] == 1 and v["not_run"]["model"] == 0
