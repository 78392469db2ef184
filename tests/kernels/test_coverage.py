"""Runs to a target report honest intervals: they hold the true value as often as they claim.

For each family (a workload whose answer is known, and the estimate the target is put on)
and estimator (pseudo-random, quasi-random), ``RUNS`` seeded runs go to a 95% target;
the share whose reported interval ``res.confidence_interval(name, 0.95)`` holds the true
value must be at least ``0.95 - 4 * sqrt(0.95 * 0.05 / RUNS)`` (binomial slack: an
honest 95% interval fails this about once in 30,000 test runs). The targets are chosen so
that most runs take more than their pilot, so the stopping rule's repeated looks are part
of what is measured. ``python -m experiments.coverage`` measures the same at 90/95/99%
with more runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    Gamma,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    european_reference,
    geometric_asian_reference,
    simulate,
)
from kernels._analytic import portfolio_moments

pytestmark = pytest.mark.slow

RUNS = 200
CONFIDENCE = 0.95
ESTIMATORS = {"pseudo": Config(backend="numpy"), "qmc": Config(backend="numpy", qmc=True)}
OPTION = EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.03, sigma=0.2)
ASIAN = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2, n_steps=8)
BOOK = Portfolio([PolicyGroup(1, Poisson(2.0), Gamma(shape=2.0, scale=500.0),
                              PolicyTerms(deductible=200.0, limit=3000.0))], levels=(0.99,))


@pytest.fixture(autouse=True)
def _one_blas_thread():
    """Coverage does not depend on BLAS threads; OpenBLAS's threaded dot products on a loaded
    2-core machine make the reductions many times slower."""
    with threadpool_limits(1):
        yield


def fft_tvar(level: float, step: float = 0.5) -> tuple[float, float]:
    """BOOK's TVaR at ``level`` and its mean, from gemact's FFT of the aggregate distribution."""
    lossmodel = pytest.importorskip("gemact.lossmodel")
    (group,) = BOOK.groups
    nodes = 1 << math.ceil(math.log2(group.loss_ceiling() / step))  # beyond any plausible loss: no wrap-around
    model = lossmodel.LossModel(
        frequency=lossmodel.Frequency(dist="poisson", par={"mu": group.frequency.lam}),
        severity=lossmodel.Severity(dist="gamma", par={"a": group.severity.shape, "scale": group.severity.scale}),
        policystructure=lossmodel.PolicyStructure(
            layers=lossmodel.Layer(cover=group.terms.limit, deductible=group.terms.deductible)),
        aggr_loss_dist_method="fft", n_sev_discr_nodes=round(group.terms.limit / step) + 1,
        n_aggr_dist_nodes=nodes, sev_discr_method="localmoments",
    )
    x = np.asarray(model.dist[0].nodes, dtype=float)
    cdf = np.asarray(model.dist[0].cumprobs, dtype=float)
    pmf = np.diff(cdf, prepend=0.0)
    var = x[np.searchsorted(cdf, level - 1e-12)]
    # TVaR as the kernels define it: VaR + E[(L - VaR)^+] / (1 - level).
    return float(var + pmf @ np.maximum(x - var, 0.0) / (1 - level)), float(pmf @ x)


def test_the_fft_reference_agrees_with_the_analytic_moments() -> None:
    tvar, mean = fft_tvar(0.99)
    assert mean == pytest.approx(portfolio_moments(BOOK)[0], rel=1e-9)
    assert tvar == pytest.approx(fft_tvar(0.99, step=1.0)[0], rel=1e-6)  # converged in the grid
    assert 4 * mean < tvar < 6 * mean


# family -> (workload, estimate, true value (a callable: gemact is optional), tolerance per estimator)
FAMILIES = {
    "european": (OPTION, "price", lambda: european_reference(OPTION)["price"],
                 {"pseudo": {"atol": 0.05}, "qmc": {"atol": 0.005}}),
    "asian": (ASIAN, "geometric_price", lambda: geometric_asian_reference(ASIAN),
              {"pseudo": {"atol": 0.05}, "qmc": {"atol": 0.005}}),
    "portfolio-mean": (BOOK, "mean", lambda: portfolio_moments(BOOK)[0],
                       {"pseudo": {"rtol": 0.01}, "qmc": {"rtol": 0.0125}}),
    # Quasi-random TVaR runs cost ~0.2 s each; experiments/coverage.py measures them.
    "portfolio-tvar": (BOOK, "TVaR_0.99", lambda: fft_tvar(0.99)[0], {"pseudo": {"rtol": 0.02}}),
}
CASES = [pytest.param(family, estimator, id=f"{family}-{estimator}")
         for family, (*_, tolerances) in FAMILIES.items() for estimator in tolerances]


@pytest.mark.parametrize(("family", "estimator"), CASES)
def test_intervals_of_runs_to_a_target_cover_the_truth(family: str, estimator: str) -> None:
    workload, name, truth_of, tolerances = FAMILIES[family]
    truth = truth_of()
    target = Target(**tolerances[estimator], estimate=name, confidence=CONFIDENCE)
    hits, rounds = 0, []
    for seed in range(RUNS):
        res = simulate(workload, config=ESTIMATORS[estimator], seed=seed, target=target)
        assert res.target_met is True
        lo, hi = res.confidence_interval(name, CONFIDENCE)
        hits += lo <= truth <= hi
        rounds.append(res.rounds)
    observed = hits / RUNS
    floor = CONFIDENCE - 4 * math.sqrt(CONFIDENCE * (1 - CONFIDENCE) / RUNS)
    assert np.mean(rounds) > 1.4, "the target should take most runs past their pilot"
    assert observed >= floor, f"{family} {estimator}: {hits}/{RUNS} intervals hold {truth:.6g}, below {floor:.3f}"
