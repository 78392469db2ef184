"""Every table: what goes in comes back out, typed."""

from __future__ import annotations

import dataclasses
import datetime

import pytest
from sqlalchemy import select

from autotune import Outcome, Source, StorageError, machine_fingerprint, workload_features
from autotune.measure import Measurement
from autotune.storage import ResultsLog, Storage, config_id, library_versions, open_storage
from autotune.storage._models import ConfigModel
from kernels import Config, EuropeanOption

from ._data import CONFIG, KNOBS, MACHINE, WORKLOAD, record


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
        session_id=session_id, source="online", first_call_s=2.0, peak_memory_bytes=123456789, accuracy_z=0.7,
        estimates={"price": 10.25, "delta": 0.5}, standard_errors={"price": 0.01, "delta": 0.002},
        versions={"numpy": "2.1.0"}, uid="fixed-uid", created_at=when, legacy_timing=True, error="a note",
    )
    assert storage.add_measurements([rec]) == 1
    [row] = storage.measurements()
    assert isinstance(row, Measurement)
    for f in dataclasses.fields(Measurement):
        assert getattr(row, f.name) == getattr(rec, f.name), f.name
    assert row == rec
    assert row.outcome is Outcome.COMPLETE and row.source is Source.ONLINE and row.samples == (0.49, 0.5, 0.51)
    assert (row.config, row.config_id) == (CONFIG, cid)
    assert row.one_off_s == 1.5 and row.headline == "price"


