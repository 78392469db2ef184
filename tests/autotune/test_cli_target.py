"""Spec files with a precision target, through `autotune tune`, `run` and `predict` in fresh processes."""

from __future__ import annotations

import json

import pytest

from autotune.cli import SpecError, load_spec
from kernels import DEFAULT_MAX_SIMS, Target
from tests.autotune.test_cli import autotune

TARGET_SPEC = """
[tune]
backends = ["numpy"]

[[workload]]
name = "call"
kind = "european"
S0 = 100.0
K = 100.0
T = 1.0
r = 0.05
sigma = 0.2
target = { atol = 0.01 }

[[workload]]
name = "book"
kind = "portfolio"
n_sims = 400000
levels = [0.99]
target = { rtol = 0.02, estimate = "TVaR_0.99" }
[[workload.groups]]
n_policies = 20
frequency = { family = "poisson", lam = 0.5 }
severity = { family = "gamma", shape = 2.0, scale = 500.0 }
terms = { deductible = 100.0, limit = 5000.0 }
"""


def test_spec_targets_are_parsed(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(TARGET_SPEC)
    call, book = load_spec(str(path)).entries
    assert call.target == Target(atol=0.01) and call.n_sims == DEFAULT_MAX_SIMS  # no n_sims: the default cap
    assert book.target == Target(rtol=0.02, estimate="TVaR_0.99") and book.n_sims == 400_000  # n_sims caps


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('target = { atol = 0.01, tol = 1 }', r"workload\[0\].*target: unknown fields \['tol'\]"),
        ('target = { atol = -1.0 }', r"target: Target.atol"),
        ('target = { atol = 0.01, estimate = "TVaR_0.99" }', r"target: Target.estimate"),
        ('target = { rtol = 0.01 }\ncontrol_variate = true', r"no longer workload fields"),
        ('target = "0.01"', r"target must be a table"),
    ],
)
def test_bad_spec_targets_name_the_field(tmp_path, line, match):
    path = tmp_path / "bad.toml"
    path.write_text(f'[[workload]]\nname = "x"\nkind = "european"\nS0 = 100.0\nK = 100.0\nT = 1.0\nr = 0.05\n'
                    f'sigma = 0.2\n{line}\n')
    with pytest.raises(SpecError, match=match):
        load_spec(str(path))


def test_run_predict_and_tune_honour_the_target(tmp_path):
    path = tmp_path / "targets.toml"
    path.write_text(TARGET_SPEC)
    db = tmp_path / "results.db"
    predicted = json.loads(autotune("predict", str(path), "--json", db=db).stdout)
    assert [p["source"] for p in predicted] == ["pilot", "fft"]  # a portfolio tries the FFT method first
    assert predicted[0]["target"] == Target(atol=0.01).to_dict() and predicted[0]["predicted_sims"] > 0
    ran = json.loads(autotune("run", str(path), "--json", "--seed", "5", db=db).stdout)
    call, book = ran
    assert call["target_met"] and call["half_widths"]["price"] <= 0.01
    assert book["target_met"] and book["half_widths"]["TVaR_0.99"] <= 0.02 * book["estimates"]["TVaR_0.99"]
    assert book["decision"]["config"]["method"] == "fft" and book["grid"]["points"] == book["n_sims"]
    assert book["error_bounds"]["TVaR_0.99"] == book["half_widths"]["TVaR_0.99"]
    tuned = autotune("tune", str(path), "--only", "call", "--budget-trials", "2", "--in-process", db=db).stdout
    assert "±0.01" in tuned and "target" in tuned
    again = json.loads(autotune("run", str(path), "--only", "call", "--json", db=db).stdout)
    assert again[0]["decision"]["source"] == "cache" and again[0]["target_met"]


def test_demo_compares_the_default_and_tuned_to_a_target(tmp_path):
    from autotune.api import tuned_simulate
    from autotune.cli._demo import _compare_target, demo_target
    from autotune.suites import SuiteEntry
    from kernels import AsianOption

    asian = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2, n_steps=12)
    assert demo_target(asian) == Target(rtol=5e-3, estimate="price")
    row = _compare_target(tuned_simulate, SuiteEntry("asian", asian, 10_000), f"sqlite:///{tmp_path / 'r.db'}")
    assert row["met"] and row["source"] == "pilot"
    assert row["tuned_n"] * 10 < row["default_n"]  # the control variate: far fewer paths for the same precision
