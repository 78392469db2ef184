"""Saving and loading trained models in the results database, without pickle.

Format: the payload in the ``models`` table is an ``.npz`` archive (numpy's zip of ``.npy``
files) written with :func:`numpy.savez_compressed` and read with ``np.load(...,
allow_pickle=False)``. It holds the flat forests (:class:`FlatForest`: node arrays, leaf values,
per-tree offsets, the imputer's statistics) of the relative-time, scale and compile-time forests
(see :class:`ConfigTimeModel`), plus a
``meta`` entry: UTF-8 JSON (format version, feature-schema version, feature names, params,
training-set size and hash) stored as a uint8 array.

Why not pickle (or joblib): a shared results database can be written by other users, and
unpickling runs whatever code the bytes name. ``allow_pickle=False`` refuses object arrays, so
the archive can only ever yield plain numeric arrays, and every index in them is checked before
use (:meth:`FlatForest.from_arrays`). Why not JSON for the arrays too: a forest of 100 trees on a
few thousand rows has hundreds of thousands of nodes; as ``.npz`` that is a few MB, as JSON text
several times more, and slower to parse. The archive's member names and uncompressed sizes are
checked before anything is decompressed, so a crafted archive cannot exhaust memory.
"""

from __future__ import annotations

import io
import json
import logging
import platform
import zipfile
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import numpy as np

from .._errors import ModelSchemaError
from ..storage import Storage
from ._data import training_set
from ._encoding import FEATURE_SCHEMA_VERSION, N_CONTEXT, feature_names
from ._flat import FlatForest
from ._forest import ConfigTimeModel

__all__ = ["PAYLOAD_FORMAT", "load_model", "save_model", "train"]

_logger = logging.getLogger(__name__)

PAYLOAD_FORMAT = "autotune-flat-forest/2"
"""Name and version of the payload layout above (version 1 had no scale forest: such models are
refused with a message to retrain)."""

_MAX_PAYLOAD_BYTES = 2**31  # uncompressed; far beyond any forest we train
_FORESTS = ("time", "scale", "compile")
_ARRAYS = ("statistics", "feature", "threshold", "left", "right", "value", "roots")
_RETRAIN = "retrain it with `autotune train` or autotune.model.train(store)"


