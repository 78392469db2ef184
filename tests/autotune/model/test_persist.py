"""Saving and loading models: round trip, schema checks, never pickle, hostile payloads."""

from __future__ import annotations

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from autotune import ModelSchemaError, NotFittedError
from autotune.model import (
    FEATURE_SCHEMA_VERSION,
    PAYLOAD_FORMAT,
    ConfigTimeModel,
    ForestPredictor,
    TrainingDataError,
    TrainingSet,
    load_model,
    load_predictor,
    save_model,
    train,
)
from autotune.model._persist import _encode
from autotune.storage import Storage
from kernels import Config

from . import _synthetic


def _no_pickle(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pickle must never be used to store or load models")

    for name in ("dump", "dumps", "load", "loads"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(pickle, "Unpickler", refuse)


def test_round_trip_predicts_identically(synthetic_store: Storage, model: ConfigTimeModel, data: TrainingSet,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _no_pickle(monkeypatch)
    model_id = save_model(synthetic_store, model, "round-trip")
    loaded = load_model(synthetic_store, "round-trip")
    assert loaded is not None and loaded.model_id_ == model_id
    assert loaded.pipeline_ is None and loaded.get_params() == model.get_params()
    assert (loaded.n_rows_, loaded.rows_hash_) == (model.n_rows_, model.rows_hash_)
    assert loaded.support_ == model.support_ and loaded.support_["backend"] == ["numpy", "numba", "jax"]
    assert loaded.scale_flat_ is not None and loaded.scale_flat_.n_features < loaded.n_features_in_
    X = data.X[:200]
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_array_equal(loaded.predict_compile(X), model.predict_compile(X))
    np.testing.assert_array_equal(loaded.predict_dist(X)[1], model.predict_dist(X)[1])
    machine = _synthetic.machines()[3]
    workload, n_sims = _synthetic.workloads()[2]
    candidates = [Config(), Config(backend="numba", executor="threads", workers=8), Config(backend="jax")]
    assert loaded.choose(machine.vector(), workload, n_sims, candidates, calls=10) == \
        model.choose(machine.vector(), workload, n_sims, candidates, calls=10)


def test_the_bare_predictor_predicts_and_chooses_as_the_estimator(synthetic_store: Storage, model: ConfigTimeModel,
                                                                   data: TrainingSet) -> None:
    save_model(synthetic_store, model, "bare")
    bare = load_predictor(synthetic_store, "bare")
    assert type(bare) is ForestPredictor and not isinstance(bare, ConfigTimeModel)
    X = data.X[:200]
    np.testing.assert_array_equal(bare.predict(X), model.predict(X))
    np.testing.assert_array_equal(bare.predict_compile(X), model.predict_compile(X))
    machine = _synthetic.machines()[1]
    workload, n_sims = _synthetic.workloads()[0]
    candidates = [Config(), Config(backend="numba"), Config(backend="numba", executor="threads", workers=4)]
    assert bare.choose(machine.vector(), workload, n_sims, candidates) == \
        model.choose(machine.vector(), workload, n_sims, candidates)
    assert load_predictor(synthetic_store, "absent") is None


def test_stored_row_and_payload_hold_no_pickle(synthetic_store: Storage, small_model: ConfigTimeModel) -> None:
    save_model(synthetic_store, small_model, "inspect")
    row = synthetic_store.latest_model("inspect")
    assert row.feature_schema_version == FEATURE_SCHEMA_VERSION and row.n_rows == small_model.n_rows_
    assert row.rows_hash == small_model.rows_hash_ and row.params == small_model.get_params()
    assert {"sklearn", "numpy"} <= set(row.versions) and row.trained_at is not None
    with zipfile.ZipFile(io.BytesIO(row.payload)) as archive:
        assert all(name.endswith(".npy") for name in archive.namelist())
    with np.load(io.BytesIO(row.payload), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    assert all(a.dtype != object for a in arrays.values())
    meta = json.loads(arrays["meta"].tobytes())
    assert meta["format"] == PAYLOAD_FORMAT and meta["feature_names"] == list(small_model.feature_names_)


def test_missing_model_loads_as_none(store: Storage) -> None:
    assert load_model(store) is None


def _payload(model: ConfigTimeModel, **meta_changes: object) -> bytes:
    with np.load(io.BytesIO(_encode(model)), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    meta = {**json.loads(arrays["meta"].tobytes()), **meta_changes}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _add(store: Storage, payload: bytes, *, version: int = FEATURE_SCHEMA_VERSION) -> None:
    store.add_model("default", feature_schema_version=version, n_rows=1, rows_hash="x", payload=payload)


def test_other_schema_version_asks_to_retrain(store: Storage, small_model: ConfigTimeModel) -> None:
    _add(store, _payload(small_model), version=FEATURE_SCHEMA_VERSION + 1)
    with pytest.raises(ModelSchemaError, match=r"feature schema version .*retrain.*autotune train.*train\(store\)"):
        load_model(store)


def test_other_feature_names_ask_to_retrain(store: Storage, small_model: ConfigTimeModel) -> None:
    _add(store, _payload(small_model, feature_names=["m_usable_cores"]))
    with pytest.raises(ModelSchemaError, match=r"other features.*retrain"):
        load_model(store)


def _object_array_payload() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, meta=np.array([{"format": PAYLOAD_FORMAT}], dtype=object))  # would need pickle to read
    return buffer.getvalue()


def _extra_member_payload(model: ConfigTimeModel) -> bytes:
    buffer = io.BytesIO(_payload(model))
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr("evil.npy", b"x")
    return buffer.getvalue()


@pytest.mark.parametrize("make", [
    lambda m: b"not a zip archive",
    lambda m: _object_array_payload(),
    lambda m: _extra_member_payload(m),
    lambda m: _payload(m, format="something-else/9"),
    lambda m: _payload(m, format="autotune-flat-forest/1"),  # before the scale forest
    lambda m: _payload(m, support={"backend": [{"evil": 1}]}),
])
def test_hostile_or_corrupt_payloads_are_refused(store: Storage, small_model: ConfigTimeModel, make,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _add(store, make(small_model))
    _no_pickle(monkeypatch)
    with pytest.raises(ModelSchemaError, match=r"cannot be read.*retrain"):
        load_model(store)


def test_train_builds_fits_and_saves(synthetic_store: Storage) -> None:
    model = train(synthetic_store, name="trained", n_estimators=5)
    assert model.n_estimators == 5 and model.flat_.n_trees == 5
    row = synthetic_store.latest_model("trained")
    assert row.id == model.model_id_ and row.metrics["n_machines"] == len(_synthetic.MACHINES)
    assert load_model(synthetic_store, "trained").n_rows_ == model.n_rows_


def test_train_on_an_empty_store_says_what_is_missing(store: Storage) -> None:
    with pytest.raises(TrainingDataError, match="no COMPLETE measurements"):
        train(store)


def test_save_needs_a_fitted_model(store: Storage) -> None:
    with pytest.raises(NotFittedError):
        save_model(store, ConfigTimeModel())
