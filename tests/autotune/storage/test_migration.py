"""A schema-1 database (written by an earlier autotune) opens and is upgraded in place, keeping every row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from autotune import Outcome, Source
from autotune.storage import SCHEMA_VERSION, export_results, open_storage

FIXTURE = Path(__file__).parent / "data" / "schema1.sql"
SCHEMA_2 = Path(__file__).parent / "data" / "schema2.sql"


@pytest.fixture
def old_db(tmp_path: Path) -> Path:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as con:
        con.executescript(FIXTURE.read_text(encoding="utf-8"))
    return path


def _old_rows(path: Path) -> dict[str, tuple]:
    with sqlite3.connect(path) as con:
        rows = con.execute("SELECT m.uid, m.source, m.status, m.median_s, m.first_call_s, m.estimate, m.stderr, w.kind "
                           "FROM measurements m JOIN workloads w ON w.id = m.workload_id").fetchall()
    return {r[0]: r[1:] for r in rows}


def test_fixture_is_schema_1(old_db: Path) -> None:
    with sqlite3.connect(old_db) as con:
        assert con.execute("SELECT version FROM schema_version").fetchone() == (1,)
    assert SCHEMA_VERSION == 3


def test_upgrade_keeps_every_row_and_converts_its_meaning(old_db: Path) -> None:
    before = _old_rows(old_db)
    assert {r[0] for r in before.values()} == {"tune", "online"}
    with open_storage(f"sqlite:///{old_db}") as store:
        assert store.schema_version() == SCHEMA_VERSION
        after = {m.uid: m for m in store.measurements()}
        sessions = [store.tuning_session(i) for i in (1, 2)]
    assert set(after) == set(before)
    for uid, (source, status, median_s, first_call_s, estimate, stderr, kind) in before.items():
        m = after[uid]
        assert m.source is Source(source)
        assert m.outcome is Outcome(status)
        assert m.steady_s == median_s and m.first_call_s == first_call_s
        # Online rows stored the kernel's compute time: kept, but marked so no model trains on them.
        assert m.legacy_timing is (source == "online")
        name = "mean" if kind == "portfolio" else "price"
        assert m.estimates == ({} if estimate is None else {name: estimate})
        assert m.standard_errors == ({} if stderr is None else {name: stderr})
    assert all(s is not None and s.status == "complete" and s.host is None for s in sessions)


def test_upgrade_happens_once_and_new_rows_follow(old_db: Path) -> None:
    with open_storage(f"sqlite:///{old_db}") as store:
        n = store.count_measurements()
    with open_storage(f"sqlite:///{old_db}") as store:  # already at the current version: nothing to do
        assert store.count_measurements() == n
        assert store.count_measurements(outcome=Outcome.COMPLETE) == n
        document = export_results(store)
    assert len(document["measurements"]) == n
    assert all("outcome" in m and "status" not in m for m in document["measurements"])


def test_models_never_train_on_legacy_online_rows(old_db: Path) -> None:
    from autotune.model import training_set

    n_old = len(_old_rows(old_db))
    with open_storage(f"sqlite:///{old_db}") as store:
        legacy = {m.uid for m in store.measurements() if m.legacy_timing}
        data = training_set(store)
    assert legacy and len(data) == n_old - len(legacy)


def test_newer_schema_is_refused(old_db: Path) -> None:
    from autotune import SchemaVersionError

    with sqlite3.connect(old_db) as con:
        con.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(SchemaVersionError, match=r"schema version 99.*newer autotune"):
        open_storage(f"sqlite:///{old_db}")


# -- schema 2 -> 3: workload display names -------------------------------------------------------------


@pytest.fixture
def db_v2(tmp_path: Path) -> Path:
    path = tmp_path / "v2.db"
    with sqlite3.connect(path) as con:
        con.executescript(SCHEMA_2.read_text(encoding="utf-8"))
    con.close()
    return path


def _dump(path: Path, table: str) -> list[tuple]:
    with sqlite3.connect(path) as con:
        rows = sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    con.close()
    return rows


def test_schema_2_upgrades_to_names_keeping_every_row(db_v2: Path) -> None:
    tables = ("machines", "workloads", "configs", "tuning_sessions", "measurements", "studies", "trials")
    before = {t: _dump(db_v2, t) for t in tables}
    assert before["measurements"] and before["tuning_sessions"] and before["trials"]
    with sqlite3.connect(db_v2) as con:
        assert con.execute("SELECT version FROM schema_version").fetchone() == (2,)
        assert not con.execute("SELECT name FROM sqlite_master WHERE name = 'workload_names'").fetchall()
    con.close()
    with open_storage(f"sqlite:///{db_v2}") as store:
        assert store.schema_version() == SCHEMA_VERSION == 3
        assert store.workload_names() == {}  # nothing was named before names existed
        (key,) = [row[0] for row in before["workloads"]]
        store.name_workload(key, "atm-call")
        assert store.workload_names() == {key: ("atm-call",)}
        assert store.workloads_named("atm-call") == [key]
    assert {t: _dump(db_v2, t) for t in tables} == before  # every old row as it was
    with sqlite3.connect(db_v2) as con:
        assert con.execute("SELECT version FROM schema_version").fetchall() == [(3,)]
    con.close()


def test_schema_1_upgrades_through_2_to_3(old_db: Path) -> None:
    with open_storage(f"sqlite:///{old_db}") as store:
        assert store.schema_version() == 3
        key = store.measurements()[0].workload_id
        store.name_workload(key, "book")
        assert store.workloads_named("book") == [key]
