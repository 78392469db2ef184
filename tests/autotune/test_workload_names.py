"""Display names of workloads: stored beside the hash key, carried by export/import, shown and matched."""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest
from sqlalchemy import text

from autotune import StorageError, machine_fingerprint, workload_features
from autotune.api import flush, reset, tuned_simulate
from autotune.cli import main
from autotune.features import CloudIdentity
from autotune.measure import Measurement
from autotune.report import compare_instances
from autotune.report._instances import Labels
from autotune.storage import ResultsLog, Storage, export_results, import_results, measurement_table, open_storage
from autotune.suites import SuiteEntry
from autotune.tuner import tune
from kernels import Config, EuropeanOption

from .conftest import FAST
from .test_tuner import small_space

CALL = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)
PUT = EuropeanOption(100.0, 90.0, 1.0, 0.02, 0.2, kind="put")


@pytest.fixture(autouse=True)
def _no_storage_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AUTOTUNE_STORAGE", raising=False)


def _write(store: Storage, workload: EuropeanOption, n: int = 3, steady: float = 0.01) -> str:
    features = workload_features(workload, 10_000)
    ResultsLog(store, machine_fingerprint()).write(features, [
        Measurement(config=Config(), outcome="complete", n_sims=10_000, steady_s=steady, samples=(steady,) * 2)
        for _ in range(n)], source="tune")
    return features.key


# -- storage -----------------------------------------------------------------------------------------------


def test_names_are_kept_latest_first_and_found_by_name(tmp_path: Path) -> None:
    with open_storage(f"sqlite:///{tmp_path}/r.db") as store:
        call, put = _write(store, CALL), _write(store, PUT)
        assert store.workload_names() == {}
        store.name_workload(call, "atm-call")
        time.sleep(0.002)  # distinct timestamps: the latest name is the one shown
        store.name_workload(call, "  book3 ")  # stripped
        store.name_workload(put, "book3")  # the same name on two workloads (two spec files)
        assert store.workload_names() == {call: ("book3", "atm-call"), put: ("book3",)}
        assert store.workload_names([put]) == {put: ("book3",)}
        assert store.workloads_named("book3") == sorted([call, put])
        assert store.workloads_named("atm-call") == [call] and store.workloads_named("nope") == []
        time.sleep(0.002)
        store.name_workload(call, "atm-call")  # given again: latest again, still one row per name
        assert store.workload_names([call]) == {call: ("atm-call", "book3")}
        with pytest.raises(StorageError, match="no workload 'european-0000'"):
            store.name_workload("european-0000", "x")
        for bad in ("", "   ", "x" * 129, 3):
            with pytest.raises(ValueError, match="name must be a non-empty string of at most 128"):
                store.name_workload(call, bad)  # type: ignore[arg-type]


