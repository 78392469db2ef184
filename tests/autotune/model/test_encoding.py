"""Rows of the model: feature names, config encoding."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autotune.features import MACHINE_FEATURES, WORKLOAD_FEATURES
from autotune.model import CONFIG_FEATURES, encode_config, encode_configs, feature_names
from kernels import Config, EuropeanOption
from kernels._chunks import auto_chunk_size, plan_chunks

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)


def test_feature_names_are_prefixed_unique_and_ordered() -> None:
    names = feature_names()
    assert len(names) == len(set(names)) == len(MACHINE_FEATURES) + len(WORKLOAD_FEATURES) + len(CONFIG_FEATURES)
    assert names[0] == f"m_{MACHINE_FEATURES[0]}"
    assert names[len(MACHINE_FEATURES)] == f"w_{WORKLOAD_FEATURES[0]}"
    assert names[-1] == f"c_{CONFIG_FEATURES[-1]}"


def test_default_config_resolves_the_automatic_chunk() -> None:
    n_sims = 1_000_000
    row = encode_config(Config(), EURO, n_sims)
    assert list(row) == list(CONFIG_FEATURES)
    assert row["backend_numpy"] == 1.0 and row["backend_numba"] == row["backend_jax"] == 0.0
    assert row["executor_serial"] == 1.0 and row["workers"] == 1.0 and row["log2_workers"] == 0.0
    assert row["auto_chunk"] == 1.0
    assert row["log2_chunk"] == math.log2(auto_chunk_size(EURO, n_sims))
    explicit = encode_config(Config(chunk_size=auto_chunk_size(EURO, n_sims)), EURO, n_sims)
    assert explicit["auto_chunk"] == 0.0 and explicit["log2_chunk"] == row["log2_chunk"]


@pytest.mark.parametrize("config", [
    Config(), Config(chunk_size=4096), Config(chunk_size=3000, qmc=True), Config(qmc=True, qmc_scrambles=5),
    Config(backend="numba", executor="processes", workers=4, shared_memory=True, precision="float32"),
    Config(chunk_size=10**7),
])
@pytest.mark.parametrize("n_sims", [50_000, 123_457])
def test_chunk_count_matches_the_kernels_plan(config: Config, n_sims: int) -> None:
    """The encoded chunk count is that of kernels.simulate's plan (chunk capped at n_sims and per scramble)."""
    chunk = min(config.chunk_size or auto_chunk_size(EURO, n_sims), n_sims)
    if config.qmc:
        chunk = min(chunk, -(-n_sims // config.qmc_scrambles))
    plan = plan_chunks(n_sims, chunk, np.random.SeedSequence(0), qmc=config.qmc, scrambles=config.qmc_scrambles)
    row = encode_config(config, EURO, n_sims)
    assert row["log2_chunks"] == pytest.approx(math.log2(len(plan)))
    assert row["log2_chunk"] == pytest.approx(math.log2(chunk))
    assert row["shared_memory"] == float(config.shared_memory) and row["qmc"] == float(config.qmc)


def test_many_configs_encode_like_one_at_a_time() -> None:
    configs = [Config(), Config(backend="jax", precision="float32"), Config(executor="threads", workers=8)]
    matrix = encode_configs(configs, EURO, 200_000)
    assert matrix.shape == (3, len(CONFIG_FEATURES))
    for row, config in zip(matrix, configs, strict=True):
        assert list(row) == list(encode_config(config, EURO, 200_000).values())


def test_an_unregistered_backend_gets_no_one_hot() -> None:
    row = encode_config(Config(backend="biased"), EURO, 10_000)  # registered by the tests' fake backends
    assert row["backend_numpy"] == row["backend_numba"] == row["backend_jax"] == 0.0


def test_encode_config_rejects_a_non_config() -> None:
    with pytest.raises(ValueError, match=r"kernels\.Config"):
        encode_config({"backend": "numpy"}, EURO, 10_000)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="n_sims must be a positive int"):
        encode_config(Config(), EURO, 0)
