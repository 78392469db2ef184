"""Export/import between databases without duplicates, and the flat run table."""

from __future__ import annotations

import copy
import csv
import dataclasses
import datetime
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kernels
from autotune import Outcome, workload_features
from autotune.measure import Measurement
from autotune.storage import (
    EXPORT_FORMAT,
    EXPORT_VERSION,
    RUN_COLUMNS,
    SCHEMA_VERSION,
    Storage,
    TransferCounts,
    export_results,
    import_results,
    measurement_table,
    open_storage,
    write_rows,
)
from autotune.storage._models import ProfileModel

T0 = datetime.datetime(2030, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)
EUROPEAN = workload_features(kernels.EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.01, sigma=0.2), 10_000)
ASIAN = workload_features(kernels.AsianOption(S0=100.0, K=100.0, T=0.5, r=0.0, sigma=0.3, n_steps=12), 20_000)
SERIAL = kernels.Config()
THREADS = kernels.Config(workers=2, executor="threads", precision="float32", chunk_size=4096)


def _add_machine(store: Storage, name: str, instance_type: str) -> str:
    store.upsert_machine(name, {"cpu": name, "cores": 4}, cpu_model=f"CPU {name}", usable_cores=4, provider="aws",
                         instance_type=instance_type)
    return name


def _add_workloads(store: Storage) -> None:
    for features in (EUROPEAN, ASIAN):
        store.upsert_workload(features.key, features.kind, features.spec, features.vector())


def _measurement(machine: str, workload: str, config: kernels.Config, i: int, **changes: Any) -> Measurement:
    fields: dict[str, Any] = dict(
        config=config, machine_id=machine, workload_id=workload, n_sims=10_000, source="tune",
        outcome=Outcome.COMPLETE, steady_s=0.1 + i / 100, iqr_s=0.001, samples=(0.1, 0.1 + i / 100, 0.2),
        first_call_s=0.6 + i / 100, peak_memory_bytes=1000 + i, accuracy_z=0.3, estimates={"price": 8.0 + i},
        standard_errors={"price": 0.05}, versions={"numpy": "2.1.0"}, created_at=T0 + datetime.timedelta(minutes=i),
    )
    fields.update(changes)
    return Measurement(**fields)


def _fill_first(store: Storage) -> None:
    """Two machines, two workloads, two configs, ten measurements (one FAILED, one REJECTED), a profile."""
    m_a, m_b = _add_machine(store, "m-a", "c7i.xlarge"), _add_machine(store, "m-b", "m7g.large")
    _add_workloads(store)
    serial, threads = SERIAL, THREADS
    session_id = store.create_session(m_a, EUROPEAN.key, n_sims=10_000)
    records = [_measurement(m_a, EUROPEAN.key, serial, 0, session_id=session_id),
               _measurement(m_a, EUROPEAN.key, threads, 1, session_id=session_id),
               _measurement(m_a, ASIAN.key, serial, 2, source="online"),
               _measurement(m_a, ASIAN.key, threads, 3, outcome=Outcome.FAILED, steady_s=None, iqr_s=None,
                            samples=(), first_call_s=None, error="Traceback: boom"),
               _measurement(m_b, EUROPEAN.key, serial, 4),
               _measurement(m_b, EUROPEAN.key, threads, 5, outcome=Outcome.REJECTED, accuracy_z=9.5),
               _measurement(m_b, ASIAN.key, serial, 6, source="benchmark"),
               _measurement(m_b, ASIAN.key, threads, 7),
               _measurement(m_a, EUROPEAN.key, serial, 8, n_sims=20_000),
               _measurement(m_b, EUROPEAN.key, threads, 9, source="online")]
    store.add_measurements(records)
    store.add_profile(m_a, {"stream_gbps": 20.5, "cores": [0, 1, 2, 3]})


def _fill_second(store: Storage) -> None:
    """A second instance: machine m-a again, a new machine m-c, three new measurements."""
    m_a, m_c = _add_machine(store, "m-a", "c7i.xlarge"), _add_machine(store, "m-c", "c7a.large")
    _add_workloads(store)
    serial = SERIAL
    store.add_measurements([_measurement(m_c, EUROPEAN.key, serial, 20), _measurement(m_c, ASIAN.key, serial, 21),
                            _measurement(m_a, EUROPEAN.key, serial, 22)])
    store.add_profile(m_c, {"stream_gbps": 31.0})


def _open(tmp_path: Path, name: str) -> Storage:
    return open_storage(f"sqlite:///{tmp_path / name}")


@pytest.fixture
def first(tmp_path: Path) -> Iterator[Storage]:
    with _open(tmp_path, "first.db") as store:
        _fill_first(store)
        yield store


@pytest.fixture
def target(any_db_url: str) -> Iterator[Storage]:
    """The database imported into: a SQLite file, or a PostgreSQL database (``backend``)."""
    with open_storage(any_db_url) as store:
        yield store


