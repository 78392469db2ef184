"""Saving and loading the learned error model in the results database, without pickle.

The same format and checks as the time model (:mod:`autotune.model._persist`): an ``.npz`` archive of
flat forests (``level``, ``rate``, ``value``) and a ``meta`` JSON entry, in the ``models`` table under
its own name (default ``"errors"``), read as hostile bytes: members, ``.npy`` headers and sizes are
checked before anything is decompressed, and every forest is proven a forest of bounded size and
depth (:meth:`FlatForest.from_arrays`). Any fault raises :class:`~autotune.ModelSchemaError`.
"""

from __future__ import annotations

import io
import json
import logging
import math
import zipfile
from typing import Any

import numpy as np

from .._errors import ModelSchemaError
from ..storage import ModelRow, Storage
from ._errors import _VALUE_COLUMNS, ERROR_FEATURES, ErrorForest, error_training_set
from ._flat import FlatForest
from ._persist import (
    _ARRAYS,
    _MAX_UNCOMPRESSED,
    _RATIO_SLACK,
    MAX_COMPRESSION_RATIO,
    MAX_META_BYTES,
    _PayloadError,
    _read_forests,
    _read_npy,
    _versions,
)

__all__ = ["ERROR_PAYLOAD_FORMAT", "ERROR_SCHEMA_VERSION", "load_error_model", "save_error_model",
           "train_error_model"]

_logger = logging.getLogger(__name__)

ERROR_PAYLOAD_FORMAT = "autotune-error-forest/1"
ERROR_SCHEMA_VERSION = 1
"""Version of :data:`ERROR_FEATURES`' layout; a stored model of another version is refused."""
_FORESTS = ("level", "rate", "value")
_RETRAIN = "retrain it with autotune.model.train_error_model(store)"


def _flats(model: ErrorForest) -> dict[str, FlatForest | None]:
    return {"level": model.level_flat_, "rate": model.rate_flat_, "value": model.value_flat_}


def _encode(model: ErrorForest) -> bytes:
    flats = _flats(model)
    meta = {"format": ERROR_PAYLOAD_FORMAT, "schema_version": ERROR_SCHEMA_VERSION,
            "feature_names": list(ERROR_FEATURES), "mean_rate": model.mean_rate_,
            "params": {k: getattr(model, k) for k in ("n_estimators", "min_samples_leaf", "max_features",
                                                      "random_state")},
            "forests": [k for k, f in flats.items() if f is not None]}
    arrays: dict[str, np.ndarray] = {"meta": np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)}
    for name, flat in flats.items():
        if flat is not None:
            arrays.update({f"{name}_{k}": v for k, v in flat.to_arrays().items()})
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _decode_checked(payload: bytes) -> tuple[dict[str, Any], dict[str, FlatForest | None]]:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise _PayloadError(f"the payload is a {type(payload).__name__}, not bytes")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        allowed = {"meta.npy"} | {f"{f}_{a}.npy" for f in _FORESTS for a in _ARRAYS}
        infos = archive.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names) or not set(names) <= allowed:
            raise _PayloadError("unexpected or repeated members")
        for info in infos:
            if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _PayloadError(f"{info.filename} is encrypted or compressed with an unsupported method")
        total = sum(i.file_size for i in infos)
        if total > min(_MAX_UNCOMPRESSED, MAX_COMPRESSION_RATIO * len(payload) + _RATIO_SLACK):
            raise _PayloadError(f"the archive declares {total} uncompressed bytes, too many for its size")
        members = {i.filename: i for i in infos}
        if "meta.npy" not in members:
            raise _PayloadError("no meta member")
        meta = json.loads(_read_npy(archive, members["meta.npy"], frozenset({"|u1"}), MAX_META_BYTES)
                          .tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != ERROR_PAYLOAD_FORMAT:
            raise _PayloadError(f"payload format {meta.get('format') if isinstance(meta, dict) else meta!r}, "
                                f"expected {ERROR_PAYLOAD_FORMAT!r}")
        listed = meta.get("forests")
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed) or \
                len(set(listed)) != len(listed) or not set(listed) <= set(_FORESTS) or "level" not in listed:
            raise _PayloadError(f"bad forest list {listed!r}")
        if set(members) != {"meta.npy"} | {f"{f}_{a}.npy" for f in listed for a in _ARRAYS}:
            raise _PayloadError("members missing or not listed in meta")
        forests = _read_forests(archive, members, listed, _FORESTS)
    return meta, forests


