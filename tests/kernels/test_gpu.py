"""The JAX backend on a GPU: same answers as on the CPU. Skipped when JAX sees no GPU."""

from __future__ import annotations

import math

import pytest

from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    Gamma,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    black_scholes,
    geometric_asian_reference,
    simulate,
)

from ..conftest import assert_close


def _gpu_visible() -> bool:
    try:
        from kernels.backends import get_backend

        get_backend("jax")  # sets jax's process-wide options first
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    except Exception:
        return False


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not _gpu_visible(), reason="JAX sees no GPU")]


@pytest.mark.parametrize("precision", ["float64", "float32"])
@pytest.mark.parametrize("qmc", [False, True])
def test_gpu_european_matches_black_scholes(precision: str, qmc: bool) -> None:
    import jax

    option = EuropeanOption(100.0, 110.0, 0.5, 0.03, 0.3, q=0.01, kind="put")
    config = Config(backend="jax", precision=precision, qmc=qmc, chunk_size=1 << 20)
    r = simulate(option, 2_000_000, config, seed=1)
    exact = black_scholes(100.0, 110.0, 0.5, 0.03, 0.3, 0.01, "put")
    dof = config.qmc_scrambles - 1 if qmc else None
    for name in ("price", "delta", "vega"):
        assert_close(r[name], exact[name], r.standard_errors[name], dof=dof, what=f"gpu {name}")
    assert jax.devices()[0].platform == "gpu"


def test_gpu_asian_and_portfolio_agree_with_numpy() -> None:
    asian = AsianOption(100.0, 100.0, 1.0, 0.02, 0.25, n_steps=64)
    g = simulate(asian, 200_000, Config(backend="jax", chunk_size=65536), seed=2)
    assert_close(g["geometric_price"], geometric_asian_reference(asian), g.standard_errors["geometric_price"])
    pf = Portfolio([PolicyGroup(1_000, Poisson(0.05), Gamma(2.0, 1_000.0), PolicyTerms(500.0, 10_000.0))])
    a = simulate(pf, 200_000, Config(backend="jax", chunk_size=65536), seed=3)
    b = simulate(pf, 200_000, Config(), seed=4)
    for name in ("mean", "VaR_0.99", "TVaR_0.99"):
        assert_close(a[name], b[name], math.hypot(a.standard_errors[name], b.standard_errors[name]), what=name)


def test_fft_on_the_gpu_computes_the_cpu_distribution():
    import jax
    import numpy as np

    from kernels import Target, aggregate_distribution

    book = Portfolio([PolicyGroup(3, Poisson(2.0), Gamma(2.0, 1000.0), PolicyTerms(500.0, 5000.0, 0.0, 12_000.0)),
                      PolicyGroup(50, Poisson(0.2), Gamma(1.5, 800.0), PolicyTerms(limit=10_000.0))])
    gpu = aggregate_distribution(book, 10.0, 2**16, backend="jax")
    cpu = aggregate_distribution(book, 10.0, 2**16)
    assert np.abs(gpu.pmf - cpu.pmf).max() < 1e-12
    res = simulate(book, config=Config(method="fft", backend="jax"), target=Target(rtol=1e-4, estimate="TVaR_0.99"))
    assert res.target_met and any(d.platform == "gpu" for d in jax.devices())