def test_measurement_defaults_uid_and_time(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    before = datetime.datetime.now(datetime.UTC)
    written = [record(), record(outcome="failed", steady_s=None, error="boom")]
    assert storage.add_measurements(written) == 2
    rows = storage.measurements()
    assert [r.uid for r in rows] == [w.uid for w in written]  # oldest first
    assert rows[0].uid and rows[1].uid and rows[0].uid != rows[1].uid
    assert all(r.created_at is not None and r.created_at >= before - datetime.timedelta(seconds=1) for r in rows)
    assert rows[1].outcome is Outcome.FAILED and rows[1].error == "boom" and rows[1].steady_s is None
    assert all(r.legacy_timing is False and r.session_id is None for r in rows)


def test_minimal_measurement_from_keywords(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    m = Measurement(config=Config(), outcome=Outcome.TIMED_OUT, n_sims=10, machine_id=MACHINE, workload_id=WORKLOAD,
                    source=Source.BENCHMARK)
    storage.add_measurements([m])
    [row] = storage.measurements(source="benchmark")
    assert row == m and row.outcome is Outcome.TIMED_OUT and not row.ok
    assert (row.steady_s, row.first_call_s, row.one_off_s, row.headline) == (None, None, None, None)
    assert (row.samples, row.estimates, row.standard_errors, row.versions) == ((), {}, {}, {})
    assert storage.config(config_id(Config().to_dict())) == Config().to_dict()  # its config was stored with it


def test_add_measurements_needs_keys_and_measurements(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    with pytest.raises(ValueError, match="needs machine_id and workload_id"):
        storage.add_measurements([record(machine_id=None)])
    with pytest.raises(TypeError, match=r"expected autotune\.measure\.Measurement, got dict"):
        storage.add_measurements([{"n_sims": 10}])  # type: ignore[list-item]
    assert storage.add_measurements([]) == 0
    assert storage.count_measurements() == 0


def test_results_log_registers_rows_and_stamps_measurements(storage: Storage) -> None:
    machine = machine_fingerprint()
    features = workload_features(EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.01, sigma=0.2), 1000)
    log = ResultsLog(storage, machine)
    taken = Measurement(config=Config(), outcome=Outcome.COMPLETE, n_sims=1000, steady_s=0.01, first_call_s=0.02)
    [stored] = log.write(features, [taken], source="profile")
    assert storage.machine(machine.machine_id) is not None
    assert storage.workload(features.key) is not None
    assert (stored.machine_id, stored.workload_id, stored.source, stored.session_id) == (
        machine.machine_id, features.key, Source.PROFILE, None)
    assert stored.versions == library_versions(machine) and stored.versions["numpy"] == machine.numpy_version
    assert (stored.uid, stored.steady_s, stored.first_call_s) == (taken.uid, taken.steady_s, taken.first_call_s)
    assert storage.measurements() == [stored]
    sid = storage.create_session(machine.machine_id, features.key, n_sims=1000)
    log.write(features, [dataclasses.replace(taken, uid="second")], source=Source.TUNE, session_id=sid)
    assert [m.uid for m in storage.measurements(session_id=sid, source="tune")] == ["second"]


def test_one_off_time_is_the_first_call_beyond_a_steady_call() -> None:
    assert record(first_call_s=2.0, steady_s=0.5).one_off_s == 1.5
    assert record(first_call_s=0.4, steady_s=0.5).one_off_s == 0.0  # noise: never negative
    assert record(first_call_s=None).one_off_s is None
    assert record(first_call_s=2.0, steady_s=None).one_off_s is None
    assert record(estimates={"mean": 1.0, "var_99": 2.0}).headline == "mean"


def test_measurement_filters_and_best(seeded: tuple[Storage, str]) -> None:
    storage, _ = seeded
    other = Config.from_dict({**KNOBS, "backend": "numba"})
    storage.add_measurements([
        record(steady_s=0.5),
        record(config=other, steady_s=0.2),
        record(config=other, steady_s=0.1, outcome=Outcome.REJECTED, accuracy_z=9.0),
        record(steady_s=None, outcome=Outcome.FAILED, source="online"),
        record(steady_s=0.05, n_sims=10),
        record(steady_s=0.01, source="online", legacy_timing=True),  # compute time only: never "best"
        record(steady_s=None, first_call_s=0.001, source="online"),  # a first call: no steady time
    ])
    assert len(storage.measurements()) == 7
    assert len(storage.measurements(outcome=Outcome.COMPLETE)) == 5
    assert storage.count_measurements(outcome="complete") == 5 and storage.count_measurements() == 7
    assert len(storage.measurements(outcome="failed", source="online")) == 1
    assert len(storage.measurements(config_id=config_id(other.to_dict()))) == 2
    assert [m.steady_s for m in storage.measurements(n_sims=10)] == [0.05]
    assert len(storage.measurements(limit=2)) == 2
    assert storage.measurements(machine_id="nobody") == []
    best = storage.best_measurement(MACHINE, WORKLOAD)
    assert best is not None and best.steady_s == 0.05
    best_at_n = storage.best_measurement(MACHINE, WORKLOAD, n_sims=100_000)
    assert best_at_n is not None and (best_at_n.config, best_at_n.steady_s) == (other, 0.2)
    assert storage.best_measurement(MACHINE, "other workload") is None
    with pytest.raises(ValueError):
        storage.measurements(outcome="done")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"config": "cid"}, "config must be a kernels.Config"),
        ({"source": "guess"}, "source must be one of"),
        ({"outcome": "done"}, "outcome must be one of"),
        ({"n_sims": 0}, "n_sims must be a positive int"),
        ({"steady_s": None}, "COMPLETE measurement needs a finite steady_s or first_call_s"),
        ({"steady_s": float("nan")}, "COMPLETE measurement needs a finite steady_s or first_call_s"),
        ({"steady_s": -1.0}, "COMPLETE measurement needs a finite steady_s or first_call_s"),
        ({"steady_s": "0.5"}, "steady_s must be a number"),
        ({"standard_errors": {"price": "small"}}, "standard_errors must map names to numbers"),
        ({"estimates": [1.0]}, "estimates must be a mapping"),
        ({"created_at": datetime.datetime(2030, 1, 1)}, "timezone-aware"),
    ],
)
def test_measurement_validates(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        record(**changes)


def test_measurement_is_frozen_and_keyword_only() -> None:
    m = record()
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.steady_s = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        Measurement(CONFIG, Outcome.COMPLETE, 10)  # type: ignore[misc]


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


def test_data_survives_reopening(seeded: tuple[Storage, str]) -> None:
    storage, cid = seeded
    storage.add_measurements([record()])
    storage.close()
    with open_storage(storage.url) as again:
        assert len(again.measurements()) == 1
        assert again.config(cid) == KNOBS
