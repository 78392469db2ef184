"""Randomized QMC: lower error than pseudo-random at equal n_sims, honest standard errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kernels import Config, EuropeanOption, black_scholes, simulate

OPTION = EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.02, sigma=0.3)


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax"])
def test_qmc_beats_pseudo_random_on_a_european(backend: str) -> None:
    exact = black_scholes(100.0, 105.0, 1.0, 0.02, 0.3)["price"]
    n = 2**14
    err = {False: [], True: []}
    for seed in range(12):
        for qmc in (False, True):
            r = simulate(OPTION, n, Config(backend=backend, qmc=qmc), seed=seed)
            err[qmc].append(r["price"] - exact)
    rmse = {k: math.sqrt(np.mean(np.square(v))) for k, v in err.items()}
    # RQMC on a smooth 1-d integrand converges far faster than 1/sqrt(n); 3x is a loose bar.
    assert rmse[True] * 3 < rmse[False], rmse


def test_qmc_standard_error_comes_from_scrambles() -> None:
    """The reported error must match the spread of independent QMC runs, not the i.i.d. formula."""
    n = 2**12
    runs = [simulate(OPTION, n, Config(qmc=True), seed=s) for s in range(40)]
    prices = np.array([r["price"] for r in runs])
    reported = np.median([r.standard_errors["price"] for r in runs])
    observed = prices.std(ddof=1)
    iid = simulate(OPTION, n, Config(), seed=0).standard_errors["price"]
    assert reported < iid / 3
    # The spread of 40 runs estimates the true error to about +-25% (2 sigma).
    assert 0.6 < reported / observed < 1.6, (reported, observed)


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax"])
def test_chunking_inside_a_scramble_does_not_change_the_points(backend: str) -> None:
    """Chunks of one replicate continue the same scrambled sequence, in any order and any executor."""
    n = 2**14
    whole = simulate(OPTION, n, Config(backend=backend, qmc=True), seed=3)
    for cfg in (Config(backend=backend, qmc=True, chunk_size=128),
                Config(backend=backend, qmc=True, chunk_size=300, executor="threads", workers=2)):
        parts = simulate(OPTION, n, cfg, seed=3)
        for name in ("price", "delta", "vega"):
            assert parts[name] == pytest.approx(whole[name], rel=1e-5, abs=1e-9), (cfg.label(), name)
            assert parts.standard_errors[name] == pytest.approx(whole.standard_errors[name], rel=1e-3, abs=1e-9)


def test_replicate_sums_fast_path_equals_the_loop() -> None:
    from kernels._estimators import _replicate_sums

    rows = np.random.default_rng(0).normal(size=(6, 4))
    loop = lambda groups: np.array([rows[g].sum(axis=0) for g in groups])  # noqa: E731
    for groups in ([np.array([i]) for i in range(6)],  # one chunk per scramble, in order
                   [np.array([i]) for i in (3, 0, 5, 1, 4, 2)],  # one per scramble, shuffled
                   [np.array([0, 3]), np.array([1, 4]), np.array([2, 5])]):  # two rounds
        assert np.array_equal(_replicate_sums(rows, groups), loop(groups))


@pytest.mark.parametrize("confidence", [0.95, 0.99])
def test_a_qmc_run_to_a_target_is_reproducible_and_near_black_scholes(confidence: float) -> None:
    from kernels import Target

    exact = black_scholes(100.0, 105.0, 1.0, 0.02, 0.3)["price"]
    cfg = Config(backend="numpy", qmc=True, control_variate=True)
    target = Target(atol=1e-3, confidence=confidence)
    a = simulate(OPTION, config=cfg, seed=11, target=target)
    b = simulate(OPTION, config=cfg, seed=11, target=target)
    assert a.target_met and a.rounds >= 2
    assert (a.estimates, a.standard_errors, a.n_sims) == (b.estimates, b.standard_errors, b.n_sims)
    assert abs(a["price"] - exact) <= 4 * a.standard_errors["price"]
    assert a.half_widths["price"] <= 1e-3
