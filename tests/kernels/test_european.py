"""European options: every config prices, and gives delta and vega, within 4 SE of Black-Scholes."""

from __future__ import annotations

import pytest

from kernels import Config, EuropeanOption, black_scholes, simulate

from ..conftest import assert_close
from .conftest import all_configs, qmc_dof

# A grid of moneyness (K / S0) and maturities, calls and puts, with rates and dividends.
GRID = [
    EuropeanOption(S0=100.0, K=K, T=T, r=0.03, q=0.01, sigma=0.25, kind=kind)
    for K, T, kind in [
        (80.0, 0.25, "call"),
        (100.0, 1.0, "call"),
        (125.0, 2.0, "call"),
        (90.0, 0.5, "put"),
        (100.0, 1.0, "put"),
        (115.0, 3.0, "put"),
    ]
]
N_SIMS = 40_000


@pytest.mark.parametrize("config", all_configs(chunk_size=8192))
def test_european_matches_black_scholes(config: Config) -> None:
    for i, option in enumerate(GRID):
        result = simulate(option, N_SIMS, config, seed=100 + i)
        exact = black_scholes(option.S0, option.K, option.T, option.r, option.sigma, option.q, option.kind)
        for name in ("price", "delta", "vega"):
            assert_close(result.estimates[name], exact[name], result.standard_errors[name],
                         dof=qmc_dof(config), what=f"{config.label()} {option} {name}")
        # the config actually used: QMC chunks never span two scrambles
        expected = min(8192, -(-N_SIMS // config.qmc_scrambles)) if config.qmc else 8192
        assert result.config.chunk_size == expected
        assert result.n_sims == N_SIMS


def test_result_reports_timing_and_config() -> None:
    option = GRID[1]
    result = simulate(option, 10_000, seed=1)
    t = result.timing
    assert t.total_s >= t.compute_s >= 0 and t.overhead_s >= 0
    assert abs(t.total_s - (t.overhead_s + t.compute_s)) < 1e-3
    assert result.config == Config(chunk_size=result.config.chunk_size)
    lo, hi = result.confidence_interval("price", 0.95)
    assert lo < result["price"] < hi
    assert set(result.estimates) == set(result.standard_errors) == {"price", "delta", "vega"}
