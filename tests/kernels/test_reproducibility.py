"""Seeding: identical results for identical inputs; numpy results independent of workers and executor."""

from __future__ import annotations

import pytest

from kernels import AsianOption, Config, EuropeanOption, Gamma, Poisson, PolicyGroup, PolicyTerms, Portfolio, simulate

WORKLOADS = {
    "european": EuropeanOption(100.0, 95.0, 1.0, 0.02, 0.2),
    "asian": AsianOption(100.0, 100.0, 1.0, 0.02, 0.2, n_steps=16),
    "portfolio": Portfolio(
        [
            PolicyGroup(50, Poisson(0.5), Gamma(2.0, 300.0), PolicyTerms(100.0, 2_000.0)),
            PolicyGroup(5, Poisson(2.0), Gamma(1.0, 500.0), PolicyTerms(0.0, 3_000.0, 200.0, 6_000.0)),
        ]
    ),
}
# The variance reduction each kind runs with (Config fields; portfolios have none).
VARIANCE_REDUCTION = {
    "european": {"antithetic": True, "control_variate": True},
    "asian": {"antithetic": True, "control_variate": True},
    "portfolio": {},
}


@pytest.mark.parametrize("backend", ["numpy", "numba", "jax"])
@pytest.mark.parametrize("qmc", [False, True], ids=["prng", "qmc"])
@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_same_seed_config_and_size_give_identical_results(backend: str, qmc: bool, kind: str) -> None:
    config = Config(backend=backend, qmc=qmc, chunk_size=1500, executor="threads", workers=2,
                    **VARIANCE_REDUCTION[kind])
    a = simulate(WORKLOADS[kind], 6_000, config, seed=42)
    b = simulate(WORKLOADS[kind], 6_000, config, seed=42)
    c = simulate(WORKLOADS[kind], 6_000, config, seed=43)
    assert dict(a.estimates) == dict(b.estimates)
    assert dict(a.estimates) != dict(c.estimates)


@pytest.mark.parametrize("qmc", [False, True], ids=["prng", "qmc"])
@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_numpy_results_do_not_depend_on_workers_or_executor(qmc: bool, kind: str) -> None:
    base = Config(chunk_size=1000, qmc=qmc, **VARIANCE_REDUCTION[kind])
    variants = [
        base,
        base.replace(executor="threads", workers=2),
        base.replace(executor="threads", workers=3),
        base.replace(executor="processes", workers=2),
        base.replace(executor="processes", workers=2, shared_memory=True),
    ]
    results = [simulate(WORKLOADS[kind], 5_500, cfg, seed=7) for cfg in variants]
    for cfg, r in zip(variants[1:], results[1:], strict=False):
        assert dict(r.estimates) == dict(results[0].estimates), cfg.label()
        assert dict(r.standard_errors) == dict(results[0].standard_errors), cfg.label()


def test_seed_entropy_reproduces_an_unseeded_run() -> None:
    first = simulate(WORKLOADS["european"], 2_000)
    again = simulate(WORKLOADS["european"], 2_000, seed=first.seed_entropy)
    assert dict(first.estimates) == dict(again.estimates)