def _snapshot(store: Storage) -> list[Measurement]:
    """Every measurement, by uid, without its session (sessions stay local to their database)."""
    return [dataclasses.replace(m, session_id=None) for m in sorted(store.measurements(), key=lambda m: m.uid)]


def _sizes(store: Storage) -> tuple[int, ...]:
    with store.session(read_only=True) as session:
        n_profiles = session.query(ProfileModel).count()
    rows = measurement_table(store)
    return (len(rows), len({r["machine_id"] for r in rows}), len({r["config_id"] for r in rows}), n_profiles)


def test_export_then_import_reproduces_every_measurement(first: Storage, target: Storage) -> None:
    document = export_results(first)
    assert json.loads(json.dumps(document)) == document  # JSON-safe as it is
    assert (document["format"], document["version"], document["schema_version"]) == (EXPORT_FORMAT, EXPORT_VERSION,
                                                                                      SCHEMA_VERSION)
    assert datetime.datetime.fromisoformat(document["exported_at"]).tzinfo is not None
    counts = import_results(target, document)
    assert counts == TransferCounts(machines=2, workloads=2, configs=2, measurements=10, skipped_duplicates=0,
                                    profiles=1)
    assert _snapshot(target) == _snapshot(first)
    assert {m.outcome for m in target.measurements()} == {Outcome.COMPLETE, Outcome.FAILED, Outcome.REJECTED}
    assert all(m.session_id is None for m in target.measurements())
    assert target.machine("m-a") == first.machine("m-a")
    assert target.workload(ASIAN.key) == first.workload(ASIAN.key)
    assert [(p.results, p.created_at) for p in target.profiles("m-a")] == [
        (p.results, p.created_at) for p in first.profiles("m-a")]


def test_reimport_adds_nothing_and_counts_duplicates(first: Storage, target: Storage) -> None:
    import_results(target, export_results(first))
    before = _sizes(target)
    counts = import_results(target, export_results(first))
    assert counts.to_dict() == {"machines": 0, "workloads": 0, "configs": 0, "measurements": 0,
                                "skipped_duplicates": 10, "profiles": 0, "tuning_sessions": 0}
    assert _sizes(target) == before


def test_merging_a_second_database_adds_only_its_new_rows(first: Storage, target: Storage, tmp_path: Path) -> None:
    with _open(tmp_path, "second.db") as second:
        _fill_second(second)
        import_results(target, first)
        counts = import_results(target, second)
        assert counts == TransferCounts(machines=1, workloads=0, configs=0, measurements=3, skipped_duplicates=0,
                                        profiles=1)
        assert _snapshot(target) == sorted(_snapshot(first) + _snapshot(second), key=lambda m: m.uid)
        assert import_results(target, second).skipped_duplicates == 3
        assert import_results(target, first).measurements == 0
    assert target.count_measurements() == 13


def test_import_straight_from_a_storage(first: Storage, target: Storage) -> None:
    assert import_results(target, first).measurements == 10
    assert _snapshot(target) == _snapshot(first)
    assert import_results(first, first).measurements == 0  # into itself: all duplicates


