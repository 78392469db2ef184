"""Shared fixtures for the results-database tests: a fresh database per test.

``storage`` (and ``seeded``) run each test on SQLite and on PostgreSQL (the ``backend``
fixture of tests/conftest.py; a test pins one with ``@pytest.mark.parametrize("backend",
["sqlite"])``). ``db_path`` is a SQLite file, for the tests about SQLite files.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from autotune.storage import Storage, open_storage

from ._data import seed


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's AUTOTUNE_STORAGE must never point the tests at a real database."""
    monkeypatch.delenv("AUTOTUNE_STORAGE", raising=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


@pytest.fixture
def storage(any_db_url: str) -> Iterator[Storage]:
    with open_storage(any_db_url) as store:
        yield store


@pytest.fixture
def seeded(storage: Storage) -> tuple[Storage, str]:
    """A store holding one machine, one workload and one config; returns it and the config id."""
    return storage, seed(storage)
