"""Smoke test of experiments.bench_kernels' overheads and random-number limit on a small European."""

from __future__ import annotations

import math

from experiments import bench_kernels
from kernels import Config, EuropeanOption, auto_chunk_size


def test_overheads_time_work_bare_threads_and_the_run_side_by_side() -> None:
    option = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.03, q=0.01, sigma=0.2)
    case = bench_kernels.Case("european_small", option, 200_000)
    configs = [Config(), Config(backend="numba", executor="threads", workers=2, chunk_size=16_384)]
    rows = bench_kernels.overheads(case, configs, repeats=3)
    assert [r["label"] for r in rows] == [c.label() for c in configs]
    assert rows[0]["chunks"] == math.ceil(200_000 / auto_chunk_size(option, 200_000)) and rows[0]["workers"] == 1
    assert rows[1]["chunks"] == math.ceil(200_000 / 16_384) and rows[1]["workers"] == 2
    for r in rows:
        assert 0 < r["work_s"] < 10 and 0 < r["bare_s"] < 10 and 0 < r["median_s"] < 10
        assert r["scaling"] == r["work_s"] / r["bare_s"]
        assert 0 <= r["overhead_pct"] < 100


def test_the_random_number_limit_counts_one_normal_per_european_path() -> None:
    option = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.03, q=0.01, sigma=0.2)
    per_core = bench_kernels.normals_per_core_s(n=2**16, repeats=3)
    assert 1e6 < per_core < 1e11
    limit = bench_kernels.rng_limit_s(bench_kernels.Case("e", option, 1_000_000), per_core, cores=2)
    assert math.isclose(limit, 1_000_000 / (2 * per_core))
