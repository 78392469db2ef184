"""The training set built from a results database."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from autotune import Outcome, workload_features
from autotune.model import TrainingDataError, TrainingSet, feature_names, training_set
from autotune.storage import MeasurementRecord, Storage
from kernels import Config

from . import _synthetic


def test_every_complete_measurement_is_a_row(synthetic_store: Storage, data: TrainingSet) -> None:
    stored = synthetic_store.measurements(status=Outcome.COMPLETE)
    assert len(data) == len(stored)
    assert data.X.shape == (len(stored), len(feature_names())) and data.X.dtype == np.float64
    assert data.feature_names == feature_names()
    np.testing.assert_allclose(np.exp(data.y_log_time), [m.median_s for m in stored])
    np.testing.assert_allclose(np.exp(data.y_log_compile), [m.compile_s for m in stored])
    assert set(data.machine_ids.tolist()) == {m.machine_id for m in _synthetic.machines()}
    assert all(isinstance(c, Config) for c in data.configs)
    expected = hashlib.sha256("\n".join(sorted(m.uid for m in stored)).encode()).hexdigest()
    assert data.rows_hash == expected


def test_machine_filter_and_unknown_compile_time(synthetic_store: Storage, data: TrainingSet) -> None:
    first = data.machine_ids[0]
    only = training_set(synthetic_store, machine_id=str(first))
    assert set(only.machine_ids.tolist()) == {first}
    assert len(only) == int((data.machine_ids == first).sum())
    assert only.rows_hash != data.rows_hash


def _seed_one(store: Storage, *, fingerprint: dict | None = None, compile_s: float | None = None) -> None:
    machine = _synthetic.machines()[0]
    workload, n_sims = _synthetic.workloads()[0]
    wf = workload_features(workload, n_sims)
    store.upsert_machine(machine.machine_id, fingerprint or machine.to_dict())
    store.upsert_workload(wf.key, wf.kind, wf.spec, wf.vector())
    cid = store.upsert_config(Config().to_dict())
    store.add_measurements([
        MeasurementRecord(machine_id=machine.machine_id, workload_id=wf.key, config_id=cid, n_sims=n_sims,
                          source="tune", status=Outcome.COMPLETE, median_s=0.01, compile_s=compile_s),
        MeasurementRecord(machine_id=machine.machine_id, workload_id=wf.key, config_id=cid, n_sims=n_sims,
                          source="tune", status=Outcome.FAILED, error="boom"),
    ])


def test_compile_time_is_nan_when_unknown_and_floored_when_zero(store: Storage) -> None:
    _seed_one(store)
    assert np.isnan(training_set(store).y_log_compile).all()
    _seed_one(store, compile_s=0.0)
    ts = training_set(store)
    assert len(ts) == 2  # FAILED rows are never training rows
    assert ts.y_log_compile[1] == pytest.approx(np.log(1e-6))


def test_an_empty_store_names_what_is_missing(store: Storage) -> None:
    with pytest.raises(TrainingDataError, match=r"no COMPLETE measurements.*autotune tune"):
        training_set(store)


def test_unreadable_fingerprints_are_skipped_with_a_clear_error(store: Storage, caplog) -> None:
    _seed_one(store, fingerprint={"cpu": "x86_64", "cores": 8})
    with pytest.raises(TrainingDataError, match="unreadable machines"):
        training_set(store)
    assert "fingerprint cannot be read" in caplog.text


def test_training_set_needs_a_storage() -> None:
    with pytest.raises(ValueError, match="open_storage"):
        training_set("sqlite:///x.db")  # type: ignore[arg-type]
