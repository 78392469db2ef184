"""Workload features: stable keys, spec round trips, the feature vector, and input checks."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pytest

from autotune.features import WORKLOAD_FEATURES, workload_features, workload_from_spec
from kernels import AsianOption, Poisson, PolicyGroup, Portfolio

from . import _builders
from .test_machine import run_python

WORKLOADS = _builders.all_workloads()


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_key_format_and_stability(name):
    f = workload_features(WORKLOADS[name], 10_000)
    assert re.fullmatch(rf"{name}-[0-9a-f]{{16}}", f.key)
    assert f.kind == name
    assert workload_features(WORKLOADS[name], 10_000) == f


def test_key_is_the_same_in_a_fresh_process():
    code = ("from autotune.features import workload_features\n"
            "from tests.autotune.features import _builders\n"
            "for name, w in sorted(_builders.all_workloads().items()):\n"
            "    print(workload_features(w, 10_000).key)\n")
    assert run_python(code) == [workload_features(WORKLOADS[n], 10_000).key for n in sorted(WORKLOADS)]


def test_key_changes_with_n_sims_and_parameters():
    base = _builders.asian()
    keys = {
        workload_features(base, 10_000).key,
        workload_features(base, 10_001).key,
        workload_features(dataclasses.replace(base, K=101.0), 10_000).key,
        workload_features(dataclasses.replace(base, sigma=0.31), 10_000).key,
        workload_features(dataclasses.replace(base, n_steps=65), 10_000).key,
    }
    assert len(keys) == 5
    p = _builders.portfolio()
    lam = dataclasses.replace(p, groups=(dataclasses.replace(p.groups[0], frequency=Poisson(0.11)), *p.groups[1:]))
    levels = dataclasses.replace(p, levels=(0.9,))
    assert len({workload_features(w, 1000).key for w in (p, lam, levels)}) == 3


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_spec_round_trip(name):
    w = WORKLOADS[name]
    f = workload_features(w, 4096)
    spec = json.loads(json.dumps(f.spec, allow_nan=False))
    assert spec == f.spec
    rebuilt = workload_from_spec(spec)
    assert rebuilt == w
    assert f.workload() == w
    assert workload_features(rebuilt, 4096).key == f.key


def test_portfolio_spec_names_families_and_encodes_unlimited_layers():
    spec = workload_features(_builders.portfolio(), 100).spec
    assert [g["frequency"]["family"] for g in spec["groups"]] == [
        "poisson", "negative_binomial", "binomial", "poisson", "poisson"]
    assert [g["severity"]["family"] for g in spec["groups"]] == [
        "gamma", "lognormal", "pareto", "exponential", "weibull"]
    assert spec["groups"][0]["terms"]["limit"] == "inf"
    assert spec["levels"] == [0.95, 0.99]


@pytest.mark.parametrize("name", sorted(WORKLOADS))
def test_vector_keys_and_values(name):
    vec = workload_features(WORKLOADS[name], 10_000).vector()
    assert list(vec) == list(WORKLOAD_FEATURES)
    assert all(isinstance(v, float) and math.isfinite(v) for v in vec.values())
    assert vec[f"is_{name}"] == 1.0 and vec["is_european"] + vec["is_asian"] + vec["is_portfolio"] == 1.0
    assert vec["log10_n_sims"] == pytest.approx(4.0)
    assert vec["log10_total_draws"] == pytest.approx(4.0 + math.log10(10 ** vec["log10_draws_per_sim"] - 1))


def test_vector_details():
    e = workload_features(_builders.european(), 1000).vector()
    assert (e["n_steps"], e["log10_steps"], e["log10_draws_per_sim"]) == (1.0, 0.0, math.log10(2))
    a = workload_features(_builders.asian(), 1000).vector()
    assert a["n_steps"] == 64.0
    assert "antithetic" not in a and "control_variate" not in a  # config knobs now, not workload features
    assert a["log10_draws_per_sim"] == pytest.approx(math.log10(1 + 64))
    p_w = _builders.portfolio()
    p = workload_features(p_w, 1000).vector()
    assert (p["n_steps"], p["groups"], p["has_aggregate_terms"]) == (0.0, 5.0, 1.0)
    assert p["pooled_fraction"] == pytest.approx(3 / 5)
    assert sum(p[k] for k in WORKLOAD_FEATURES if k.startswith("freq_")) == 5.0
    assert sum(p[k] for k in WORKLOAD_FEATURES if k.startswith("sev_")) == 5.0
    assert p["freq_poisson"] == 3.0 and p["sev_weibull"] == 1.0
    assert p["log10_policies"] == pytest.approx(math.log10(1 + 1290))
    assert p["log10_expected_claims"] == pytest.approx(math.log10(1 + p_w.expected_claims()))
    draws = 1 + 200 + 1 + 10 + 1 + p_w.expected_claims()  # pooled groups: 1 count; per-policy: one per policy
    assert p["log10_draws_per_sim"] == pytest.approx(math.log10(1 + draws))
    single = Portfolio(groups=[PolicyGroup(5, Poisson(0.2), _builders.portfolio().groups[0].severity)])
    assert workload_features(single, 100).vector()["has_aggregate_terms"] == 0.0


def test_numpy_integer_n_sims_is_accepted():
    assert workload_features(_builders.european(), np.int64(1000)).key == workload_features(
        _builders.european(), 1000).key


@pytest.mark.parametrize("n_sims", [1, 0, -5, 2.0, 1e6, True, "1000", None])
def test_bad_n_sims(n_sims):
    with pytest.raises(ValueError, match="n_sims"):
        workload_features(_builders.european(), n_sims)


@pytest.mark.parametrize("workload", [None, "european", {"kind": "european"}, 3])
def test_not_a_workload(workload):
    with pytest.raises(ValueError, match="workload"):
        workload_features(workload, 1000)


@pytest.mark.parametrize("spec, match", [
    (None, "kind"),
    ({}, "kind"),
    ({"kind": "bond"}, "spec.kind"),
    ({"kind": "european"}, "params"),
    ({"kind": "european", "params": {"S0": 1.0}}, "european"),
    ({"kind": "asian", "params": {"S0": 1.0, "K": 1.0, "T": 1.0, "r": 0.0, "sigma": -1.0}}, "sigma"),
    ({"kind": "portfolio", "groups": "x", "levels": [0.9]}, "groups"),
    ({"kind": "portfolio", "levels": [0.9], "groups": [
        {"n_policies": 1, "frequency": {"family": "zipf"}, "severity": {}, "terms": {}}]}, r"groups\[0\].frequency"),
    ({"kind": "portfolio", "levels": [0.9], "groups": [
        {"n_policies": 1, "frequency": {"family": "poisson", "mu": 1.0}, "severity": {}, "terms": {}}]}, "poisson"),
])
def test_bad_specs(spec, match):
    with pytest.raises(ValueError, match=match):
        workload_from_spec(spec)


def test_spec_is_a_fresh_copy():
    f = workload_features(AsianOption(S0=1.0, K=1.0, T=1.0, r=0.0, sigma=0.2), 100)
    f.spec["params"]["K"] = 99.0
    assert f.spec["params"]["K"] == 1.0
