"""Schema version checks and the SQLite settings that concurrency relies on."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from autotune import SchemaVersionError, StorageError
from autotune.storage import BUSY_TIMEOUT_S, SCHEMA_VERSION, Storage, open_storage

SCHEMA_1 = Path(__file__).parent / "data" / "schema1.sql"
OUR_TABLES = {"schema_version", "machines", "workloads", "workload_names", "configs", "tuning_sessions",
              "measurements", "profiles", "models"}


def _set_version(path: Path, version: int) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE schema_version SET version = ?", (version,))
    connection.close()


def test_empty_database_is_initialised(db_path: Path) -> None:
    sqlite3.connect(db_path).close()  # an existing, empty SQLite file
    with open_storage(str(db_path)) as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        with store.session(read_only=True) as session:
            tables = set(session.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'")).scalars())
            assert OUR_TABLES <= tables
            assert session.execute(text("SELECT COUNT(*) FROM schema_version")).scalar() == 1


def test_reopening_keeps_one_version_row(db_path: Path) -> None:
    for _ in range(3):
        open_storage(str(db_path)).close()
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    connection.close()


def test_newer_schema_version_is_refused(db_path: Path) -> None:
    open_storage(str(db_path)).close()
    _set_version(db_path, SCHEMA_VERSION + 1)
    with pytest.raises(SchemaVersionError) as info:
        open_storage(str(db_path))
    message = str(info.value)
    assert f"schema version {SCHEMA_VERSION + 1}" in message
    assert f"supports schema version {SCHEMA_VERSION}" in message
    assert "upgrade autotune" in message
    assert isinstance(info.value, StorageError)


def test_older_schema_version_is_upgraded(tmp_path: Path) -> None:
    """Schema 1 has a migration: the database is upgraded in place (what it converts: test_migration.py)."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(SCHEMA_1.read_text(encoding="utf-8"))
    connection.close()
    with open_storage(str(path)) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert store.count_measurements() > 0
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        columns = {row[1] for row in connection.execute("PRAGMA table_info(measurements)")}
    connection.close()
    assert {"outcome", "steady_s", "estimates", "standard_errors", "legacy_timing"} <= columns
    assert not columns & {"status", "median_s", "compile_s", "estimate", "stderr"}


def test_schema_version_without_migration_is_refused(db_path: Path) -> None:
    open_storage(str(db_path)).close()
    _set_version(db_path, 0)
    with pytest.raises(SchemaVersionError, match=r"schema version 0, older.*no migration"):
        open_storage(str(db_path))


def test_failed_migration_leaves_the_database_as_it_was(db_path: Path) -> None:
    """A database claiming schema 1 whose tables do not match: the upgrade fails and is rolled back."""
    open_storage(str(db_path)).close()
    _set_version(db_path, 1)
    with pytest.raises(StorageError, match="status"):
        open_storage(str(db_path))
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT version FROM schema_version").fetchall() == [(1,)]
    connection.close()


def test_refused_database_is_left_untouched(db_path: Path) -> None:
    open_storage(str(db_path)).close()
    _set_version(db_path, SCHEMA_VERSION + 5)
    with sqlite3.connect(db_path) as connection:
        connection.execute("DROP TABLE profiles")
    connection.close()
    with pytest.raises(SchemaVersionError):
        open_storage(str(db_path))
    with sqlite3.connect(db_path) as connection:
        assert connection.execute("SELECT name FROM sqlite_master WHERE name = 'profiles'").fetchone() is None
    connection.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_sqlite_pragmas_are_on(storage: Storage, db_path: Path) -> None:
    with storage.session(read_only=True) as session:
        assert session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert session.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert session.execute(text("PRAGMA busy_timeout")).scalar() == int(BUSY_TIMEOUT_S * 1000)
    with sqlite3.connect(db_path) as connection:  # WAL is persistent: any other client sees it
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    connection.close()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_write_transactions_take_the_lock_up_front(storage: Storage, db_path: Path) -> None:
    """A write session holds the write lock from BEGIN; a read session holds none."""
    other = sqlite3.connect(db_path, timeout=0, isolation_level=None)
    try:
        with storage.session(read_only=True) as session:
            session.execute(text("SELECT COUNT(*) FROM machines")).scalar()
            other.execute("BEGIN IMMEDIATE")  # succeeds: readers do not lock out writers
            other.execute("ROLLBACK")
        with storage.session() as session:
            session.execute(text("SELECT COUNT(*) FROM machines")).scalar()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
    finally:
        other.close()


def test_a_database_without_the_claims_table_gains_it_on_open(storage: Storage) -> None:
    """``config_claims`` came after schema version 2 was released: opening such a database adds it (same version)."""
    with storage.session() as session:
        session.execute(text("DROP TABLE config_claims"))
    storage.close()
    with open_storage(storage.url) as again:
        with again.session(read_only=True) as session:
            assert "config_claims" in inspect(session.connection()).get_table_names()
        assert again.schema_version() == SCHEMA_VERSION
