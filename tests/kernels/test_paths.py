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


# The fast Sobol path (scrambled direction numbers drawn and cached per seed) against scipy's public engine.
@pytest.mark.parametrize("dim", [1, 3, 252, 1500])  # 1500: above _CACHED_DIM, drawn per chunk
@pytest.mark.parametrize(("offset", "size"), [(0, 1), (0, 256), (1, 7), (256, 256), (4096, 5000)])
def test_sobol_uniforms_are_bit_identical_to_scipys_engine(dim: int, offset: int, size: int) -> None:
    from kernels._chunks import Chunk
    from kernels._paths import _U_EPS, _engine_uniforms, sobol_uniforms

    for seed in (np.random.SeedSequence(7, spawn_key=(1, 3)), np.random.SeedSequence(2**90 + 5, spawn_key=(1, 0))):
        chunk = Chunk(0, 0, size, 3, offset, seed, seed)
        fast = sobol_uniforms(chunk, dim)
        reference = np.clip(_engine_uniforms(seed, dim, offset, size), _U_EPS, 1 - _U_EPS)
        assert fast.shape == (size, dim)
        assert np.array_equal(fast, reference)
        assert np.array_equal(sobol_uniforms(chunk, dim), fast)  # from the cache: the same points again


def test_sobol_uniforms_differ_between_scrambles_and_do_not_change_the_seed() -> None:
    from kernels._chunks import Chunk
    from kernels._paths import sobol_uniforms

    a, b = np.random.SeedSequence(1, spawn_key=(1, 0)), np.random.SeedSequence(1, spawn_key=(1, 1))
    ua = sobol_uniforms(Chunk(0, 0, 64, 0, 0, a, a), 2)
    ub = sobol_uniforms(Chunk(0, 0, 64, 1, 0, b, b), 2)
    assert not np.array_equal(ua, ub)
    assert a.n_children_spawned == 0  # the replicate's shared seed object is left as it was
    # one point per interval of width 1/64 in each coordinate: a scrambled (0, m, d)-net's balance
    assert all(np.array_equal(np.sort(np.floor(ua[:, j] * 64)), np.arange(64)) for j in range(2))


def test_sobol_uniforms_refuse_a_chunk_past_the_sequence() -> None:
    from kernels._chunks import Chunk
    from kernels._paths import sobol_uniforms

    s = np.random.SeedSequence(0)
    with pytest.raises(ValueError, match="2\\*\\*30 points"):
        sobol_uniforms(Chunk(0, 0, 2, 0, 2**30 - 1, s, s), 1)


def test_random_bits_equal_numpys_bounded_integers() -> None:
    from kernels._paths import _random_bits, _raw_bits_match

    assert _raw_bits_match()  # this numpy: the fast path is the one in use
    for entropy, n in ((0, 60), (99, 30 * 31 * 4), (2**70, 2)):
        seed = np.random.SeedSequence(entropy, spawn_key=(1, 2, 0))
        expected = np.random.Generator(np.random.PCG64(seed)).integers(2, size=n, dtype=np.uint32)
        assert np.array_equal(_random_bits(np.random.PCG64(seed), n), expected)
