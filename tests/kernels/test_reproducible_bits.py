"""The claim behind reproducible mode: executor, workers and shared memory never change a run's bits.

Chunks are seeded by their index alone, fill fixed places of the run's buffer and are reduced in
plan order, so with the same seed, ``n_sims`` and the knobs of ``autotune.space.REPRODUCIBLE_KNOBS``
every backend gives bit-identical estimates and standard errors under every executor -- also with
the automatic chunk plan (``chunk_size=None``, a function of the workload and ``n_sims`` only), and
for runs to a target. ``test_reproducibility.py`` covers numpy at fixed sizes; this file the compiled
backends and runs to a target.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from kernels import (
    Config,
    EuropeanOption,
    Lognormal,
    Poisson,
    PolicyGroup,
    Portfolio,
    Target,
    TargetNotMetWarning,
    auto_chunk_size,
    simulate,
)

OPTION = EuropeanOption(100.0, 105.0, 1.0, 0.02, 0.2)
PORTFOLIO = Portfolio([PolicyGroup(40, Poisson(0.2), Lognormal(8.0, 1.2))], levels=(0.99,))
EXECUTIONS = [dict(executor="serial", workers=1), dict(executor="threads", workers=2),
              dict(executor="threads", workers=3), dict(executor="processes", workers=2),
              dict(executor="processes", workers=2, shared_memory=True)]


def _bits(result) -> tuple[np.ndarray, np.ndarray]:
    names = sorted(result.estimates)
    return (np.array([result.estimates[k] for k in names]), np.array([result.standard_errors[k] for k in names]))


def _assert_same(results: list, labels: list[str]) -> None:
    first = _bits(results[0])
    for r, label in zip(results[1:], labels[1:], strict=True):
        est, se = _bits(r)
        assert np.array_equal(est, first[0]), f"{label}: estimates differ from {labels[0]}"
        assert np.array_equal(se, first[1]), f"{label}: standard errors differ from {labels[0]}"


@pytest.mark.parametrize(("workload", "knobs"), [
    (OPTION, {"precision": "float32", "antithetic": True}),
    (OPTION, {"qmc": True, "control_variate": True}),
    (PORTFOLIO, {}),
    (PORTFOLIO, {"qmc": True, "precision": "float32"}),
], ids=["option-f32-anti", "option-qmc-cv", "portfolio", "portfolio-qmc-f32"])
@pytest.mark.parametrize("chunk_size", [None, 1500], ids=["auto", "chunk1500"])
def test_numba_gives_the_same_bits_under_every_executor(workload, knobs, chunk_size) -> None:
    configs = [Config(backend="numba", chunk_size=chunk_size, **knobs, **e) for e in EXECUTIONS]
    results = [simulate(workload, 9_000, c, seed=11) for c in configs]
    _assert_same(results, [c.label() for c in configs])


@pytest.mark.slow  # reason: JAX compiles each shape in every process worker (about 10-20 s per case on 2 cores)
@pytest.mark.parametrize(("workload", "knobs", "chunk_size"), [
    (OPTION, {"precision": "float32", "antithetic": True}, None),
    (PORTFOLIO, {"qmc": True}, 1500),
], ids=["option-f32-anti-auto", "portfolio-qmc-chunk1500"])
def test_jax_on_the_cpu_gives_the_same_bits_under_every_executor(workload, knobs, chunk_size) -> None:
    configs = [Config(backend="jax", chunk_size=chunk_size, **knobs, **e) for e in EXECUTIONS]
    results = [simulate(workload, 9_000, c, seed=11) for c in configs]
    _assert_same(results, [c.label() for c in configs])


def test_the_automatic_chunk_plan_does_not_depend_on_the_workers() -> None:
    # auto_chunk_size takes no config: its one input besides the workload is n_sims.
    configs = [Config(**e) for e in EXECUTIONS]
    results = [simulate(OPTION, 600_000, c, seed=5) for c in configs]  # auto plan: several chunks
    assert results[0].config.chunk_size == auto_chunk_size(OPTION, 600_000) < 600_000
    assert {r.config.chunk_size for r in results} == {results[0].config.chunk_size}
    _assert_same(results, [c.label() for c in configs])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("workload", [OPTION, PORTFOLIO], ids=["option", "portfolio"])
def test_runs_to_a_target_give_the_same_bits_and_size_under_every_executor(backend, workload) -> None:
    configs = [Config(backend=backend, **e) for e in EXECUTIONS[:2] + EXECUTIONS[3:4]]
    target = Target(rtol=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetNotMetWarning)
        results = [simulate(workload, config=c, target=target, seed=3, max_sims=2**19) for c in configs]
    assert len({r.n_sims for r in results}) == 1 and results[0].rounds >= 1
    _assert_same(results, [c.label() for c in configs])
