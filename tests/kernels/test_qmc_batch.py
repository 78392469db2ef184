"""The numpy backend's grouped quasi-random path equals its per-chunk path to the bit.

Quasi-random chunks of one size are valued in groups (one vectorised pass, rows split back
per chunk): every estimate, standard error and simulation count must be what the chunks give
one by one, for fixed-size runs and runs to a target, serial and threads.
"""

from __future__ import annotations

import numpy as np
import pytest

from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    simulate,
)
from kernels.backends import Backend
from kernels.backends.numpy_backend import GROUP_MAX_SIZE, NumpyBackend

EUROPEAN = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2)
ASIAN = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, q=0.01, sigma=0.3, n_steps=16)
PORTFOLIO = Portfolio(
    [
        PolicyGroup(50, NegativeBinomial(2.0, 0.6), Lognormal(7.0, 1.0), PolicyTerms(100.0, 50_000.0)),
        PolicyGroup(20, Poisson(0.3), Gamma(2.0, 800.0), PolicyTerms(0.0, 20_000.0)),
        PolicyGroup(4, Poisson(0.5), Exponential(500.0),
                    PolicyTerms(0.0, 10_000.0, 100.0, 30_000.0)),  # aggregate terms: per-policy counts
    ],
    levels=[0.9],
)

# (id, workload, config options, target)
CASES = [
    ("european", EUROPEAN, {}, Target(atol=1e-2, confidence=0.99)),
    ("european-antithetic", EUROPEAN, {"antithetic": True}, Target(atol=1e-2, confidence=0.99)),
    ("european-cv", EUROPEAN, {"control_variate": True}, Target(atol=1e-3, confidence=0.99)),
    ("european-cv-float32", EUROPEAN, {"control_variate": True, "precision": "float32"},
     Target(atol=1e-3, confidence=0.95)),
    ("asian", ASIAN, {}, Target(atol=1e-2)),
    ("asian-float32", ASIAN, {"precision": "float32"}, Target(atol=1e-2)),
    ("asian-cv-antithetic", ASIAN, {"control_variate": True, "antithetic": True}, Target(atol=1e-3)),
    ("portfolio", PORTFOLIO, {}, Target(rtol=2e-3, estimate="mean")),
]
EXECUTORS = [("serial", 1), ("threads", 2)]


def _per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    """The per-chunk path: every chunk its own group, valued by run_chunk."""
    monkeypatch.setattr(NumpyBackend, "group_chunks", Backend.group_chunks)


def _same(a, b) -> None:
    assert a.n_sims == b.n_sims
    assert a.estimates == b.estimates  # exact float equality, every estimate
    assert a.standard_errors == b.standard_errors
    assert a.rounds == b.rounds and a.half_widths == b.half_widths


