"""A database this process cannot write opens for reading; every write says it is read-only, and why.

How the file is made read-only for root is in ``_readonly.py``.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import optuna
import pytest

from autotune import StorageError
from autotune.storage import SCHEMA_VERSION, Storage, open_storage, resolve_url

from ._data import MACHINE, record, seed
from ._readonly import immutable, read_only_url


@pytest.fixture(autouse=True)
def _quiet_optuna() -> None:
    optuna.logging.set_verbosity(logging.WARNING)


@pytest.fixture
def filled(db_path: Path) -> Path:
    """A closed autotune database holding one measurement."""
    with open_storage(str(db_path)) as store:
        seed(store)
        store.add_measurements([record()])
    return db_path


def _assert_reads_and_refuses_writes(store: Storage, db_path: Path, reason: str) -> None:
    assert store.read_only
    assert store.schema_version() == SCHEMA_VERSION
    assert store.machine(MACHINE) is not None
    assert len(store.measurements()) == 1
    with pytest.raises(StorageError) as info:
        store.upsert_machine("another", {})
    message = str(info.value)
    assert f"cannot write to results database {db_path}: it is read-only" in message
    assert reason in message and "Traceback" not in message
    with pytest.raises(StorageError, match=rf"cannot tune into results database {db_path}: it is read-only"):
        store.optuna_storage()


def test_mode_ro_url_reads_and_refuses_writes(filled: Path) -> None:
    with open_storage(read_only_url(filled)) as store:
        _assert_reads_and_refuses_writes(store, filled, "the URL opens it with mode=ro")
    with open_storage(str(filled)) as store:  # nothing was lost or added
        assert store.machine("another") is None and len(store.measurements()) == 1


def test_file_this_process_may_not_write_opens_read_only(filled: Path) -> None:
    """The immutable flag: the open for writing fails as for a file owned by someone else."""
    with immutable(filled):
        before = filled.read_bytes()
        with open_storage(str(filled)) as store:
            _assert_reads_and_refuses_writes(store, filled, "this process may not write the file")
        assert filled.read_bytes() == before


def test_file_made_read_only_after_opening(filled: Path) -> None:
    """Detected at the first write instead: the error still names the file and the cause."""
    with open_storage(str(filled)) as store:
        assert not store.read_only
        store.close()  # the next transaction opens a new connection, which SQLite opens read-only
        with immutable(filled), pytest.raises(StorageError, match=rf"cannot write to results database {filled}: "
                                                                   r"it is read-only \(this process may not write"):
            store.upsert_machine("another", {})


def test_optuna_errors_turn_storage_failures_into_storage_error(filled: Path) -> None:
    with open_storage(str(filled)) as store:
        rdb = store.optuna_storage()
        with store.optuna_errors():
            optuna.create_study(storage=rdb, study_name="first")
        # With every connection closed, Optuna's next write opens a new one, which SQLite opens read-only
        # (an open connection would let SQLite reuse its read-write file descriptor).
        rdb.engine.dispose()
        store.close()
        with immutable(filled):
            with pytest.raises(StorageError, match=rf"cannot write to results database {filled}: it is read-only") \
                    as info, store.optuna_errors():
                optuna.create_study(storage=rdb, study_name="second")
            assert isinstance(info.value.__cause__, optuna.exceptions.StorageInternalError)
        rdb.engine.dispose()  # its pooled connection stays read-only
        # Other Optuna errors are not storage failures: they pass through unchanged.
        with pytest.raises(optuna.exceptions.DuplicatedStudyError), store.optuna_errors():
            optuna.create_study(storage=rdb, study_name="first")
        rdb.engine.dispose()


def test_optuna_errors_name_the_database_for_any_driver_error(filled: Path) -> None:
    with open_storage(str(filled)) as store:
        rdb = store.optuna_storage()
        rdb.engine.dispose()
        with sqlite3.connect(filled) as connection:
            connection.execute("DROP TABLE study_directions")
        connection.close()
        with pytest.raises(StorageError, match=rf"results database sqlite:///{filled}: .*no such table") as info, \
                store.optuna_errors():
            optuna.create_study(storage=rdb, study_name="broken")
        assert isinstance(info.value.__cause__, optuna.exceptions.StorageInternalError)
        rdb.engine.dispose()


def test_read_only_file_without_our_tables_is_refused(db_path: Path) -> None:
    sqlite3.connect(db_path).close()
    with pytest.raises(StorageError, match=rf"{db_path} is read-only \(the URL opens it with mode=ro\) and holds "
                                           r"no autotune tables"):
        open_storage(read_only_url(db_path))
    assert db_path.stat().st_size == 0


def test_read_only_url_to_a_missing_file(db_path: Path) -> None:
    with pytest.raises(StorageError, match=rf"{db_path} does not exist, and cannot be created"):
        open_storage(read_only_url(db_path))
    assert not db_path.exists()


def test_file_uri_paths_are_resolved(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = resolve_url("sqlite:///file:r.db?mode=ro&uri=true")
    assert url.database == f"file:{tmp_path.resolve()}/r.db"
    assert dict(url.query) == {"mode": "ro", "uri": "true"}
