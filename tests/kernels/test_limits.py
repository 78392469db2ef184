"""Limits at the public boundary: a clear ValueError naming the field, raised at once.

Each refusal is timed: under a second is a bound on a hang (planning a billion
chunks, allocating petabytes), not a speed benchmark.
"""

from __future__ import annotations

import math
import re
import time
import tracemalloc

import numpy as np
import pytest

from kernels import (
    MAX_CHUNKS,
    MAX_GROUPS,
    MAX_MATURITY,
    MAX_PRICE,
    MAX_QMC_SCRAMBLES,
    MAX_SIMS,
    MAX_WORKERS,
    MIN_PRICE,
    AsianOption,
    Binomial,
    Config,
    EuropeanOption,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    auto_chunk_size,
    estimate_memory,
    memory_limit,
    set_memory_limit,
    simulate,
)
from kernels._chunks import MIN_CHUNK_DRAWS, count_chunks, draws_per_sim, plan_chunks

OPTION = EuropeanOption(100.0, 100.0, 1.0, 0.01, 0.2)
ASIAN = AsianOption(100.0, 100.0, 1.0, 0.01, 0.2, n_steps=252)
GROUP = PolicyGroup(10, Poisson(1.0), Gamma(2.0, 500.0))
BOOK = Portfolio([PolicyGroup(50, Poisson(0.3), Gamma(2.0, 500.0)),
                  PolicyGroup(20, Poisson(1.0), Exponential(100.0), PolicyTerms(0.0, 1e4, 100.0, 1e5))])
HEAVY = Portfolio([PolicyGroup(1, Poisson(1.0), Pareto(0.3, 1.0))])  # fine in float64, not in float32
HANG_S = 1.0


@pytest.fixture
def eight_gib():
    """A fixed memory limit, so that memory refusals do not depend on the machine."""
    set_memory_limit(8 * 2**30)
    yield
    set_memory_limit(None)


def refused(build, field: str) -> str:
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match=re.escape(field)) as info:
        build()
    assert time.perf_counter() - t0 < HANG_S
    return str(info.value)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: simulate(OPTION, 10**15), "n_sims"),
        (lambda: simulate(OPTION, 2**64), "n_sims"),
        (lambda: simulate(OPTION, True), "n_sims"),
        (lambda: PolicyGroup(10**12, Poisson(0.1), Gamma(2.0, 500.0)), "PolicyGroup.n_policies"),
        (lambda: PolicyGroup(10**9, Poisson(1.0), Gamma(2.0, 500.0)), "PolicyGroup.n_policies"),
        (lambda: PolicyGroup(10**6, Binomial(10**10, 1e-9), Gamma(2.0, 500.0)), "PolicyGroup.n_policies"),
        (lambda: Poisson(1e9), "Poisson.lam"),
        (lambda: NegativeBinomial(1.0, 1e-10), "NegativeBinomial.p"),
        (lambda: Binomial(10**16, 0.5), "Binomial.n"),
        (lambda: Binomial(10**12, 0.5), "Binomial.n"),
        (lambda: PolicyGroup(1, Poisson(1.0), Pareto(0.05, 1.0)), "PolicyGroup.severity"),
        (lambda: PolicyGroup(1, Poisson(1.0), Lognormal(0.0, 30.0)), "PolicyGroup.severity"),
        (lambda: PolicyGroup(1, Poisson(1.0), Gamma(2.0, 1e300)), "PolicyGroup.severity"),
        (lambda: Portfolio([GROUP] * (MAX_GROUPS + 1)), "Portfolio.groups"),
        (lambda: Portfolio([PolicyGroup(10**8, Poisson(0.6), Gamma(2.0, 1.0))] * 2), "Portfolio.groups"),
        (lambda: EuropeanOption(1e308, 100.0, 1.0, 0.01, 0.2), "EuropeanOption.S0"),
        (lambda: EuropeanOption(100.0, 1e-300, 1.0, 0.01, 0.2), "EuropeanOption.K"),
        (lambda: EuropeanOption(100.0, 100.0, 1.0, 0.01, 1e6), "EuropeanOption.sigma"),
        (lambda: AsianOption(100.0, 100.0, 1.0, 0.01, 1e6), "AsianOption.sigma"),
        (lambda: EuropeanOption(100.0, 100.0, 1e4, 0.01, 0.01), "EuropeanOption.T"),
        (lambda: EuropeanOption(100.0, 100.0, 50.0, 0.5, 0.1), "EuropeanOption.r"),
        (lambda: EuropeanOption(100.0, 100.0, 50.0, 0.0, 0.1, q=-0.9), "EuropeanOption.q"),
        (lambda: Config(workers=MAX_WORKERS + 1, executor="threads"), "Config.workers"),
        (lambda: Config(workers="2", executor="threads"), "Config.workers"),
        (lambda: Config(chunk_size=MAX_SIMS + 1), "Config.chunk_size"),
        (lambda: Config(chunk_size=True), "Config.chunk_size"),
        (lambda: Config(qmc_scrambles=MAX_QMC_SCRAMBLES + 1), "Config.qmc_scrambles"),
        (lambda: Config(qmc_scrambles=2.5), "Config.qmc_scrambles"),
        (lambda: Config(backend=3), "Config.backend"),
        (lambda: Config(executor=None), "Config.executor"),
        (lambda: Config(precision=64), "Config.precision"),
        (lambda: Config(shared_memory=1, executor="processes"), "Config.shared_memory"),
        (lambda: simulate(OPTION, 10**9, Config(chunk_size=10)), "Config.chunk_size"),
        (lambda: simulate(OPTION, 10**11, Config(qmc=True)), "Config.qmc_scrambles"),
        (lambda: simulate(HEAVY, 1000, Config(precision="float32")), "Config.precision"),
        (lambda: simulate(EuropeanOption(1e12, 1e12, 100.0, 0.2, 0.6, q=-0.2), 1000, Config(precision="float32")),
         "Config.precision"),
        (lambda: simulate(OPTION, 100, seed=-1), "seed"),
        (lambda: simulate(OPTION, 100, seed=1.5), "seed"),
        (lambda: simulate(OPTION, 100, seed=True), "seed"),
        (lambda: simulate(OPTION, 100, seed="abc"), "seed"),
        (lambda: simulate(OPTION, 100, config="numpy"), "config"),
        (lambda: estimate_memory(OPTION, -5, Config()), "n_sims"),
        (lambda: estimate_memory("book", 100, Config()), "workload"),
        (lambda: estimate_memory(OPTION, 100, None), "config"),
    ],
)
def test_out_of_range_input_is_refused_at_once_naming_the_field(build, field: str) -> None:
    refused(build, field)


