"""The training set built from a results database."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from autotune import Outcome, Source, workload_features
from autotune.measure import Measurement
from autotune.model import TrainingDataError, TrainingSet, feature_names, training_set
from autotune.storage import Storage
from kernels import Config

from . import _synthetic


def test_every_complete_measurement_is_a_row(synthetic_store: Storage, data: TrainingSet) -> None:
    stored = synthetic_store.measurements(outcome=Outcome.COMPLETE)
    assert len(data) == len(stored)
    assert data.X.shape == (len(stored), len(feature_names())) and data.X.dtype == np.float64
    assert data.feature_names == feature_names()
    np.testing.assert_allclose(np.exp(data.y_log_time), [m.steady_s for m in stored])
    np.testing.assert_allclose(np.exp(data.y_log_compile), [m.one_off_s for m in stored])
    compile_s = np.array([_synthetic.COMPILE_S[c.backend] for c in data.configs])
    assert np.abs(data.y_log_compile - np.log(compile_s)).max() < 0.05 * 6  # the synthetic noise is 5% (log sd)
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


def _seed_one(store: Storage, *, fingerprint: dict | None = None, first_call_s: float | None = None,
              **changes: object) -> None:
    """One COMPLETE row (steady_s 0.01 unless changed) and one FAILED row of ``Config()``."""
    machine = _synthetic.machines()[0]
    workload, n_sims = _synthetic.workloads()[0]
    wf = workload_features(workload, n_sims)
    store.upsert_machine(machine.machine_id, fingerprint or machine.to_dict())
    store.upsert_workload(wf.key, wf.kind, wf.spec, wf.vector())
    keys = dict(config=Config(), n_sims=n_sims, machine_id=machine.machine_id, workload_id=wf.key, source="tune")
    store.add_measurements([
        Measurement(**{**keys, "outcome": Outcome.COMPLETE, "steady_s": 0.01, "first_call_s": first_call_s,
                       **changes}),
        Measurement(**keys, outcome=Outcome.FAILED, error="boom"),
    ])


def test_compile_time_is_nan_when_unknown_and_floored_when_zero(store: Storage) -> None:
    _seed_one(store)
    assert np.isnan(training_set(store).y_log_compile).all()
    _seed_one(store, first_call_s=0.01)  # a first call no slower than a steady one: no one-off cost
    _seed_one(store, first_call_s=0.009)  # faster, from noise: still floored, never NaN
    _seed_one(store, first_call_s=0.51)
    ts = training_set(store)
    assert len(ts) == 4  # FAILED rows are never training rows
    assert np.isnan(ts.y_log_compile[0])
    assert ts.y_log_compile[1] == pytest.approx(np.log(1e-6)) and ts.y_log_compile[2] == pytest.approx(np.log(1e-6))
    assert ts.y_log_compile[3] == pytest.approx(np.log(0.5))
    np.testing.assert_allclose(ts.y_log_time, np.log(0.01))


def test_only_steady_non_legacy_times_are_trained_on(store: Storage) -> None:
    """An online first call (no steady_s) and a migrated online row (legacy_timing) are no training rows."""
    _seed_one(store, steady_s=None, first_call_s=0.3, source=Source.ONLINE)
    _seed_one(store, steady_s=0.001, source=Source.ONLINE, legacy_timing=True)
    with pytest.raises(TrainingDataError, match="no COMPLETE measurements with a positive steady-state time"):
        training_set(store)
    _seed_one(store, steady_s=0.02, source=Source.ONLINE)
    ts = training_set(store)
    assert len(ts) == 1 and ts.y_log_time[0] == pytest.approx(np.log(0.02))
    [kept] = [m for m in store.measurements(outcome="complete") if m.steady_s == 0.02]
    assert ts.rows_hash == hashlib.sha256(kept.uid.encode()).hexdigest()


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