def _spy_groups(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    sizes: list[int] = []
    original = NumpyBackend.run_group

    def run_group(self, workload, config, chunks, outs):
        sizes.append(len(chunks))
        return original(self, workload, config, chunks, outs)

    monkeypatch.setattr(NumpyBackend, "run_group", run_group)
    return sizes


@pytest.mark.parametrize("scrambles", [16, 32])
@pytest.mark.parametrize(("executor", "workers"), EXECUTORS)
@pytest.mark.parametrize(("name", "workload", "options", "target"), CASES, ids=[c[0] for c in CASES])
def test_grouped_runs_equal_per_chunk_runs(name, workload, options, target, executor, workers, scrambles) -> None:
    config = Config(backend="numpy", qmc=True, qmc_scrambles=scrambles, executor=executor, workers=workers,
                    chunk_size=16384, **options)
    n_fixed = scrambles * 300 + 5  # uneven: scrambles of 301 and 300 points
    with pytest.MonkeyPatch.context() as mp:
        groups = _spy_groups(mp)
        fixed = simulate(workload, n_fixed, config, seed=7)
        to_target = simulate(workload, config=config, seed=8, target=target, max_sims=2**20)
    assert max(groups) > 1, "the grouped path was not taken"
    assert to_target.target_met and to_target.rounds >= 2, name
    with pytest.MonkeyPatch.context() as mp:
        _per_chunk(mp)
        _same(fixed, simulate(workload, n_fixed, config, seed=7))
        _same(to_target, simulate(workload, config=config, seed=8, target=target, max_sims=2**20))


@pytest.mark.parametrize("scrambles", [16, 32])
@pytest.mark.parametrize(("executor", "workers"), EXECUTORS)
@pytest.mark.parametrize(("name", "workload", "options", "target"), CASES, ids=[c[0] for c in CASES])
def test_grouped_chunk_outputs_equal_per_chunk_outputs(name, workload, options, target, executor, workers,
                                                       scrambles) -> None:
    """Every column of every chunk's row (or every loss), not only what the estimates read."""
    from kernels._chunks import plan_chunks
    from kernels._executors import run_chunks

    config = Config(backend="numpy", qmc=True, qmc_scrambles=scrambles, executor=executor, workers=workers,
                    chunk_size=256, **options)
    n = scrambles * 700 + 3  # chunks of 256 and 188/187 points
    chunks = plan_chunks(n, 256, np.random.SeedSequence(4), qmc=True, scrambles=scrambles)
    grouped = run_chunks(workload, config, chunks, n, np.copy)
    with pytest.MonkeyPatch.context() as mp:
        _per_chunk(mp)
        alone = run_chunks(workload, config, chunks, n, np.copy)
    assert np.array_equal(grouped, alone)


@pytest.mark.parametrize(("executor", "workers"), EXECUTORS)
def test_several_chunks_per_scramble_and_sizes_group_alike(executor: str, workers: int) -> None:
    """Chunks of one scramble at several offsets, and a last chunk of another size, in one run."""
    for workload in (EUROPEAN, ASIAN, PORTFOLIO):
        config = Config(backend="numpy", qmc=True, chunk_size=300, executor=executor, workers=workers)
        grouped = simulate(workload, 16 * 1000, config, seed=5)  # chunks of 300 and 100 points
        with pytest.MonkeyPatch.context() as mp:
            _per_chunk(mp)
            _same(grouped, simulate(workload, 16 * 1000, config, seed=5))


def test_chunks_over_the_group_size_run_alone() -> None:
    config = Config(backend="numpy", qmc=True, qmc_scrambles=16)
    chunks_of = NumpyBackend().group_chunks
    from kernels._chunks import plan_chunks

    root = np.random.SeedSequence(1)
    large = plan_chunks(16 * (GROUP_MAX_SIZE + 1), GROUP_MAX_SIZE + 1, root, qmc=True, scrambles=16)
    assert all(len(g) == 1 for g in chunks_of(EUROPEAN, config, large))
    small = plan_chunks(16 * 256, 256, root, qmc=True, scrambles=16)
    assert chunks_of(EUROPEAN, config, small) == [list(range(16))]
    # The Asian's groups are capped by draws (points x steps); pseudo-random chunks are never grouped.
    asian = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.3, n_steps=252)
    assert max(map(len, chunks_of(asian, config, small))) < 16
    assert all(len(g) == 1 for g in chunks_of(EUROPEAN, Config(), plan_chunks(4096, 256, root)))


def test_run_group_of_unlike_chunks_falls_back_to_one_by_one() -> None:
    from kernels._chunks import plan_chunks
    from kernels._estimators import EUROPEAN_COLUMNS

    chunks = plan_chunks(16 * 300, 200, np.random.SeedSequence(3), qmc=True)  # sizes 200 and 100
    config = Config(backend="numpy", qmc=True)
    backend = NumpyBackend()
    grouped = np.empty((len(chunks), len(EUROPEAN_COLUMNS)))
    backend.run_group(EUROPEAN, config, chunks, list(grouped))
    alone = np.empty_like(grouped)
    for c in chunks:
        backend.run_chunk(EUROPEAN, config, c, alone[c.index])
    assert np.array_equal(grouped, alone)
    with pytest.raises(ValueError, match="2 chunks and 1 outputs"):
        backend.run_group(EUROPEAN, config, chunks[:2], [grouped[0]])


