"""Every table: what goes in comes back out, typed."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from autotune import Outcome, StorageError
from autotune.storage import MeasurementRow, Storage, config_id, open_storage
from autotune.storage._models import ConfigModel

from ._data import KNOBS, MACHINE, WORKLOAD, record


def test_machine_round_trip_and_upsert(storage: Storage) -> None:
    storage.upsert_machine("m", {"cpu": "a"}, cpu_model="A", usable_cores=4, provider="aws", instance_type="c7i.xlarge")
    row = storage.machine("m")
    assert row is not None
    assert (row.id, row.fingerprint, row.cpu_model, row.usable_cores) == ("m", {"cpu": "a"}, "A", 4)
    assert (row.provider, row.instance_type) == ("aws", "c7i.xlarge")
    assert row.created_at.tzinfo is datetime.UTC
    storage.upsert_machine("m", {"cpu": "b"}, cpu_model="B", usable_cores=2)
    updated = storage.machine("m")
    assert updated is not None
    assert (updated.fingerprint, updated.cpu_model, updated.usable_cores) == ({"cpu": "b"}, "B", 2)
    assert updated.provider is None
    assert updated.created_at == row.created_at
    assert storage.machine("unknown") is None


def test_workload_round_trip_and_upsert(storage: Storage) -> None:
    storage.upsert_workload("w", "asian", {"strike": 1.0, "steps": [1, 2]}, {"n_steps": 2})
    row = storage.workload("w")
    assert row is not None
    assert (row.id, row.kind) == ("w", "asian")
    assert (row.spec, row.features) == ({"strike": 1.0, "steps": [1, 2]}, {"n_steps": 2})
    storage.upsert_workload("w", "asian", {"strike": 1.0, "steps": [1, 2]}, {"n_steps": 2, "new": True})
    updated = storage.workload("w")
    assert updated is not None and updated.features == {"n_steps": 2, "new": True}
    assert storage.workload("unknown") is None


def test_config_round_trip_and_columns(storage: Storage) -> None:
    cid = storage.upsert_config(KNOBS)
    assert cid == config_id(KNOBS) == config_id(dict(reversed(list(KNOBS.items()))))
    assert len(cid) == 16
    assert storage.upsert_config(dict(KNOBS)) == cid  # idempotent
    assert storage.config(cid) == KNOBS
    with storage.session(read_only=True) as session:
        row = session.scalars(select(ConfigModel)).one()
        assert (row.backend, row.executor, row.workers, row.precision) == ("numpy", "threads", 2, "float32")
        assert (row.chunk_size, row.qmc, row.shared_memory) == (65536, True, False)
    assert storage.config("unknown") is None


def test_config_id_differs_per_knob_and_rejects_bad_knobs(storage: Storage) -> None:
    assert config_id(KNOBS) != config_id({**KNOBS, "workers": 3})
    with pytest.raises(ValueError, match="JSON-serialisable"):
        config_id({"backend": object()})
    with pytest.raises(ValueError, match=r"miss \['executor', 'workers', 'precision'\]"):
        storage.upsert_config({"backend": "numpy"})


def test_measurement_round_trip_every_field(seeded: tuple[Storage, str]) -> None:
    storage, cid = seeded
    session_id = storage.create_session(MACHINE, WORKLOAD, n_sims=1000, sampler="tpe", budget={"trials": 5})
    when = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    rec = record(
        cid, session_id=session_id, source="online", compile_s=1.5, first_call_s=2.0, peak_memory_bytes=123456789,
        accuracy_z=0.7, estimate=10.25, stderr=0.01, versions={"numpy": "2.1.0"}, uid="fixed-uid", created_at=when,
    )
    mid = storage.add_measurement(rec)
    [row] = storage.measurements()
    assert isinstance(row, MeasurementRow)
    assert row.id == mid
    for name in rec.__dataclass_fields__:
        assert getattr(row, name) == getattr(rec, name), name
    assert row.status is Outcome.COMPLETE and row.samples == (0.49, 0.5, 0.51)


def test_measurement_defaults_uid_and_time(seeded: tuple[Storage, str]) -> None:
    storage, cid = seeded
    before = datetime.datetime.now(datetime.UTC)
    ids = storage.add_measurements([record(cid), record(cid, status="failed", median_s=None, error="boom")])
    rows = storage.measurements()
    assert [r.id for r in rows] == ids
    assert rows[0].uid and rows[1].uid and rows[0].uid != rows[1].uid
    assert all(r.created_at is not None and r.created_at >= before - datetime.timedelta(seconds=1) for r in rows)
    assert rows[1].status is Outcome.FAILED and rows[1].error == "boom" and rows[1].median_s is None


def test_add_measurement_from_keywords(seeded: tuple[Storage, str]) -> None:
    storage, cid = seeded
    mid = storage.add_measurement(machine_id=MACHINE, workload_id=WORKLOAD, config_id=cid, n_sims=10,
                                  source="benchmark", status=Outcome.TIMED_OUT)
    [row] = storage.measurements(source="benchmark")
    assert row.id == mid and row.status is Outcome.TIMED_OUT


def test_measurement_filters_and_best(seeded: tuple[Storage, str]) -> None:
    storage, cid = seeded
    other = storage.upsert_config({**KNOBS, "backend": "numba"})
    storage.add_measurements([
        record(cid, median_s=0.5),
        record(other, median_s=0.2),
        record(other, median_s=0.1, status=Outcome.REJECTED, accuracy_z=9.0),
        record(cid, median_s=None, status=Outcome.FAILED, source="online"),
        record(cid, median_s=0.05, n_sims=10),
    ])
    assert len(storage.measurements()) == 5
    assert len(storage.measurements(status=Outcome.COMPLETE)) == 3
    assert len(storage.measurements(status="failed", source="online")) == 1
    assert len(storage.measurements(config_id=other)) == 2
    assert len(storage.measurements(limit=2)) == 2
    assert storage.measurements(machine_id="nobody") == []
    best = storage.best_measurement(MACHINE, WORKLOAD)
    assert best is not None and best.median_s == 0.05
    best_at_n = storage.best_measurement(MACHINE, WORKLOAD, n_sims=100_000)
    assert best_at_n is not None and (best_at_n.config_id, best_at_n.median_s) == (other, 0.2)
    assert storage.best_measurement(MACHINE, "other workload") is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"source": "guess"}, "source must be one of"),
        ({"status": "done"}, "status must be an Outcome"),
        ({"n_sims": 0}, "n_sims must be a positive int"),
        ({"median_s": None}, "COMPLETE measurement needs a finite median_s"),
        ({"stderr": "small"}, "stderr must be a number"),
        ({"created_at": datetime.datetime(2030, 1, 1)}, "timezone-aware"),
    ],
)
def test_measurement_record_validates(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record("cid", **changes)


def test_tuning_session_round_trip(seeded: tuple[Storage, str]) -> None:
    storage, cid = seeded
    sid = storage.create_session(MACHINE, WORKLOAD, n_sims=5000, sampler="tpe", study_name="s-1",
                                 budget={"trials": 40, "seconds": 600})
    row = storage.tuning_session(sid)
    assert row is not None
    assert (row.machine_id, row.workload_id, row.n_sims, row.sampler, row.study_name) == (
        MACHINE, WORKLOAD, 5000, "tpe", "s-1")
    assert (row.status, row.budget, row.finished_at, row.best_config_id, row.report) == (
        "running", {"trials": 40, "seconds": 600}, None, None, None)
    storage.finish_session(sid, status="complete", best_config_id=cid, report={"speedup": 3.2})
    done = storage.tuning_session(sid)
    assert done is not None and done.finished_at is not None and done.finished_at >= done.started_at
    assert (done.status, done.best_config_id, done.report) == ("complete", cid, {"speedup": 3.2})
    assert storage.tuning_session(sid + 1) is None
    with pytest.raises(StorageError, match=f"no tuning session with id {sid + 1}"):
        storage.finish_session(sid + 1, status="complete")


def test_profile_round_trip(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    first = storage.add_profile(MACHINE, {"stream_gbps": 20.5})
    second = storage.add_profile(MACHINE, {"stream_gbps": 21.0})
    rows = storage.profiles(MACHINE)
    assert [(r.id, r.results) for r in rows] == [(first, {"stream_gbps": 20.5}), (second, {"stream_gbps": 21.0})]
    assert storage.profiles("other") == []


def test_model_round_trip(storage: Storage) -> None:
    payload = bytes(range(256)) * 100
    storage.add_model("rf", feature_schema_version=1, n_rows=10, rows_hash="a" * 64, payload=b"old")
    mid = storage.add_model("rf", feature_schema_version=2, n_rows=500, rows_hash="b" * 64, payload=payload,
                            params={"n_estimators": 200}, metrics={"top1": 0.8}, versions={"sklearn": "1.6"})
    row = storage.latest_model("rf")
    assert row is not None
    assert (row.id, row.name, row.feature_schema_version, row.n_rows, row.rows_hash) == (mid, "rf", 2, 500, "b" * 64)
    assert (row.payload, row.params, row.metrics, row.versions) == (
        payload, {"n_estimators": 200}, {"top1": 0.8}, {"sklearn": "1.6"})
    assert row.trained_at.tzinfo is datetime.UTC
    assert storage.latest_model("other") is None


def test_data_survives_reopening(db_path: Path, seeded: tuple[Storage, str]) -> None:
    storage, cid = seeded
    storage.add_measurement(record(cid))
    storage.close()
    with open_storage(str(db_path)) as again:
        assert len(again.measurements()) == 1
        assert again.config(cid) == KNOBS
