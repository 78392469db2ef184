"""Aggregate losses: moments against limited-expected-value formulas, risk measures across configs."""

from __future__ import annotations

import itertools
import math

import pytest

from kernels import (
    Binomial,
    Config,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Weibull,
    simulate,
)
from kernels._analytic import compound_moments

from ..conftest import assert_close
from .conftest import all_configs, qmc_dof

FREQUENCIES = {"poisson": Poisson(1.5), "negbin": NegativeBinomial(2.0, 0.5), "binomial": Binomial(4, 0.3)}
SEVERITIES = {
    "gamma": (Gamma(2.0, 500.0), PolicyTerms(deductible=200.0, limit=2_000.0)),
    "lognormal": (Lognormal(6.0, 1.2), PolicyTerms(deductible=100.0, limit=5_000.0)),
    "pareto": (Pareto(2.5, 1_500.0), PolicyTerms(deductible=250.0, limit=10_000.0)),
    "exponential": (Exponential(800.0), PolicyTerms(deductible=300.0, limit=1_500.0)),
    "weibull": (Weibull(0.8, 700.0), PolicyTerms(deductible=150.0, limit=4_000.0)),
}
N_SIMS = 20_000


def check_moments(result, mean: float, var: float, what: str, dof: int | None = None) -> None:
    assert_close(result["mean"], mean, result.standard_errors["mean"], dof=dof, what=f"{what} mean")
    s, se_s = result["std"], result.standard_errors["std"]
    # Var(s^2) ~ (2 s)^2 Var(s): the delta-method standard error of the sample variance.
    assert_close(s * s, var, 2 * s * se_s, what=f"{what} variance")


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax"])
@pytest.mark.parametrize(("freq", "sev"), list(itertools.product(FREQUENCIES, SEVERITIES)))
def test_moments_match_limited_expected_values(backend: str, freq: str, sev: str) -> None:
    severity, terms = SEVERITIES[sev]
    group = PolicyGroup(3, FREQUENCIES[freq], severity, terms)
    mean, var = compound_moments(group)
    result = simulate(Portfolio([group]), N_SIMS, Config(backend=backend), seed=11)
    check_moments(result, mean, var, f"{backend} {freq} x {sev}")


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax"])
def test_per_policy_path_matches_pooled_formula(backend: str) -> None:
    """A non-binding aggregate limit forces one count per policy; the answer must not change."""
    terms = PolicyTerms(deductible=100.0, limit=3_000.0, aggregate_limit=1e12)
    group = PolicyGroup(40, NegativeBinomial(1.5, 0.6), Lognormal(6.5, 1.0), terms)
    assert not group.pooled
    pooled = PolicyGroup(40, NegativeBinomial(1.5, 0.6), Lognormal(6.5, 1.0), PolicyTerms(100.0, 3_000.0))
    mean, var = compound_moments(pooled)
    result = simulate(Portfolio([group]), N_SIMS, Config(backend=backend), seed=12)
    check_moments(result, mean, var, f"{backend} per-policy")


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax"])
def test_aggregate_terms_cap_each_policy_year(backend: str) -> None:
    terms = PolicyTerms(deductible=0.0, limit=1_000.0, aggregate_deductible=500.0, aggregate_limit=1_500.0)
    group = PolicyGroup(1, Poisson(4.0), Exponential(400.0), terms)
    result = simulate(Portfolio([group], levels=[0.9]), N_SIMS, Config(backend=backend), seed=3)
    # One policy: every year pays between 0 and the aggregate limit, and often exactly the limit.
    assert 0 < result["mean"] < 1_500.0
    assert result["VaR_0.9"] == pytest.approx(1_500.0)
    assert result["TVaR_0.9"] == pytest.approx(1_500.0)


MIXED = Portfolio(
    [
        PolicyGroup(200, Poisson(0.2), Lognormal(8.0, 1.3), PolicyTerms(1_000.0, 100_000.0)),
        PolicyGroup(25, NegativeBinomial(2.0, 0.6), Gamma(1.5, 2_000.0), PolicyTerms(250.0, 20_000.0, 0.0, 30_000.0)),
        PolicyGroup(10, Binomial(3, 0.2), Pareto(1.8, 5_000.0), PolicyTerms(0.0, 250_000.0)),
    ]
)


@pytest.fixture(scope="module")
def mixed_reference():
    return simulate(MIXED, 100_000, Config(), seed=99)


@pytest.mark.parametrize("config", all_configs(chunk_size=2048))
def test_risk_measures_consistent_across_configs(config: Config, mixed_reference) -> None:
    result = simulate(MIXED, 10_000, config, seed=5)
    ref = mixed_reference
    for name in ref.estimates:
        se = math.hypot(result.standard_errors[name], ref.standard_errors[name])
        dof = qmc_dof(config) if name == "mean" else None
        assert_close(result[name], ref[name], se, dof=dof, what=f"{config.label()} {name}")


def test_large_portfolio_costs_like_a_compound_draw_not_per_policy() -> None:
    """5,000 policies without aggregate terms are one pooled draw per simulation."""
    big = Portfolio([PolicyGroup(5_000, Poisson(0.1), Lognormal(8.0, 1.5), PolicyTerms(1_000.0, 100_000.0))])
    assert big.groups[0].pooled
    mean, var = compound_moments(big.groups[0])
    result = simulate(big, 20_000, seed=8)
    check_moments(result, mean, var, "5000 policies")


def test_results_have_every_requested_level() -> None:
    pf = Portfolio([PolicyGroup(2, Poisson(1.0), Gamma(2.0, 10.0))], levels=[0.5, 0.9])
    r = simulate(pf, 1_000, seed=1)
    assert set(r.estimates) == {"mean", "std", "VaR_0.5", "TVaR_0.5", "VaR_0.9", "TVaR_0.9"}
    assert r["TVaR_0.9"] >= r["VaR_0.9"] >= r["VaR_0.5"]
