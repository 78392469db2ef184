"""Another application's SQLite file is refused unchanged, unless adopted explicitly."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import optuna.storages._rdb.models as optuna_models
import pytest

from autotune import StorageError
from autotune.storage import Storage, open_storage
from autotune.storage._guard import OPTUNA_TABLES

from ._data import record, seed


def _customers(path: Path, *tables: str) -> None:
    """A small database of someone else's, in SQLite's default (rollback journal) mode."""
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO customers (name) VALUES ('Ada'), ('Grace')")
        for table in tables:
            connection.execute(f"CREATE TABLE {table} (x)")
    connection.close()


def _look(path: Path) -> tuple[list[str], str]:
    with sqlite3.connect(path) as connection:
        tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
        mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    connection.close()
    return tables, mode


def test_foreign_file_is_refused_and_left_byte_identical(db_path: Path) -> None:
    _customers(db_path)
    before = db_path.read_bytes()
    with pytest.raises(StorageError) as info:
        open_storage(str(db_path))
    message = str(info.value)
    assert f"{db_path} is not an autotune results database" in message
    assert "(customers)" in message and "no schema_version table" in message
    assert "Nothing was changed" in message and "adopt=True" in message and "--adopt-database" in message
    assert db_path.read_bytes() == before
    assert sorted(p.name for p in db_path.parent.iterdir()) == [db_path.name]  # no -wal, -shm, -journal
    assert _look(db_path) == (["customers"], "delete")


def test_long_table_lists_are_shortened(db_path: Path) -> None:
    _customers(db_path, "a1", "a2", "a3", "a4", "a5", "a6")
    with pytest.raises(StorageError, match=r"other tables \(a1, a2, a3, a4, a5, \.\.\. \(7 in all\)\)"):
        Storage(str(db_path))


def test_adopting_adds_our_tables_and_keeps_theirs(db_path: Path) -> None:
    _customers(db_path)
    with open_storage(str(db_path), adopt=True) as store:
        seed(store)
        store.add_measurements([record()])
    tables, mode = _look(db_path)
    assert {"customers", "schema_version", "measurements"} <= set(tables) and mode == "wal"
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT name FROM customers ORDER BY id").fetchall() == [("Ada",), ("Grace",)]
    connection.close()
    with open_storage(str(db_path)) as store:  # ours now: no flag needed again
        assert store.count_measurements() == 1


def test_optuna_tables_list_matches_optuna() -> None:
    """A file holding only Optuna's tables is not foreign (see test_optuna.py): the list must be complete."""
    assert set(optuna_models.BaseModel.metadata.tables) <= OPTUNA_TABLES
