"""The default of ``Config.qmc_scrambles`` went from 16 to 32: stored configs keep their ids and meaning."""

from __future__ import annotations

from autotune.measure import config_id, config_key
from kernels import DEFAULT_QMC_SCRAMBLES, Config


def test_quasi_random_configs_default_to_32_scrambles() -> None:
    assert DEFAULT_QMC_SCRAMBLES == 32 and Config(qmc=True).qmc_scrambles == 32


def test_without_qmc_the_scrambles_mean_nothing() -> None:
    assert Config(qmc_scrambles=5) == Config() and Config(qmc_scrambles=5).qmc_scrambles == DEFAULT_QMC_SCRAMBLES
    assert Config(qmc_scrambles=5).replace(qmc=True).qmc_scrambles == DEFAULT_QMC_SCRAMBLES


def test_configs_stored_with_the_old_default_keep_their_ids_and_meaning() -> None:
    old_default = {**Config().to_dict(), "qmc_scrambles": 16}  # how Config() was stored before
    assert Config.from_dict(old_default) == Config()
    assert config_id(old_default) == config_key(Config()) == "c3cc91e3b979d418"  # the id from before
    old_qmc = {**Config(qmc=True).to_dict(), "qmc_scrambles": 16}
    assert Config.from_dict(old_qmc).qmc_scrambles == 16  # a stored quasi-random config keeps its 16 scrambles
    assert config_id(old_qmc) != config_key(Config(qmc=True))  # and is not the new default's config