def test_processes_naming_one_workload_at_once_store_the_name_once(any_db_url: str) -> None:
    """Many tuners of one spec name its workload at the same moment: no IntegrityError, one row."""
    import multiprocessing as mp

    with open_storage(any_db_url) as store:
        key = _write(store, CALL, n=1)
    ctx = mp.get_context("spawn")
    start = ctx.Barrier(4)
    procs = [ctx.Process(target=_name_at_once, args=(any_db_url, key, start)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * 4
    with open_storage(any_db_url) as store:
        assert store.workload_names([key]) == {key: ("call",)}
        with store.session(read_only=True) as session:
            assert session.execute(text("SELECT COUNT(*) FROM workload_names")).scalar() == 1


def _name_at_once(url: str, key: str, start) -> None:
    with open_storage(url) as store:
        start.wait(60)  # every process opened its store: they name the workload together
        store.name_workload(key, "call")


def test_export_and_import_carry_names_and_keep_the_latest(tmp_path: Path) -> None:
    with open_storage(f"sqlite:///{tmp_path}/a.db") as a, open_storage(f"sqlite:///{tmp_path}/b.db") as b:
        call = _write(a, CALL)
        a.name_workload(call, "atm-call")
        document = export_results(a)
        assert [(n["workload_id"], n["name"]) for n in document["workload_names"]] == [(call, "atm-call")]
        import_results(b, document)
        assert b.workload_names() == {call: ("atm-call",)}
        time.sleep(0.002)
        b.name_workload(call, "book3")  # named later in the fleet database
        import_results(b, document)  # importing the older document again changes nothing
        assert b.workload_names() == {call: ("book3", "atm-call")}
        filtered = export_results(a, workload_id=call)
        assert len(filtered["workload_names"]) == 1
        # A document without the section (an older export) imports as before.
        older = {k: v for k, v in document.items() if k != "workload_names"}
        with open_storage(f"sqlite:///{tmp_path}/c.db") as c:
            import_results(c, older)
            assert c.workload_names() == {} and c.workload(call) is not None


@pytest.mark.parametrize(("item", "expected"), [
    ({"workload_id": "european-x", "name": "", "first_named_at": "2030-01-01T00:00:00+00:00",
      "last_named_at": "2030-01-01T00:00:00+00:00"}, r"workload_names\[0\]\.name must be a non-empty string"),
    ({"workload_id": 7, "name": "a"}, r"workload_names\[0\]\.workload_id must be a non-empty string"),
    ({"workload_id": "european-x", "name": "a", "first_named_at": "yesterday",
      "last_named_at": "2030-01-01T00:00:00+00:00"}, r"workload_names\[0\]\.first_named_at must be an ISO-8601"),
    ({"workload_id": "european-nowhere", "name": "a", "first_named_at": "2030-01-01T00:00:00+00:00",
      "last_named_at": "2030-01-01T00:00:00+00:00"}, r"names a workload that is neither in the document"),
])
def test_bad_name_items_are_refused_and_nothing_is_written(tmp_path: Path, item: dict, expected: str) -> None:
    with open_storage(f"sqlite:///{tmp_path}/a.db") as a, open_storage(f"sqlite:///{tmp_path}/b.db") as b:
        call = _write(a, CALL)
        document = export_results(a)
        document["workload_names"] = [{**item, "workload_id": item["workload_id"].replace("european-x", call)}
                                      if isinstance(item["workload_id"], str) else item]
        with pytest.raises(ValueError, match=expected):
            import_results(b, document)
        assert b.count_measurements() == 0 and b.workload(call) is None


# -- who gives names ----------------------------------------------------------------------------------------


def test_tune_stores_the_name_and_tells_optuna(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    report = tune(CALL, 4000, storage=url, space=small_space(CALL, 4000, executors=("serial",), chunk_sizes=(None,)),
                  measure_options=FAST, progress=False, finalists=1, name="atm-call")
    with open_storage(url) as store:
        assert store.workload_names() == {report.workload_key: ("atm-call",)}
        study = optuna.load_study(study_name=report.study_name, storage=store.optuna_storage())
    assert study.user_attrs["workload_name"] == "atm-call"
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        tune(CALL, 4000, storage=url, name="")


def test_tuned_simulate_records_the_name_with_its_timing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    reset()
    try:
        for _ in range(2):
            tuned_simulate(CALL, 2000, storage=url, policy="default", seed=1, name="quick-call")
        assert flush(url, timeout=30) == 0
    finally:
        reset()
    with open_storage(url) as store:
        key = workload_features(CALL, 2000).key
        assert store.workload_names() == {key: ("quick-call",)}
    with pytest.raises(ValueError, match="name must be a non-empty string"):
        tuned_simulate(CALL, 2000, storage=url, name=" ")


def test_suite_entries_give_their_names_but_not_generated_ones() -> None:
    assert SuiteEntry("motor-book", CALL, 1000).display_name == "motor-book"
    assert SuiteEntry("workload-3", CALL, 1000).display_name is None  # a spec entry without a name
    assert SuiteEntry("workload-3b", CALL, 1000).display_name == "workload-3b"
    assert SuiteEntry("x" * 200, CALL, 1000).display_name is None  # too long to store: tuned, not named


def test_autotune_run_stores_the_spec_names(tmp_path: Path) -> None:
    spec = tmp_path / "book.toml"
    spec.write_text('[[workload]]\nname = "desk-call"\nkind = "european"\nn_sims = 2000\n'
                    'S0 = 100.0\nK = 100.0\nT = 1.0\nr = 0.02\nsigma = 0.2\n'
                    '[[workload]]\nkind = "european"\nn_sims = 2000\n'
                    'S0 = 100.0\nK = 90.0\nT = 1.0\nr = 0.02\nsigma = 0.2\n')
    db = f"sqlite:///{tmp_path}/r.db"
    reset()
    try:
        assert main(["run", str(spec), "--policy", "default", "--storage", db]) == 0
    finally:
        reset()
    with open_storage(db) as store:
        assert set(store.workload_names().values()) == {("desk-call",)}  # the unnamed entry is not named


# -- where names show ----------------------------------------------------------------------------------------


def test_runs_shows_and_matches_names(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = f"sqlite:///{tmp_path}/r.db"
    with open_storage(db) as store:
        call, put = _write(store, CALL, n=3), _write(store, PUT, n=2)
        store.name_workload(call, "book3")
        rows = measurement_table(store, workload_id=[call, put])
        assert len(rows) == 5 and {r["workload_name"] for r in rows} == {"book3", None}
    assert main(["runs", "--workload", "book3", "--json", "--storage", db]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 3 and {(r["workload_id"], r["workload_name"]) for r in rows} == {(call, "book3")}
    assert main(["runs", "--workload", put, "--json", "--storage", db]) == 0  # the key still works
    assert len(json.loads(capsys.readouterr().out)) == 2
    assert main(["runs", "--storage", db]) == 0
    table = capsys.readouterr().out
    assert "book3" in table and f"european-{put.split('-')[1][:6]}" in table
    assert main(["runs", "--workload", "book4", "--storage", db]) == 2
    err = capsys.readouterr().err
    assert "no workload named 'book4'" in err and "known: book3" in err and "Traceback" not in err
    assert main(["export", str(tmp_path / "x.json"), "--workload", "book3", "--storage", db]) == 0
    assert len(json.loads((tmp_path / "x.json").read_text())["measurements"]) == 3


def test_reports_label_workloads_by_name(tmp_path: Path) -> None:
    with open_storage(f"sqlite:///{tmp_path}/r.db") as store:
        call, put = _write(store, CALL), _write(store, PUT)
        store.name_workload(call, "atm-call")
        labels = Labels(store)
        assert labels.workload(call, 10_000) == "atm-call n=10,000"
        assert labels.workload(put, 10_000) == f"european-{put.split('-')[1][:6]} n=10,000"
        other = dataclasses.replace(machine_fingerprint(), cpu_model="Other CPU",
                                    cloud=CloudIdentity("aws", "c7i.large", "env"))
        ResultsLog(store, other).write(workload_features(CALL, 10_000), [
            Measurement(config=Config(), outcome="complete", n_sims=10_000, steady_s=0.02, samples=(0.02, 0.021))],
            source="tune")
        (row, *_) = compare_instances(store).rows
        assert row.workload == "atm-call" and "atm-call" in compare_instances(store).table()


# -- PostgreSQL (a real server over a Unix socket, from pgserver) ---------------------------------------------


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    import pgserver  # a dev dependency (pip install -e .[dev])

    # Not under pytest's private (0700) temporary folder: the server runs as its own user, and makes this one.
    folder = Path(tempfile.gettempdir()) / f"autotune-pg-{uuid.uuid4().hex[:12]}"
    server = pgserver.get_server(str(folder), cleanup_mode="delete")
    try:
        socket_dir = server.get_uri().split("host=", 1)[1]
        yield f"postgresql+psycopg://postgres:@/postgres?host={socket_dir}"
    finally:
        server.cleanup()


def test_postgres_upgrades_schema_2_and_carries_names(pg_url: str, tmp_path: Path) -> None:
    with open_storage(f"sqlite:///{tmp_path}/a.db") as a:
        call = _write(a, CALL, n=2)
        a.name_workload(call, "atm-call")
        document = export_results(a)
    with open_storage(pg_url) as pg:
        assert pg.schema_version() == 3
        import_results(pg, document)
        import_results(pg, document)  # twice: nothing doubles
        assert pg.workload_names() == {call: ("atm-call",)} and pg.count_measurements() == 2
        with pg.session() as session:  # back to what a schema-2 autotune wrote
            session.execute(text("DROP TABLE workload_names"))
            session.execute(text("UPDATE schema_version SET version = 2"))
    with open_storage(pg_url) as pg:  # upgraded in place, every row kept
        assert pg.schema_version() == 3 and pg.count_measurements() == 2 and pg.workload(call) is not None
        assert pg.workload_names() == {}
        pg.name_workload(call, "book3")
        assert pg.workloads_named("book3") == [call]
