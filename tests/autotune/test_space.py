"""Search space: hard constraints before anything runs, enumeration, Optuna sampling."""

from __future__ import annotations

import optuna
import pytest

from autotune.space import estimate_peak_memory, search_space
from kernels import AsianOption, Config, EuropeanOption

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)


def test_enumeration_respects_every_hard_constraint() -> None:
    space = search_space(EURO, 50_000, cores=2)
    configs = space.enumerate()
    assert configs[0] == Config()
    assert len(configs) == len(set(configs))
    for c in configs:
        assert c.workers <= 2
        assert not c.shared_memory or c.executor == "processes"
        assert c.chunk_size is None or c.chunk_size <= 50_000
    assert {c.backend for c in configs} == {"numpy", "numba", "jax"}
    assert any(c.shared_memory for c in configs) and any(c.qmc for c in configs)


def test_one_core_allows_no_parallel_workers() -> None:
    configs = search_space(EURO, 50_000, cores=1).enumerate()
    assert all(c.workers == 1 and c.executor == "serial" for c in configs)


def test_violations_are_explained() -> None:
    space = search_space(EURO, 1_000, cores=2)
    assert "usable cores" in space.violation(Config(executor="threads", workers=4))
    assert "chunk_size" in space.violation(Config(chunk_size=4096))
    assert space.violation(Config()) is None


def test_memory_limit_removes_configs_that_need_too_much() -> None:
    asian = AsianOption(100.0, 100.0, 1.0, 0.02, 0.2, n_steps=252)
    limit = 64 * 2**20
    free = search_space(asian, 1_000_000, cores=2).enumerate()
    limited = search_space(asian, 1_000_000, cores=2, memory_limit_bytes=limit).enumerate()
    assert 0 < len(limited) < len(free)
    assert all(estimate_peak_memory(asian, 1_000_000, c) <= limit for c in limited)
    big = Config(chunk_size=262144)
    assert estimate_peak_memory(asian, 1_000_000, big) > limit


def test_optuna_sampling_yields_only_valid_configs() -> None:
    space = search_space(EURO, 50_000, cores=2, memory_limit_bytes=2**20)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    sampled, pruned = 0, 0
    for _ in range(60):
        trial = study.ask()
        try:
            cfg = space.suggest(trial)
        except optuna.TrialPruned:
            pruned += 1
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        assert space.is_valid(cfg)
        sampled += 1
        study.tell(trial, 1.0)
    assert sampled > 0 and pruned > 0


def test_params_of_round_trips_through_suggest() -> None:
    space = search_space(EURO, 50_000, cores=2)
    for cfg in space.enumerate()[:40]:
        study = optuna.create_study()
        study.enqueue_trial(space.params_of(cfg))
        assert space.suggest(study.ask()) == cfg


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"n_sims": 1}, "n_sims"),
    ({"cores": 0}, "cores"),
    ({"backends": ("numpy", "cuda")}, "backends"),
    ({"executors": ("mpi",)}, "executors"),
    ({"memory_limit_bytes": -1}, "memory_limit_bytes"),
])
def test_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    args = {"n_sims": 1000, **kwargs}
    with pytest.raises(ValueError, match=field):
        search_space(EURO, **args)
