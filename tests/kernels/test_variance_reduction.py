"""Variance reduction (``Config.antithetic``, ``Config.control_variate``, ``Config.qmc``) on every backend.

Two kinds of checks, with fixed seeds:

* Unbiasedness: every combination of antithetic x control variate x QMC, in both
  precisions, prices the European call and put within 4 SE of Black-Scholes (delta
  and vega too), and the Asian within 4 SE of a high-precision numpy reference (the
  geometric price within 4 SE of its closed form).
* Efficiency: the variance per sample of the plain estimator divided by that of
  the reduced one, at equal ``n`` with the same seed (pseudo-random only: with QMC a
  variance comes from 16 scrambles and is too noisy to compare). An antithetic
  sample is a pair of paths, so it costs two paths: a factor above 2 pays at equal
  work. Each bound is about half the factor measured on all three backends (seeds
  0-2, 200k European / 20k-50k Asian samples, float64), listed beside it; the
  factors of a given estimator agree across backends to within a few percent.
"""

from __future__ import annotations

import itertools
import math

import pytest

from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    SimulationResult,
    european_reference,
    geometric_asian_reference,
    simulate,
)

from ..conftest import assert_close
from .conftest import BACKENDS

Option = EuropeanOption | AsianOption

CALL = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2, q=0.01)
PUT = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2, q=0.01, kind="put")
ASIAN = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2, q=0.01, n_steps=16)
ASIAN_252 = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2, q=0.01, n_steps=252)

EUROPEAN_SIMS = 32_768
ASIAN_SIMS = 16_384
# One chunk size for every run: jax compiles once per chunk size (QMC runs use n / 16 per scramble).
CHUNK = 8192

# antithetic x control_variate x qmc
COMBINATIONS = [
    pytest.param(anti, cv, qmc, id=f"{'anti' if anti else 'plain'}-{'cv' if cv else 'nocv'}-{'qmc' if qmc else 'prng'}")
    for anti, cv, qmc in itertools.product([False, True], repeat=3)
]
PRECISIONS = ["float64", "float32"]


def _config(backend: str, anti: bool, cv: bool, qmc: bool, precision: str = "float64") -> Config:
    return Config(backend=backend, antithetic=anti, control_variate=cv, qmc=qmc, precision=precision,
                  chunk_size=CHUNK)


def _dof(*configs: Config) -> int | None:
    """Student-t degrees of freedom for a comparison: the fewest of any QMC estimate involved."""
    dofs = [c.qmc_scrambles - 1 for c in configs if c.qmc]
    return min(dofs) if dofs else None


def _reference(option: AsianOption, n_sims: int, seed: int) -> SimulationResult:
    """A high-precision numpy run (QMC with the geometric control variate); its SE is combined with the tests'."""
    return simulate(option, n_sims, Config(qmc=True, control_variate=True, chunk_size=1 << 16), seed=seed)


@pytest.fixture(scope="module")
def asian_reference() -> SimulationResult:
    return _reference(ASIAN, 1 << 17, seed=1234)


@pytest.fixture(scope="module")
def asian_252_reference() -> SimulationResult:
    return _reference(ASIAN_252, 1 << 15, seed=1235)


