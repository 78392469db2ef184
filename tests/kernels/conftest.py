"""Configs and workloads shared by the kernel tests."""

from __future__ import annotations

import itertools

import pytest

from kernels import Config, shutdown_pools

BACKENDS = ["numpy", "numba", "jax"]
EXECUTORS = [("serial", 1, False), ("threads", 2, False), ("processes", 2, False), ("processes", 2, True)]


def all_configs(chunk_size: int) -> list[object]:
    """Every backend x precision x qmc x executor combination (with shared memory for processes)."""
    params = []
    for backend, precision, qmc, (executor, workers, shm) in itertools.product(
        BACKENDS, ["float64", "float32"], [False, True], EXECUTORS
    ):
        cfg = Config(backend=backend, precision=precision, qmc=qmc, executor=executor, workers=workers,
                     shared_memory=shm, chunk_size=chunk_size)
        params.append(pytest.param(cfg, id=cfg.label().replace("/", "-").replace(" ", "")))
    return params


def qmc_dof(config: Config) -> int | None:
    """Degrees of freedom behind a standard error: scrambles - 1 with QMC, else None (many)."""
    return config.qmc_scrambles - 1 if config.qmc else None


@pytest.fixture(scope="session", autouse=True)
def _stop_pools():
    yield
    shutdown_pools()
