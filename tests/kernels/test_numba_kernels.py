"""The numba kernels: their own ``exp`` (straight-line, so that block loops vectorise) against ``numpy.exp``,
and their values against the numpy backend's on the same quasi-random normals."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from kernels import AsianOption, Config, EuropeanOption, simulate
from kernels.backends import _numba_kernels as nk


@numba.njit
def _exp_all(x: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        out[i] = nk._exp(x[i])
    return out


def test_within_one_ulp_of_numpy_over_the_whole_range() -> None:
    rng = np.random.default_rng(3)
    x = np.concatenate([
        rng.uniform(-745.1, 709.78, 400_000),  # from the smallest subnormal to the largest double
        rng.normal(0.0, 2.0, 400_000),  # the European's exponents: drift + vol * z
        np.linspace(-0.35, 0.35, 10_001),  # around the reduction's interval
        np.arange(-1074, 1024) * np.log(2.0),  # at powers of two
    ])
    got, want = _exp_all(x), np.exp(x)
    ulps = np.abs(got - want) / np.spacing(want)
    assert ulps.max() <= 1.0
    assert np.mean(got == want) > 0.8  # mostly the same double, not merely close


def test_overflow_underflow_and_nan_as_numpy() -> None:
    x = np.array([0.0, -0.0, 709.78, 709.79, 710.0, 1e300, np.inf, -708.5, -745.1, -745.2, -1e300, -np.inf, np.nan])
    with np.errstate(over="ignore"):
        want = np.exp(x)
    got = _exp_all(x)
    np.testing.assert_array_equal(got, want)  # inf and 0 where numpy's are; NaN stays NaN
    assert got[7] < np.finfo(np.float64).tiny and got[8] > 0  # subnormal results survive


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_european_kernel_values_paths_with_it(dtype: type) -> None:
    """The numba European row on given normals matches the numpy formula path for path (sums to 1e-12)."""
    z = np.random.default_rng(4).standard_normal(5_000).astype(dtype)
    c = np.array([-0.02, 0.25, 100.0, 95.0, 0.97, 0.0097, 1.0, 0.25, 0.97], dtype=dtype)
    out = np.zeros(10)
    nk.european_stats(np.random.default_rng(0), z, z.size, True, False, True, c, out)
    st = (np.exp(c[0] + c[1] * z) * c[2]).astype(dtype)
    pay = np.where(st > c[3], ((st - c[3]) * c[4]).astype(np.float64), 0.0)
    ctrl = (st * c[8]).astype(np.float64)
    want = [z.size, pay.sum(), (pay**2).sum(), ctrl.sum(), (pay * ctrl).sum()]
    np.testing.assert_allclose(out[[0, 1, 2, 7, 9]], want, rtol=1e-12 if dtype == np.float64 else 1e-6)


@pytest.mark.parametrize("antithetic", [False, True])
@pytest.mark.parametrize("workload", [
    EuropeanOption(S0=100.0, K=110.0, T=0.5, r=0.02, q=0.01, sigma=0.3),
    EuropeanOption(S0=100.0, K=90.0, T=2.0, r=0.02, sigma=0.25, kind="put"),
    AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2, n_steps=16),
], ids=["european-call", "european-put", "asian"])
def test_numba_equals_numpy_on_the_same_quasi_random_normals(workload, antithetic: bool) -> None:
    """Same points, same per-path formulas: equal up to the order of the float64 sums (1e-12 relative)."""
    cfg = Config(qmc=True, qmc_scrambles=4, antithetic=antithetic, control_variate=True)
    a = simulate(workload, 4096, cfg.replace(backend="numba"), seed=9)
    b = simulate(workload, 4096, cfg.replace(backend="numpy"), seed=9)
    for name, value in b.estimates.items():
        assert a.estimates[name] == pytest.approx(value, rel=1e-12, abs=1e-13), name
        assert a.standard_errors[name] == pytest.approx(b.standard_errors[name], rel=1e-9, abs=1e-13), name