@pytest.mark.parametrize("name", ["results.json", "results.json.gz"])
def test_file_round_trip(first: Storage, target: Storage, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    document = export_results(first, path)
    data = path.read_bytes()
    assert data.startswith(b"\x1f\x8b") == name.endswith(".gz")
    assert json.loads(gzip.decompress(data) if name.endswith(".gz") else data) == document
    assert import_results(target, str(path)).measurements == 10
    assert import_results(target, path).skipped_duplicates == 10
    assert _snapshot(target) == _snapshot(first)


def test_filtered_export_holds_what_it_references(first: Storage, target: Storage) -> None:
    document = export_results(first, machine_id="m-b", outcome="complete")
    assert {m["machine_id"] for m in document["measurements"]} == {"m-b"}
    assert {m["outcome"] for m in document["measurements"]} == {"complete"}
    assert len(document["measurements"]) == 4
    assert [m["id"] for m in document["machines"]] == ["m-b"]
    assert document["profiles"] == []  # m-a's profile stays behind
    assert len(document["workloads"]) == 2 and len(document["configs"]) == 2
    only_failed = export_results(first, outcome=Outcome.FAILED, source="tune")
    assert [m["error"] for m in only_failed["measurements"]] == ["Traceback: boom"]
    assert [c["id"] for c in only_failed["configs"]] == [first.upsert_config(THREADS.to_dict())]
    assert import_results(target, document).measurements == 4
    with pytest.raises(ValueError, match="source must be one of"):
        export_results(first, source="cloud")
    with pytest.raises(ValueError, match="outcome must be an Outcome"):
        export_results(first, outcome="done")


def test_measurement_may_reference_rows_already_in_the_target(first: Storage, target: Storage) -> None:
    import_results(target, export_results(first, machine_id="m-a"))
    document = export_results(first, machine_id="m-b")
    document["configs"] = document["workloads"] = []
    assert import_results(target, document).measurements == 5


def _bad(document: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``document`` with the item at ``path`` ("measurements.3.outcome") set, or deleted if ``...``."""
    document = copy.deepcopy(document)
    *parents, last = path.split(".")
    node: Any = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is ...:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return document


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("format", "something-else", "document format must be 'autotune-export'"),
        ("version", EXPORT_VERSION + 1, f"document version {EXPORT_VERSION + 1} is newer"),
        ("version", "1", "document version must be a positive integer"),
        ("configs", ..., r"document misses the key\(s\) \['configs'\]"),
        ("measurements", {}, "document 'measurements' must be a list"),
        ("measurements.3.config_id", "no-such-config", r"measurements\[3\]\.config_id 'no-such-config' names a "
                                                       "config that is neither in the document's 'configs'"),
        ("measurements.4.machine_id", "no-such-machine", r"measurements\[4\]\.machine_id 'no-such-machine'"),
        ("measurements.5.outcome", "done", r"measurements\[5\]\.outcome must be one of"),
        ("measurements.5.source", "cloud", r"measurements\[5\]\.source must be one of"),
        ("measurements.3.outcome", "complete", r"measurements\[3\] is complete but has no finite steady_s"),
        ("measurements.6.estimates", {"price": "8"}, r"measurements\[6\]\.estimates must map names to numbers"),
        ("measurements.6.legacy_timing", 1, r"measurements\[6\]\.legacy_timing must be true or false"),
        ("measurements.6.session_id", 1, r"measurements\[6\] has unknown field\(s\) \['session_id'\]"),
        ("measurements.2.samples", [0.1, "slow"], r"measurements\[2\]\.samples must be a list of numbers"),
        ("measurements.1.created_at", "2030-01-02T03:04:05", r"measurements\[1\]\.created_at must carry its UTC"),
        ("measurements.1.created_at", "yesterday", r"measurements\[1\]\.created_at must be an ISO-8601 time"),
        ("measurements.0.uid", ..., r"measurements\[0\] misses the field 'uid'"),
        ("measurements.0.colour", "red", r"measurements\[0\] has unknown field\(s\) \['colour'\]"),
        ("measurements.0.n_sims", 0, r"measurements\[0\]\.n_sims must be >= 1"),
        ("machines.1.usable_cores", 2.5, r"machines\[1\]\.usable_cores must be an integer"),
        ("configs.0.id", "0123456789abcdef", r"configs\[0\]\.id '0123456789abcdef' does not match its knobs"),
        ("profiles.0.results", [1, 2], r"profiles\[0\]\.results must be an object"),
    ],
)
def test_bad_document_is_refused_before_anything_is_written(
    first: Storage, target: Storage, tmp_path: Path, path: str, value: Any, message: str
) -> None:
    with _open(tmp_path, "second.db") as second:
        _fill_second(second)
        import_results(target, second)  # the target is not empty, and the bad document would add rows
    before, rows = _sizes(target), _snapshot(target)
    with pytest.raises(ValueError, match=message):
        import_results(target, _bad(export_results(first), path, value))
    assert _sizes(target) == before and _snapshot(target) == rows


def test_repeated_uid_and_bad_sources_are_refused(first: Storage, target: Storage, tmp_path: Path) -> None:
    document = export_results(first)
    document["measurements"].append(dict(document["measurements"][2]))
    with pytest.raises(ValueError, match=r"measurements\[10\]\.uid '\w+' repeats measurements\[2\]"):
        import_results(target, document)
    (tmp_path / "list.json").write_text("[]", encoding="utf-8")
    with pytest.raises(ValueError, match="an export document must be a JSON object, got list"):
        import_results(target, tmp_path / "list.json")
    with pytest.raises(TypeError, match="import_results takes"):
        import_results(target, 42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="not an autotune export file"):
        import_results(target, first.url.removeprefix("sqlite:///"))
    assert target.count_measurements() == 0


def test_measurement_table_columns_and_filters(first: Storage) -> None:
    rows = measurement_table(first)
    assert len(rows) == 10 and all(tuple(row) == RUN_COLUMNS for row in rows)
    assert [row["created_at"] for row in rows] == sorted(row["created_at"] for row in rows)  # newest last
    failed = next(row for row in rows if row["outcome"] == "failed")
    assert (failed["machine_id"], failed["instance_type"], failed["kind"], failed["config"]) == (
        "m-a", "c7i.xlarge", "asian", THREADS.label())
    assert (failed["error"], failed["steady_s"], failed["samples"]) == ("Traceback: boom", None, [])
    assert json.loads(json.dumps(rows)) == rows
    assert len(measurement_table(first, machine_id="m-b")) == 5
    assert len(measurement_table(first, workload_id=EUROPEAN.key, kind="european")) == 6
    assert len(measurement_table(first, kind="asian", outcome=Outcome.COMPLETE)) == 3
    assert {row["estimates"]["price"] for row in measurement_table(first, source="benchmark")} == {14.0}
    assert len(measurement_table(first, source="online")) == 2
    since = measurement_table(first, since=T0 + datetime.timedelta(minutes=8))
    assert [row["peak_memory_bytes"] for row in since] == [1008, 1009]
    assert measurement_table(first, limit=3) == rows[-3:]
    assert measurement_table(first, limit=0) == []
    with pytest.raises(ValueError, match="timezone-aware"):
        measurement_table(first, since=datetime.datetime(2030, 1, 1))
    with pytest.raises(ValueError, match="limit must be an integer >= 0"):
        measurement_table(first, limit=-1)


def test_measurement_of_an_unknown_config_travels_and_shows_as_json(first: Storage, target: Storage) -> None:
    """A row whose knobs no longer make a Config (another version's) is imported, listed as JSON, not read."""
    knobs = {**SERIAL.to_dict(), "future_knob": 3}
    cid = first.upsert_config(knobs)
    document = export_results(first, source="benchmark")
    [item] = document["measurements"]
    item.update(uid="from-the-future", config_id=cid, created_at="2031-01-01T00:00:00+00:00")
    document["configs"] = [{"id": cid, "knobs": knobs}]
    assert import_results(first, document).measurements == 1
    [row] = measurement_table(first, limit=1)
    assert row["config_id"] == cid and json.loads(row["config"]) == knobs
    assert first.count_measurements() == 11 and len(first.measurements()) == 10  # left out where a Config is needed
    assert import_results(target, first).measurements == 11  # and it moves on with the rest
    assert target.config(cid) == knobs


def _as_version_1(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` as autotune wrote it at export version 1 (schema 1 measurement fields)."""
    old = copy.deepcopy(document)
    old.update(version=1, schema_version=1)
    for item in old["measurements"]:
        item["status"], item["median_s"] = item.pop("outcome"), item.pop("steady_s")
        item["compile_s"] = None if item["first_call_s"] is None else item["first_call_s"] - (item["median_s"] or 0)
        estimates, errors = item.pop("estimates"), item.pop("standard_errors")
        item["estimate"], item["stderr"] = estimates.get("price"), errors.get("price")
        del item["legacy_timing"]
    return old


def test_version_1_document_is_converted_on_import(first: Storage, target: Storage) -> None:
    document = _as_version_1(export_results(first))
    assert import_results(target, document).measurements == 10
    by_uid = {m.uid: m for m in first.measurements()}
    for m in target.measurements():
        was = by_uid[m.uid]
        # Online rows of schema 1 timed the kernel's compute only: kept, but marked.
        assert m.legacy_timing is (was.source == "online")
        assert dataclasses.replace(m, legacy_timing=False) == dataclasses.replace(was, session_id=None)
    bad = _bad(document, "measurements.5.status", "done")
    with pytest.raises(ValueError, match=r"measurements\[5\]\.outcome must be one of"):
        import_results(target, bad)
    untimed = _bad(_bad(document, "measurements.0.median_s", None), "measurements.0.first_call_s", None)
    with pytest.raises(ValueError, match=r"measurements\[0\] is complete but has no finite steady_s"):
        import_results(target, untimed)
    assert import_results(target, _as_version_1(export_results(first))).skipped_duplicates == 10


def test_write_rows_round_trips_csv_and_json(first: Storage, tmp_path: Path) -> None:
    rows = measurement_table(first)
    write_rows(rows, tmp_path / "runs.csv", "csv")
    with open(tmp_path / "runs.csv", newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        read = list(reader)
    assert tuple(reader.fieldnames or ()) == RUN_COLUMNS
    assert [r["uid"] for r in read] == [r["uid"] for r in rows]
    assert [float(r["steady_s"]) if r["steady_s"] else None for r in read] == [r["steady_s"] for r in rows]
    assert [json.loads(r["estimates"]) for r in read] == [r["estimates"] for r in rows]
    assert read[0]["n_sims"] == str(rows[0]["n_sims"])
    write_rows(rows, str(tmp_path / "runs.json"), "json")
    assert json.loads((tmp_path / "runs.json").read_text(encoding="utf-8")) == rows
    stream = io.StringIO()
    write_rows(rows[:2], stream, "json")
    assert json.loads(stream.getvalue()) == rows[:2]
    with pytest.raises(ValueError, match=r"fmt must be one of \('csv', 'json'\), got 'xml'"):
        write_rows(rows, io.StringIO(), "xml")