def test_a_run_that_needs_more_memory_than_the_limit_is_refused_with_the_estimate(eight_gib) -> None:
    message = refused(lambda: simulate(BOOK, 10**11), "n_sims=100000000000")
    assert "8.0 GiB" in message  # the limit
    assert "TiB of memory" in message  # the estimate: 10**11 annual losses are kept for VaR
    big_chunks = Config(chunk_size=2**22, executor="threads", workers=2)  # 2 x 4M paths x 252 steps x 24 B
    message = refused(lambda: simulate(ASIAN, 10**7, big_chunks), "Config.chunk_size=4194304")
    assert "GiB for chunks in flight" in message


def test_the_memory_limit_comes_from_the_setting_then_the_environment_then_the_machine(monkeypatch) -> None:
    monkeypatch.setenv("KERNELS_MEMORY_LIMIT", "1.5M")
    assert memory_limit() == int(1.5 * 2**20)
    refused(lambda: simulate(BOOK, 100_000), "KERNELS_MEMORY_LIMIT")  # 100k losses need more than 1.5 MiB
    set_memory_limit(2**30)
    try:
        assert memory_limit() == 2**30
        assert simulate(BOOK, 100_000, seed=1)["mean"] > 0
    finally:
        set_memory_limit(None)
    monkeypatch.setenv("KERNELS_MEMORY_LIMIT", "lots")
    refused(lambda: simulate(BOOK, 1000), "KERNELS_MEMORY_LIMIT")
    monkeypatch.delenv("KERNELS_MEMORY_LIMIT")
    assert memory_limit() > 2**20
    refused(lambda: set_memory_limit(-1), "set_memory_limit.nbytes")


