"""Brownian bridge: the construction has Brownian covariance min(s, t)."""

from __future__ import annotations

import numpy as np
import pytest

from kernels._paths import brownian_bridge


@pytest.mark.parametrize("n_steps", [1, 2, 7, 12, 252])
def test_bridge_covariance_is_brownian(n_steps: int) -> None:
    T = 1.5
    b = brownian_bridge(n_steps, T).matrix()
    t = np.arange(1, n_steps + 1) * T / n_steps
    np.testing.assert_allclose(b @ b.T, np.minimum.outer(t, t), atol=1e-12)


def test_bridge_first_dimension_sets_the_end_point() -> None:
    b = brownian_bridge(8, 1.0).matrix()
    assert b[-1, 0] == pytest.approx(1.0) and np.allclose(b[-1, 1:], 0.0)