def test_sobol_uniforms_many_equal_one_by_one() -> None:
    from kernels._chunks import Chunk
    from kernels._paths import _clear_scramble_cache, sobol_uniforms, sobol_uniforms_many

    seeds = [np.random.SeedSequence(11, spawn_key=(1, r)) for r in range(40)]
    chunks = [Chunk(r, 0, 100, r, 100 * (r % 3), s, s) for r, s in enumerate(seeds)]
    for dim in (1, 5, 300):
        _clear_scramble_cache()
        many = sobol_uniforms_many(chunks, dim)  # every scramble drawn in one pass
        _clear_scramble_cache()
        for k, c in enumerate(chunks):
            assert np.array_equal(many[k], sobol_uniforms(c, dim))  # drawn alone
    with pytest.raises(ValueError, match="one size"):
        sobol_uniforms_many([chunks[0], Chunk(1, 0, 50, 1, 0, seeds[1], seeds[1])], 1)


def test_row_wise_reductions_match_one_row_at_a_time() -> None:
    """The premise of the grouped rows: numpy sums each row of a group as it sums that row alone."""
    rng = np.random.default_rng(0)
    for size in [2, 3, 7, 8, 9, 127, 128, 129, 300, 1000, 4097, GROUP_MAX_SIZE]:
        a = rng.standard_normal((33, size)) * 100.0
        b = rng.standard_normal((33, size))
        sums, dots = a.sum(axis=1), np.einsum("ij,ij->i", a, b)
        for i in range(len(a)):
            assert sums[i] == a[i].sum()
            assert dots[i] == float(np.einsum("i,i->", a[i], b[i]))


def test_replicate_sums_of_equal_groups_equal_the_loop() -> None:
    """Every scramble with as many chunks (a run to a target after its pilot): one batched sum, the same bits."""
    from kernels._estimators import _replicate_sums

    rng = np.random.default_rng(1)
    for k in (2, 3, 5, 9):
        for scrambles in (16, 32):
            rows = rng.standard_normal((scrambles * k, 10)) * 1e3
            groups = [np.arange(r, scrambles * k, scrambles) for r in range(scrambles)]
            loop = np.array([rows[g].sum(axis=0) for g in groups])
            assert np.array_equal(_replicate_sums(rows, groups), loop)


def test_asian_payoffs_of_a_group_equal_those_of_each_chunk() -> None:
    """The Asian premise: payoffs reduce over each path's steps alike for any number of paths (float32 too)."""
    from kernels.backends.numpy_backend import _asian_payoffs

    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for n_steps in (1, 3, 16, 40):
            for size in (2, 3, 256, 5000, GROUP_MAX_SIZE):
                k = 9
                log_s = (rng.standard_normal((n_steps, k * size)) * 0.2 + 4.6).astype(dtype)
                arith, geo = _asian_payoffs(ASIAN, log_s)
                for i in range(k):
                    part = slice(i * size, (i + 1) * size)
                    a1, g1 = _asian_payoffs(ASIAN, np.ascontiguousarray(log_s[:, part]))
                    assert np.array_equal(a1, arith[part]) and np.array_equal(g1, geo[part])


def test_gray_code_table_points_equal_scipys_stepping() -> None:
    from kernels._paths import _gray_code_points, _scrambled_directions_many, _seed_key, _sobol_points

    seeds = [np.random.SeedSequence(5, spawn_key=(1, r)) for r in range(6)]
    for dim in (1, 2, 16):
        directions = _scrambled_directions_many([_seed_key(s) for s in seeds], dim)
        for offsets, size in (([0] * 6, 256), ([256] * 6, 256), ([0, 300, 600, 0, 300, 600], 300),
                              ([0, 1, 2, 3, 0, 1], 1), ([7, 0, 3, 1, 2, 9], 7), ([4096] * 6, 4096)):
            table = _gray_code_points(directions, offsets, size, dim)
            assert table is not None
            for k, offset in enumerate(offsets):
                assert np.array_equal(table[k], _sobol_points(*directions[k], offset, size))
    # A table much larger than the points (a late offset) is not built: the engine's stepping is used.
    assert _gray_code_points(directions, [2**20], 256, 16) is None
