"""Fixtures of the model tests: one synthetic results database and one fitted model per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from autotune.model import ConfigTimeModel, TrainingSet, training_set
from autotune.storage import Storage, open_storage

from . import _synthetic


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's AUTOTUNE_STORAGE must never point the tests at a real database."""
    monkeypatch.delenv("AUTOTUNE_STORAGE", raising=False)


@pytest.fixture(scope="session")
def synthetic_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Storage]:
    """5 fake machines x 13 workloads, up to 30 configs each, times from :func:`_synthetic.steady_time`."""
    path = tmp_path_factory.mktemp("model") / "r.db"
    with open_storage(f"sqlite:///{path}") as store:
        _synthetic.fill(store)
        yield store


@pytest.fixture(scope="session")
def data(synthetic_store: Storage) -> TrainingSet:
    return training_set(synthetic_store)


@pytest.fixture(scope="session")
def model(data: TrainingSet) -> ConfigTimeModel:
    return ConfigTimeModel().fit(data)


@pytest.fixture(scope="session")
def small_model(data: TrainingSet) -> ConfigTimeModel:
    """A 5-tree model: quick to save and load where the size of the forest does not matter."""
    return ConfigTimeModel(n_estimators=5).fit(data)


@pytest.fixture
def store(tmp_path) -> Iterator[Storage]:
    """An empty results database."""
    with open_storage(f"sqlite:///{tmp_path}/r.db") as s:
        yield s