@pytest.mark.parametrize(
    ("workload", "n_sims", "config"),
    [
        (BOOK, 400_000, Config()),
        (BOOK, 400_000, Config(executor="threads", workers=2)),
        (BOOK, 200_000, Config(qmc=True)),
        (OPTION, 2_000_000, Config()),
        (AsianOption(100.0, 100.0, 1.0, 0.01, 0.2, n_steps=64), 200_000, Config(chunk_size=20_000)),
    ],
)
def test_the_memory_estimate_covers_what_a_run_really_holds(workload, n_sims: int, config: Config) -> None:
    simulate(workload, 1000, config, seed=1)  # imports and caches outside the measurement
    tracemalloc.start()  # numpy reports its allocations to tracemalloc
    try:
        simulate(workload, n_sims, config, seed=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    estimate = estimate_memory(workload, n_sims, config)
    assert peak <= estimate <= 3 * peak


def test_chunking_bounds_the_estimate_of_options_but_portfolios_keep_every_loss() -> None:
    assert estimate_memory(OPTION, 10**9, Config()) < 128 * 2**20  # 64 MiB chunks
    assert estimate_memory(OPTION, MAX_SIMS, Config()) < 4 * 2**30  # chunks grow to stay within MAX_CHUNKS / 2
    per_sim = (estimate_memory(BOOK, 2 * 10**8, Config()) - estimate_memory(BOOK, 10**8, Config())) / 10**8
    assert 24 <= per_sim < 25  # the losses and two whole-sample temporaries of the VaR/TVaR reduction
    assert estimate_memory(BOOK, 10**6, Config(executor="processes", workers=2)) > estimate_memory(
        BOOK, 10**6, Config(executor="processes", workers=2, shared_memory=True))


@pytest.mark.parametrize("qmc", [False, True])
@pytest.mark.parametrize(("n_sims", "chunk"), [(10, 3), (1000, 64), (1001, 1001), (4097, 1000), (65, 7)])
def test_chunk_counts_match_the_plan_without_making_it(n_sims: int, chunk: int, qmc: bool) -> None:
    if qmc:
        chunk = min(chunk, -(-n_sims // 4))
    plan = plan_chunks(n_sims, chunk, np.random.SeedSequence(0), qmc=qmc, scrambles=4)
    assert count_chunks(n_sims, chunk, qmc=qmc, scrambles=4) == len(plan)


@pytest.mark.parametrize("workload", [OPTION, ASIAN, BOOK])
def test_automatic_chunks_keep_the_plan_small_even_for_the_largest_runs(workload) -> None:
    for n_sims in (10**6, 10**9, MAX_SIMS):
        size = auto_chunk_size(workload, n_sims)
        assert count_chunks(n_sims, size, qmc=True, scrambles=MAX_QMC_SCRAMBLES) <= MAX_CHUNKS


def test_automatic_chunks_hold_enough_draws_to_repay_their_fixed_cost_and_are_smaller_for_huge_simulations() -> None:
    assert auto_chunk_size(OPTION, 10**6) == 2**16  # one draw per path: MIN_CHUNK_DRAWS paths
    assert auto_chunk_size(OPTION, 10**4) == 10**4  # one chunk
    assert auto_chunk_size(ASIAN, 10**7) == 8192  # 10**7 / AUTO_CHUNKS, rounded down to a power of two
    for workload in (OPTION, ASIAN, BOOK):
        for n_sims in (10**5, 10**6, 10**7):
            size = auto_chunk_size(workload, n_sims)
            assert size == n_sims or size * draws_per_sim(workload) >= MIN_CHUNK_DRAWS / 2
    wide = AsianOption(100.0, 100.0, 1.0, 0.01, 0.2, n_steps=21201)  # 0.5 MB per path
    assert auto_chunk_size(wide, 10**6) == 128


def test_values_at_the_limits_are_accepted_and_give_finite_estimates() -> None:
    edge = EuropeanOption(MAX_PRICE, MIN_PRICE, MAX_MATURITY, 0.2, 0.6, q=0.2)  # sigma*sqrt(T)=6, |rT|=|qT|=20
    result = simulate(edge, 10_000, seed=1)
    assert all(math.isfinite(v) for v in (*result.estimates.values(), *result.standard_errors.values()))
    heavy = simulate(HEAVY, 10_000, seed=1)  # Pareto shape 0.3 unlimited: float64 holds it
    assert all(math.isfinite(v) for v in heavy.estimates.values())
    assert simulate(OPTION, 1000, Config(workers=2, executor="threads", chunk_size=MAX_SIMS), seed=1)["price"] > 0


def test_the_machine_memory_is_read_once_a_second_for_runs_far_below_it(monkeypatch) -> None:
    import psutil

    from kernels import EuropeanOption, _resources

    option = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2)
    monkeypatch.delenv("KERNELS_MEMORY_LIMIT", raising=False)
    monkeypatch.setattr(_resources, "_available", None)
    calls = []
    real = psutil.virtual_memory
    monkeypatch.setattr(psutil, "virtual_memory", lambda: calls.append(1) or real())
    for seed in range(5):
        simulate(option, 100_000, Config(), seed=seed)
    assert len(calls) == 1  # read once, then reused by runs far below it
    available = _resources._available[1]
    monkeypatch.setattr(_resources, "_available", (time.monotonic() - 2 * _resources.AVAILABLE_TTL_S, available))
    simulate(option, 100_000, Config(), seed=9)
    assert len(calls) == 2  # stale: read again
    need = _resources.estimate_memory(BOOK, 100_000, Config())
    monkeypatch.setattr(_resources, "_available", (time.monotonic(), 4 * need))
    simulate(BOOK, 100_000, seed=1)
    assert len(calls) == 3  # a run that needs more than an eighth of the last reading reads it afresh
    monkeypatch.setenv("KERNELS_MEMORY_LIMIT", "1K")
    refused(lambda: simulate(option, 4096, Config(qmc=True)), "KERNELS_MEMORY_LIMIT")  # a set limit binds all runs