def save_error_model(store: Storage, model: ErrorForest, name: str = "errors") -> int:
    """Store a fitted :class:`ErrorForest` in the ``models`` table (no pickle) and return its id.

    Raises:
        NotFittedError: ``model`` is not fitted.
        ValueError: ``model`` is not an ErrorForest, or ``name`` is empty.
    """
    if not isinstance(model, ErrorForest):
        raise ValueError(f"model must be an ErrorForest, got {type(model).__name__}")
    model._check_fitted()
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    payload = _encode(model)
    _decode_checked(payload)  # never store what every reader would refuse
    model_id = store.add_model(name, feature_schema_version=ERROR_SCHEMA_VERSION, n_rows=model.n_rows_,
                               rows_hash=model.rows_hash_, payload=payload, params=_encode_params(model),
                               versions=_versions())
    _logger.info("saved error model %r (id %d, %d laws, %.1f KiB)", name, model_id, model.n_rows_,
                 len(payload) / 1024)
    return model_id


def _encode_params(model: ErrorForest) -> dict[str, Any]:
    return {k: getattr(model, k) for k in ("n_estimators", "min_samples_leaf", "max_features", "random_state")}


def load_error_model(store: Storage, name: str = "errors") -> ErrorForest | None:
    """The latest stored error model called ``name``, ready to predict (numpy alone), or ``None``.

    Raises:
        ModelSchemaError: another layout version, or a payload that cannot be read (corrupt, hostile,
            beyond the bounds of :mod:`autotune.model._flat`); the message names the fault.
    """
    row = store.latest_model(name)
    return None if row is None else error_model_from_row(row)


def error_model_from_row(row: ModelRow) -> ErrorForest:
    """The error model of a stored row (see :func:`load_error_model`)."""
    where = f"error model {row.name!r} (id {row.id})"
    if row.feature_schema_version != ERROR_SCHEMA_VERSION:
        raise ModelSchemaError(f"{where} has layout version {row.feature_schema_version}, this library uses "
                               f"{ERROR_SCHEMA_VERSION}; {_RETRAIN}")
    try:
        meta, forests = _decode_checked(row.payload)
        if meta.get("schema_version") != ERROR_SCHEMA_VERSION or meta.get("feature_names") != list(ERROR_FEATURES):
            raise _PayloadError("trained on other features than this library computes")
        widths = {"level": len(ERROR_FEATURES), "rate": len(ERROR_FEATURES), "value": len(_VALUE_COLUMNS)}
        if any(f is not None and f.n_features != widths[k] for k, f in forests.items()):
            raise _PayloadError("forests of the wrong width")
        mean_rate = meta.get("mean_rate")
        if isinstance(mean_rate, bool) or not isinstance(mean_rate, int | float) or not math.isfinite(mean_rate):
            raise _PayloadError(f"bad mean_rate {mean_rate!r}")
    except _PayloadError as exc:
        raise ModelSchemaError(f"{where} cannot be read by this library ({exc}); {_RETRAIN}") from None
    except Exception as exc:  # hostile bytes: every fault becomes the library's own error
        raise ModelSchemaError(f"{where} cannot be read by this library ({type(exc).__name__}: {exc}"[:500]
                               + f"); {_RETRAIN}") from None
    model = ErrorForest()
    model.level_flat_, model.rate_flat_, model.value_flat_ = forests["level"], forests["rate"], forests["value"]
    model.mean_rate_ = float(mean_rate)
    model.n_rows_ = row.n_rows
    model.rows_hash_ = row.rows_hash
    model.model_id_ = row.id
    return model


def train_error_model(store: Storage, *, name: str = "errors", machine_id: str | None = None,
                      **params: Any) -> ErrorForest:
    """Fit an :class:`ErrorForest` (``params``) on :func:`error_training_set` of ``store`` and save it as ``name``.

    Raises:
        TrainingDataError: no error law can be fitted from the store.
    """
    model = ErrorForest(**params).fit(error_training_set(store, machine_id=machine_id))
    model.model_id_ = save_error_model(store, model, name)
    return model

