"""Asian options: geometric price vs its closed form, arithmetic price consistent across configs."""

from __future__ import annotations

import math

import pytest

from kernels import AsianOption, Config, geometric_asian_reference, simulate

from ..conftest import assert_close
from .conftest import all_configs, qmc_dof

ATM = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, q=0.01, sigma=0.3, n_steps=32)
# Each option with the variance reduction it is run with (Config fields).
OPTIONS = [
    (ATM, {"control_variate": True}),
    (
        AsianOption(S0=100.0, K=110.0, T=0.5, r=0.01, sigma=0.2, n_steps=12, kind="put"),
        {"control_variate": True, "antithetic": True},
    ),
]
N_SIMS = 16_000


@pytest.fixture(scope="module")
def reference() -> dict:
    """Large numpy float64 pseudo-random runs that every config is compared with."""
    return {opt: simulate(opt, 200_000, Config(**vr), seed=7) for opt, vr in OPTIONS}


@pytest.mark.parametrize("config", all_configs(chunk_size=4096))
def test_asian_consistent_across_configs(config: Config, reference: dict) -> None:
    for i, (option, vr) in enumerate(OPTIONS):
        r = simulate(option, N_SIMS, config.replace(**vr), seed=20 + i)
        ref = reference[option]
        exact_geo = geometric_asian_reference(option)
        assert_close(r["geometric_price"], exact_geo, r.standard_errors["geometric_price"], dof=qmc_dof(config),
                     what=f"{config.label()} geometric {option.kind}")
        se = math.hypot(r.standard_errors["price"], ref.standard_errors["price"])
        assert_close(r["price"], ref["price"], se, dof=qmc_dof(config), what=f"{config.label()} arithmetic")


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax"])
def test_control_variate_cuts_the_error_five_fold_at_the_money(backend: str) -> None:
    with_cv = simulate(ATM, 20_000, Config(backend=backend, control_variate=True), seed=3)
    without = simulate(ATM, 20_000, Config(backend=backend), seed=3)
    assert with_cv.standard_errors["price"] * 5 <= without.standard_errors["price"]
    se = math.hypot(with_cv.standard_errors["price"], without.standard_errors["price"])
    assert_close(with_cv["price"], without["price"], se, what="cv vs plain")


def test_antithetic_pairs_reduce_the_error_per_sample() -> None:
    a = simulate(ATM, 20_000, Config(antithetic=True), seed=5)
    p = simulate(ATM, 20_000, Config(), seed=5)
    assert a.standard_errors["price"] < p.standard_errors["price"]
    assert_close(a["price"], p["price"], math.hypot(a.standard_errors["price"], p.standard_errors["price"]))


def test_geometric_closed_form_with_one_step_is_black_scholes() -> None:
    from kernels import black_scholes

    one = AsianOption(S0=100.0, K=95.0, T=0.7, r=0.02, q=0.01, sigma=0.25, n_steps=1)
    assert geometric_asian_reference(one) == pytest.approx(black_scholes(100.0, 95.0, 0.7, 0.02, 0.25, 0.01)["price"])