# --------------------------------------------------------------------------- unbiasedness


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("anti", "cv", "qmc"), COMBINATIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_european_matches_black_scholes(backend: str, anti: bool, cv: bool, qmc: bool, precision: str) -> None:
    config = _config(backend, anti, cv, qmc, precision)
    for i, option in enumerate((CALL, PUT)):
        result = simulate(option, EUROPEAN_SIMS, config, seed=500 + i)
        exact = european_reference(option)
        for name in ("price", "delta", "vega"):
            assert_close(result[name], exact[name], result.standard_errors[name], dof=_dof(config),
                         what=f"{config.label()} {option.kind} {name}")


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize(("anti", "cv", "qmc"), COMBINATIONS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_asian_matches_the_reference(
    backend: str, anti: bool, cv: bool, qmc: bool, precision: str, asian_reference: SimulationResult
) -> None:
    config = _config(backend, anti, cv, qmc, precision)
    _check_asian(ASIAN, ASIAN_SIMS, config, asian_reference, seed=600)


@pytest.mark.parametrize(("anti", "cv", "qmc"), COMBINATIONS)
def test_asian_252_steps_matches_the_reference(
    anti: bool, cv: bool, qmc: bool, asian_252_reference: SimulationResult
) -> None:
    config = _config("numpy", anti, cv, qmc)
    _check_asian(ASIAN_252, 8192, config, asian_252_reference, seed=700)


def _check_asian(option: AsianOption, n_sims: int, config: Config, ref: SimulationResult, seed: int) -> None:
    result = simulate(option, n_sims, config, seed=seed)
    se = math.hypot(result.standard_errors["price"], ref.standard_errors["price"])
    assert_close(result["price"], ref["price"], se, dof=_dof(config, ref.config), what=f"{config.label()} price")
    geo, geo_se = result["geometric_price"], result.standard_errors["geometric_price"]
    assert_close(geo, geometric_asian_reference(option), geo_se, dof=_dof(config), what=f"{config.label()} geometric")


# --------------------------------------------------------------------------- efficiency


def _variance(option: Option, n_sims: int, config: Config, name: str = "price", seed: int = 11) -> float:
    """Variance per sample (a path, or an antithetic pair) of the estimate ``name``."""
    result = simulate(option, n_sims, config, seed=seed)
    return result.standard_errors[name] ** 2 * n_sims


def _factors(
    option: Option, n_sims: int, backend: str, names: tuple[str, ...] = ("price",)
) -> dict[tuple[str, str], float]:
    """``plain variance / reduced variance`` per estimate, for cv, anti and both, at equal ``n`` and seed."""
    base = _config(backend, False, False, False)
    factors = {}
    for name in names:
        plain = _variance(option, n_sims, base, name)
        for label, changes in (("cv", {"control_variate": True}), ("anti", {"antithetic": True}),
                               ("both", {"antithetic": True, "control_variate": True})):
            factors[label, name] = plain / _variance(option, n_sims, base.replace(**changes), name)
    return factors


@pytest.mark.parametrize("backend", BACKENDS)
def test_european_variance_reduction_factors(backend: str) -> None:
    call = _factors(CALL, EUROPEAN_SIMS, backend, names=("price", "delta", "vega"))
    # Control variate (discounted S_T), call: measured 6.4x. Put: 2.5x, since the put
    # payoff falls as S_T rises and the linear fit explains less of it.
    assert call["cv", "price"] >= 3.0, call
    # Antithetic pairs, per pair vs per path: measured 3.8x on the ATM call, so ~1.9x at equal paths.
    assert call["anti", "price"] >= 1.9, call
    # Both: measured 51x (call), 20x (put).
    assert call["both", "price"] >= 25.0, call
    # The pathwise delta (S_T 1{S_T > K}) is close to monotone in z: measured 21x; vega 2.7x.
    assert call["anti", "delta"] >= 10.0, call
    assert call["anti", "vega"] >= 1.3, call
    # The control variate leaves delta and vega alone (no correction for them).
    assert call["cv", "delta"] == pytest.approx(1.0) and call["cv", "vega"] == pytest.approx(1.0)
    put = _factors(PUT, EUROPEAN_SIMS, backend)
    assert put["cv", "price"] >= 1.25, put  # measured 2.5x
    assert put["anti", "price"] >= 1.8, put  # measured 3.6x
    assert put["both", "price"] >= 10.0, put  # measured 20x


@pytest.mark.parametrize("backend", BACKENDS)
def test_asian_variance_reduction_factors(backend: str) -> None:
    f = _factors(ASIAN, ASIAN_SIMS, backend)
    # The geometric-average control is almost the arithmetic payoff at the money:
    # measured 1300x (16 and 252 steps alike). Antithetic: 3.95x; both: 2500x.
    assert f["cv", "price"] >= 600.0, f
    assert f["anti", "price"] >= 2.0, f
    assert f["both", "price"] >= 1200.0, f


def test_asian_252_steps_control_variate_factor() -> None:
    f = _factors(ASIAN_252, 8192, "numpy")
    assert f["cv", "price"] >= 600.0, f  # measured 1300x
    assert f["both", "price"] >= 1200.0, f  # measured 2500x
