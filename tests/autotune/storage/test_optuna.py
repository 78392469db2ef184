"""Optuna's tables and ours live in one database (a SQLite file, or a PostgreSQL database)."""

from __future__ import annotations

import logging

import optuna
import pytest
from sqlalchemy import inspect, text

from autotune.storage import SCHEMA_VERSION, Storage, open_storage

from ._data import MACHINE, WORKLOAD, record


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(logging.WARNING)


def test_optuna_study_and_our_tables_coexist(backend: str, seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    sid = storage.create_session(MACHINE, WORKLOAD, n_sims=100, sampler="tpe", study_name="tune-1")
    storage.add_measurements([record(session_id=sid)])

    rdb = storage.optuna_storage()
    assert isinstance(rdb, optuna.storages.RDBStorage)
    assert rdb.url == storage.url
    assert rdb.engine.dialect.name == backend
    study = optuna.create_study(storage=rdb, study_name="tune-1", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0) ** 2, n_trials=5)
    rdb.engine.dispose()

    # Our data, schema version and settings are intact, alongside Optuna's tables.
    assert storage.schema_version() == SCHEMA_VERSION
    assert len(storage.measurements(session_id=sid)) == 1
    with storage.session(read_only=True) as session:
        tables = set(inspect(session.connection()).get_table_names())
        assert {"studies", "trials", "version_info", "measurements", "machines", "schema_version"} <= tables
        if backend == "sqlite":
            assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"

    # Reopening both sides sees everything: ours after Optuna wrote, and Optuna's study from the URL alone.
    storage.close()
    with open_storage(storage.url) as again:
        assert again.measurements()[0].session_id == sid
        loaded = optuna.load_study(study_name="tune-1", storage=again.url)
        assert len(loaded.trials) == 5


def test_optuna_first_then_ours(any_db_url: str) -> None:
    optuna.create_study(storage=any_db_url, study_name="first")
    with open_storage(any_db_url) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert optuna.study.get_all_study_names(store.optuna_storage()) == ["first"]
