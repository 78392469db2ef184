"""Driver errors leave as StorageError (original kept as __cause__); sessions roll back."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlalchemy.exc
from sqlalchemy import text
from sqlalchemy.orm import Session

from autotune import StorageError
from autotune.storage import Storage, config_id, open_storage, resolve_url
from autotune.storage._engine import Database
from autotune.storage._models import MachineModel
from kernels import Config

from ._data import record, seed

#: How SQLite and PostgreSQL word a foreign key violation.
FOREIGN_KEY = "FOREIGN KEY constraint failed|violates foreign key constraint"


def test_unknown_machine_violates_foreign_key(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    with pytest.raises(StorageError, match=FOREIGN_KEY) as info:
        storage.add_measurements([record(machine_id="no-such-machine")])
    assert isinstance(info.value.__cause__, sqlalchemy.exc.IntegrityError)
    assert storage.measurements() == []


def test_batch_is_all_or_nothing(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    new_config = Config()  # not stored yet: added with the batch, and rolled back with it
    with pytest.raises(StorageError, match=FOREIGN_KEY):
        storage.add_measurements([record(), record(config=new_config), record(workload_id="no-such-workload")])
    assert storage.measurements() == []
    assert storage.config(config_id(new_config.to_dict())) is None


def test_duplicate_uid_is_refused(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    storage.add_measurements([record(uid="same")])
    unique = r"UNIQUE constraint failed: measurements\.uid|unique constraint \"measurements_uid_key\""
    with pytest.raises(StorageError, match=unique):
        storage.add_measurements([record(uid="same")])
    assert len(storage.measurements()) == 1


def test_stored_row_can_be_copied_to_another_database_once(seeded: tuple[Storage, str], tmp_path: Path) -> None:
    storage, _ = seeded
    storage.add_measurements([record()])
    [row] = storage.measurements()
    with open_storage(str(tmp_path / "other.db")) as other:
        seed(other)
        other.add_measurements([row])
        with pytest.raises(StorageError, match="UNIQUE"):
            other.add_measurements([row])
        [copied] = other.measurements()
        assert copied.uid == row.uid and copied == row


def test_session_commits_and_rolls_back(storage: Storage) -> None:
    with storage.session() as session:
        session.add(MachineModel(id="kept", fingerprint={}))
    with pytest.raises(RuntimeError, match="user error"), storage.session() as session:
        session.add(MachineModel(id="dropped", fingerprint={}))
        session.flush()
        raise RuntimeError("user error")  # not a database error: passes through unchanged
    assert storage.machine("kept") is not None
    assert storage.machine("dropped") is None


def test_session_converts_sqlalchemy_errors(storage: Storage) -> None:
    with pytest.raises(StorageError, match=r"no such table: missing_table|\"missing_table\" does not exist") as info, \
            storage.session() as session:
        session.execute(text("SELECT * FROM missing_table"))
    # SQLite reports a missing table as an OperationalError, PostgreSQL as a ProgrammingError.
    assert isinstance(info.value.__cause__, sqlalchemy.exc.OperationalError | sqlalchemy.exc.ProgrammingError)
    assert "SELECT" not in str(info.value)  # the message names the problem, not the SQL


def _locked(message: str = "database is locked") -> sqlalchemy.exc.OperationalError:
    return sqlalchemy.exc.OperationalError("INSERT ...", {}, sqlite3.OperationalError(message))


def test_transaction_is_retried_when_locked(db_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = Database(resolve_url(str(db_path)))
    calls: list[int] = []

    def work(session: Session) -> str:
        calls.append(1)
        session.execute(text("CREATE TABLE IF NOT EXISTS t (x INTEGER)"))
        session.execute(text("INSERT INTO t VALUES (1)"))
        if len(calls) < 3:
            raise _locked()  # this attempt is rolled back, its insert with it
        return "done"

    with caplog.at_level("WARNING", logger="autotune.storage"):
        assert db.transact(work) == "done"
    assert len(calls) == 3
    assert caplog.text.count("retrying") == 2
    with db.session(read_only=True) as session:
        assert session.execute(text("SELECT COUNT(*) FROM t")).scalar() == 1
    db.dispose()


def test_other_errors_are_not_retried(db_path: Path) -> None:
    db = Database(resolve_url(str(db_path)))
    calls: list[int] = []

    def work(session: Session) -> None:
        calls.append(1)
        raise _locked("disk I/O error")

    with pytest.raises(StorageError, match="disk I/O error"):
        db.transact(work)
    assert len(calls) == 1
    db.dispose()