def _versions() -> dict[str, str | None]:
    import sklearn

    try:
        own: str | None = version("autotune")
    except PackageNotFoundError:  # a source tree that is not installed
        own = None
    return {"autotune": own, "sklearn": sklearn.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


def _encode(model: ConfigTimeModel) -> bytes:
    meta = {
        "format": PAYLOAD_FORMAT,
        "feature_schema_version": FEATURE_SCHEMA_VERSION,
        "feature_names": list(model.feature_names_),
        "params": model.get_params(),
        "n_rows": model.n_rows_,
        "rows_hash": model.rows_hash_,
        "support": getattr(model, "support_", {}),
        "forests": [f for f, flat in zip(_FORESTS, _flats(model), strict=True) if flat],
    }
    arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for name, flat in zip(_FORESTS, _flats(model), strict=True):
        if flat is not None:
            arrays.update({f"{name}_{k}": v for k, v in flat.to_arrays().items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _flats(model: ConfigTimeModel) -> tuple[FlatForest | None, ...]:
    return model.flat_, getattr(model, "scale_flat_", None), model.compile_flat_


_SUPPORT_KNOBS = ("backend", "executor", "precision", "qmc", "shared_memory")


def _read_support(raw: Any, where: str) -> dict[str, list[Any]]:
    """The trained knob values from a payload's meta, checked (the bytes may come from anyone)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict) or set(raw) - set(_SUPPORT_KNOBS) or \
            not all(isinstance(v, list) and all(isinstance(x, str | bool) for x in v) for v in raw.values()):
        raise ModelSchemaError(f"{where} cannot be read by this library (bad support entry); {_RETRAIN}")
    return {k: list(v) for k, v in raw.items()}


def _decode(payload: bytes, where: str) -> tuple[dict[str, Any], dict[str, FlatForest | None]]:
    """Read a payload; raise ModelSchemaError (naming ``where``) for anything unexpected."""
    allowed = {"meta.npy"} | {f"{f}_{a}.npy" for f in _FORESTS for a in _ARRAYS}
    try:
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            infos = archive.infolist()
        names = {i.filename for i in infos}
        if not names <= allowed or sum(i.file_size for i in infos) > _MAX_PAYLOAD_BYTES:
            raise ValueError(f"unexpected members {sorted(names - allowed)} or size")
        with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
            data = {k: npz[k] for k in npz.files}
        meta = json.loads(data.pop("meta").tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != PAYLOAD_FORMAT:
            raise ValueError(f"payload format {meta.get('format') if isinstance(meta, dict) else meta!r}, "
                             f"expected {PAYLOAD_FORMAT!r}")
        forests: dict[str, FlatForest | None] = dict.fromkeys(_FORESTS)
        for name in meta["forests"]:
            if name not in _FORESTS:
                raise ValueError(f"unknown forest {name!r}")
            forests[name] = FlatForest.from_arrays({a: data[f"{name}_{a}"] for a in _ARRAYS})
        if forests["time"] is None:
            raise ValueError("no time forest")
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise ModelSchemaError(f"{where} cannot be read by this library ({exc}); {_RETRAIN}") from None
    return meta, forests


def save_model(store: Storage, model: ConfigTimeModel, name: str = "default", *,
               metrics: dict[str, Any] | None = None) -> int:
    """Store a fitted model in the ``models`` table (no pickle: see the module docstring) and return its id.

    Raises:
        NotFittedError: ``model`` is not fitted.
        ValueError: ``model`` is not a ConfigTimeModel, or was fitted on another feature layout.
    """
    if not isinstance(model, ConfigTimeModel):
        raise ValueError(f"model must be a ConfigTimeModel, got {type(model).__name__}")
    model._check_fitted()
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if tuple(model.feature_names_) != feature_names():
        raise ValueError("only a model fitted on autotune's feature layout (a TrainingSet) can be saved")
    payload = _encode(model)
    model_id = store.add_model(
        name, feature_schema_version=FEATURE_SCHEMA_VERSION, n_rows=model.n_rows_, rows_hash=model.rows_hash_,
        payload=payload, params=model.get_params(), metrics=metrics, versions=_versions(),
    )
    _logger.info("saved model %r (id %d, %d rows, %.1f KiB)", name, model_id, model.n_rows_, len(payload) / 1024)
    return model_id


def load_model(store: Storage, name: str = "default") -> ConfigTimeModel | None:
    """The latest stored model called ``name``, ready to predict, or ``None`` if there is none.

    The loaded model predicts with its flat arrays; its ``pipeline_`` and ``compile_pipeline_`` are ``None``.

    Raises:
        ModelSchemaError: the model was trained on another feature schema (or its payload cannot be
            read); the message says how to retrain.
    """
    row = store.latest_model(name)
    if row is None:
        return None
    where = f"model {name!r} (id {row.id}, trained {row.trained_at:%Y-%m-%d %H:%M} UTC)"
    if row.feature_schema_version != FEATURE_SCHEMA_VERSION:
        raise ModelSchemaError(
            f"{where} was trained on feature schema version {row.feature_schema_version}, this library uses "
            f"version {FEATURE_SCHEMA_VERSION}; {_RETRAIN}"
        )
    meta, forests = _decode(row.payload, where)
    if meta.get("feature_schema_version") != FEATURE_SCHEMA_VERSION or \
            tuple(meta.get("feature_names", ())) != feature_names():
        raise ModelSchemaError(f"{where} was trained on other features than this library computes; {_RETRAIN}")
    time_flat = forests["time"]
    widths = {"time": len(feature_names()), "compile": len(feature_names()), "scale": N_CONTEXT}
    if time_flat is None or any(f is not None and f.n_features != widths[k] for k, f in forests.items()):
        raise ModelSchemaError(f"{where} has forests of the wrong width; {_RETRAIN}")
    try:
        model = ConfigTimeModel(**dict(meta.get("params") or row.params))
    except (TypeError, ValueError) as exc:
        raise ModelSchemaError(f"{where} has parameters this library does not know ({exc}); {_RETRAIN}") from None
    model.pipeline_ = None
    model.scale_pipeline_ = None
    model.compile_pipeline_ = None
    model.flat_ = time_flat
    model.scale_flat_ = forests["scale"]
    model.compile_flat_ = forests["compile"]
    model.feature_names_ = feature_names()
    model.support_ = _read_support(meta.get("support"), where)
    model.n_features_in_ = len(model.feature_names_)
    model.n_rows_ = row.n_rows
    model.rows_hash_ = row.rows_hash
    model.model_id_ = row.id
    model.trained_at_ = row.trained_at
    _logger.debug("loaded %s", where)
    return model


def train(store: Storage, *, name: str = "default", machine_id: str | None = None,
          **params: Any) -> ConfigTimeModel:
    """Build the training set from ``store``, fit a :class:`ConfigTimeModel` (``params``) and save it as ``name``.

    Raises:
        TrainingDataError: the store holds no usable measurement.
    """
    data = training_set(store, machine_id=machine_id)
    model = ConfigTimeModel(**params).fit(data)
    metrics = {
        "n_rows": len(data),
        "n_rows_compile": int(np.isfinite(data.y_log_compile).sum()),
        "n_machines": len(set(data.machine_ids.tolist())),
        "n_workloads": len(set(data.workload_ids.tolist())),
        "n_configs": len(set(data.config_ids.tolist())),
    }
    model.model_id_ = save_model(store, model, name, metrics=metrics)
    return model
