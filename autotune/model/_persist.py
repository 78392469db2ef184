"""Saving and loading trained models in the results database, without pickle.

Format: the payload in the ``models`` table is an ``.npz`` archive (numpy's zip of ``.npy``
files) written with :func:`numpy.savez_compressed`. It holds the flat forests (:class:`FlatForest`:
node arrays, leaf values, per-tree offsets, the imputer's statistics) of the relative-time, scale
and compile-time forests (see :class:`ConfigTimeModel`), plus a ``meta`` entry: UTF-8 JSON (format
version, feature-schema version, feature names, params, training-set size and hash) stored as a
uint8 array.

Why not pickle (or joblib): a shared results database can be written by other users, and
unpickling runs whatever code the bytes name. Why not JSON for the arrays too: a forest of 100
trees on a few thousand rows has hundreds of thousands of nodes; as ``.npz`` that is a few MB, as
JSON text several times more, and slower to parse.

Reading treats the bytes as hostile, and its work and memory grow no faster than the bytes read:
the archive's members (names, compression, declared sizes: at most :data:`MAX_COMPRESSION_RATIO`
times the payload) are checked before anything is decompressed; each ``.npy`` header is parsed
here (at most :data:`MAX_NPY_HEADER_BYTES`, a plain numeric dtype from a fixed list, one dimension,
never an object dtype, so nothing can need pickle) and its declared shape checked against the
member's size and the bounds of :mod:`autotune.model._flat` (:data:`MAX_NODES`, :data:`MAX_TREES`,
:data:`MAX_FEATURES`; :data:`MAX_META_BYTES` for ``meta``) before the data is read; then
:meth:`FlatForest.from_arrays` proves each forest a forest of trees of bounded depth in time linear
in its nodes. Any fault raises :class:`ModelSchemaError`, which names it.
"""

from __future__ import annotations

import ast
import io
import json
import logging
import platform
import struct
import zipfile
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from .._errors import ModelSchemaError
from ..storage import ModelRow, Storage
from ._encoding import FEATURE_SCHEMA_VERSION, N_CONTEXT, feature_names
from ._flat import MAX_FEATURES, MAX_NODES, MAX_TREES, FlatForest
from ._predictor import ForestPredictor

if TYPE_CHECKING:  # scikit-learn is imported only to fit, save or load a full estimator
    from ._forest import ConfigTimeModel

__all__ = ["MAX_COMPRESSION_RATIO", "MAX_META_BYTES", "MAX_NPY_HEADER_BYTES", "PAYLOAD_FORMAT", "load_model",
           "load_predictor", "save_model", "train"]

P = TypeVar("P", bound=ForestPredictor)

_logger = logging.getLogger(__name__)

PAYLOAD_FORMAT = "autotune-flat-forest/2"
"""Name and version of the payload layout above (version 1 had no scale forest: such models are
refused with a message to retrain)."""

_FORESTS = ("time", "scale", "compile")
_ARRAYS = ("statistics", "feature", "threshold", "left", "right", "value", "roots")

MAX_NPY_HEADER_BYTES = 1024
"""Longest ``.npy`` header read (numpy writes 118 bytes for a 1-d array)."""
MAX_META_BYTES = 2**20
"""Longest ``meta`` JSON (a trained model's is under 2 KiB)."""
MAX_COMPRESSION_RATIO = 64
"""Most uncompressed bytes the archive may declare per byte of payload (plus 1 MiB): trained
payloads compress about 4 times (under 10 for any one member), so a small row cannot make readers
inflate and hold gigabytes."""
_RATIO_SLACK = 2**20
_MAX_UNCOMPRESSED = 3 * (MAX_FEATURES * 8 + MAX_NODES * 8 * 5 + MAX_TREES * 8) + MAX_META_BYTES + 2**16
"""Most uncompressed bytes whatever the payload's size: three forests at their bounds, in 8-byte
types."""
_NODE_ARRAYS = ("feature", "threshold", "left", "right", "value")
_INT_DTYPES = frozenset(np.dtype(f"{order}{code}").str for order in "<>" for code in
                        ("i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8"))
_FLOAT_DTYPES = frozenset(np.dtype(f"{order}{code}").str for order in "<>" for code in ("f4", "f8"))
_NPY_MAGIC = b"\x93NUMPY"
_RETRAIN = "retrain it with `autotune train` or autotune.model.train(store)"


def _versions() -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

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


class _PayloadError(ValueError):
    """A payload fault found by the checks below (its message names it)."""


def _read_npy(archive: zipfile.ZipFile, info: zipfile.ZipInfo, dtypes: frozenset[str], max_len: int) -> np.ndarray:
    """The 1-d array in one ``.npy`` member, its header checked before any data is read.

    The header must declare one of ``dtypes``, one dimension of at most ``max_len`` entries, and
    exactly as many data bytes as the member holds (so a header cannot claim more than is there).
    """
    name = info.filename
    with archive.open(info) as stream:
        lead = stream.read(len(_NPY_MAGIC) + 2)
        if len(lead) != len(_NPY_MAGIC) + 2 or lead[:len(_NPY_MAGIC)] != _NPY_MAGIC:
            raise _PayloadError(f"{name} is not a .npy array")
        major = lead[-2]
        if major not in (1, 2, 3) or lead[-1] != 0:
            raise _PayloadError(f"{name} has an unknown .npy version {major}.{lead[-1]}")
        size_format = "<H" if major == 1 else "<I"
        raw_size = stream.read(struct.calcsize(size_format))
        if len(raw_size) != struct.calcsize(size_format):
            raise _PayloadError(f"{name} is truncated in its header")
        header_len = struct.unpack(size_format, raw_size)[0]
        if header_len > MAX_NPY_HEADER_BYTES:
            raise _PayloadError(f"{name} has a {header_len}-byte header, more than {MAX_NPY_HEADER_BYTES}")
        raw_header = stream.read(header_len)
        if len(raw_header) != header_len:
            raise _PayloadError(f"{name} is truncated in its header")
        try:
            header = ast.literal_eval(raw_header.decode("utf-8" if major == 3 else "latin1"))
        except (ValueError, SyntaxError, UnicodeDecodeError, RecursionError, MemoryError, TypeError):
            raise _PayloadError(f"{name} has an unreadable header") from None
        if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
            raise _PayloadError(f"{name} has an unreadable header")
        descr, shape = header["descr"], header["shape"]
        if not isinstance(descr, str) or descr not in dtypes:
            raise _PayloadError(f"{name} holds {descr!r} values; expected one of {sorted(dtypes)}")
        if not isinstance(header["fortran_order"], bool) or not isinstance(shape, tuple) or len(shape) != 1 \
                or type(shape[0]) is not int or shape[0] < 0:
            raise _PayloadError(f"{name} must be a 1-d array, its header declares shape {shape!r}")
        if shape[0] > max_len:
            raise _PayloadError(f"{name} declares {shape[0]} entries, more than the {max_len} allowed")
        dtype = np.dtype(descr)
        n_bytes = shape[0] * dtype.itemsize
        if info.file_size != len(_NPY_MAGIC) + 2 + len(raw_size) + header_len + n_bytes:
            raise _PayloadError(f"{name} declares {shape[0]} entries of {dtype} but holds a different number of bytes")
        data = stream.read(n_bytes)
        if len(data) != n_bytes or stream.read(1):  # reading to the end also checks the CRC
            raise _PayloadError(f"{name} is truncated or longer than its zip entry says")
    return np.frombuffer(data, dtype=dtype)


def _members(archive: zipfile.ZipFile, payload_len: int) -> dict[str, zipfile.ZipInfo]:
    """The archive's entries by name, checked from the zip directory alone (nothing decompressed)."""
    allowed = {"meta.npy"} | {f"{f}_{a}.npy" for f in _FORESTS for a in _ARRAYS}
    infos = archive.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names) or not set(names) <= allowed:
        odd = sorted({n for n in names if n not in allowed or names.count(n) > 1})
        raise _PayloadError(f"unexpected or repeated members {[n[:40] for n in odd[:5]]}")
    for info in infos:
        if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _PayloadError(f"{info.filename} is encrypted or compressed with an unsupported method")
    total = sum(i.file_size for i in infos)
    bound = min(_MAX_UNCOMPRESSED, MAX_COMPRESSION_RATIO * payload_len + _RATIO_SLACK)
    if total > bound:
        raise _PayloadError(f"the archive declares {total} uncompressed bytes, more than the {bound} allowed "
                       f"for a {payload_len}-byte payload")
    return {i.filename: i for i in infos}


def _decode_checked(payload: bytes) -> tuple[dict[str, Any], dict[str, FlatForest | None]]:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise _PayloadError(f"the payload is a {type(payload).__name__}, not bytes")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        members = _members(archive, len(payload))
        if "meta.npy" not in members:
            raise _PayloadError("no meta member")
        meta = json.loads(_read_npy(archive, members["meta.npy"], frozenset({"|u1"}), MAX_META_BYTES)
                          .tobytes().decode("utf-8"))
        if not isinstance(meta, dict) or meta.get("format") != PAYLOAD_FORMAT:
            raise _PayloadError(f"payload format {meta.get('format') if isinstance(meta, dict) else meta!r}, "
                           f"expected {PAYLOAD_FORMAT!r}")
        names = meta.get("forests")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or \
                len(set(names)) != len(names) or not set(names) <= set(_FORESTS):
            raise _PayloadError(f"bad forest list {names!r}")
        if "time" not in names:
            raise _PayloadError("no time forest")
        expected = {"meta.npy"} | {f"{f}_{a}.npy" for f in names for a in _ARRAYS}
        if set(members) != expected:
            raise _PayloadError(f"members {sorted(set(members) ^ expected)} missing or not listed in meta")
        forests = _read_forests(archive, members, names, _FORESTS)
    return meta, forests


def _read_forests(archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], names: Sequence[str],
                  known: Sequence[str]) -> dict[str, FlatForest | None]:
    """The forests ``names`` of a checked archive (``{known: None}`` for the others), each proven a forest."""
    bounds = {"statistics": MAX_FEATURES, "roots": MAX_TREES} | dict.fromkeys(_NODE_ARRAYS, MAX_NODES)
    forests: dict[str, FlatForest | None] = dict.fromkeys(known)
    for name in names:
        arrays = {a: _read_npy(archive, members[f"{name}_{a}.npy"],
                               _FLOAT_DTYPES if a in ("statistics", "threshold", "value") else _INT_DTYPES,
                               bounds[a]) for a in _ARRAYS}
        try:
            forests[name] = FlatForest.from_arrays(arrays)
        except ValueError as exc:
            raise _PayloadError(f"{name} forest: {exc}") from None
    return forests


def _decode(payload: bytes, where: str) -> tuple[dict[str, Any], dict[str, FlatForest | None]]:
    """Read a payload; raise ModelSchemaError (naming ``where`` and the fault) for anything unexpected."""
    try:
        return _decode_checked(payload)
    except _PayloadError as exc:
        reason = str(exc)
    except Exception as exc:  # hostile bytes: every fault becomes the library's own error
        reason = f"{type(exc).__name__}: {exc}"[:500]
    raise ModelSchemaError(f"{where} cannot be read by this library ({reason}); {_RETRAIN}")


def save_model(store: Storage, model: ConfigTimeModel, name: str = "default", *,
               metrics: dict[str, Any] | None = None) -> int:
    """Store a fitted model in the ``models`` table (no pickle: see the module docstring) and return its id.

    Raises:
        NotFittedError: ``model`` is not fitted.
        ValueError: ``model`` is not a ConfigTimeModel, was fitted on another feature layout, or is
            too large to be read back (the bounds of ``_flat``: ``MAX_NODES``, ``MAX_TREES``...).
    """
    from ._forest import ConfigTimeModel

    if not isinstance(model, ConfigTimeModel):
        raise ValueError(f"model must be a ConfigTimeModel, got {type(model).__name__}")
    model._check_fitted()
    if not isinstance(name, str) or not name:
        raise ValueError(f"name must be a non-empty string, got {name!r}")
    if tuple(model.feature_names_) != feature_names():
        raise ValueError("only a model fitted on autotune's feature layout (a TrainingSet) can be saved")
    payload = _encode(model)
    try:
        _decode_checked(payload)  # never store what every reader would refuse (a forest beyond the bounds)
    except Exception as exc:
        raise ValueError(f"this model cannot be stored: readers would refuse it ({exc})") from None
    model_id = store.add_model(
        name, feature_schema_version=FEATURE_SCHEMA_VERSION, n_rows=model.n_rows_, rows_hash=model.rows_hash_,
        payload=payload, params=model.get_params(), metrics=metrics, versions=_versions(),
    )
    _logger.info("saved model %r (id %d, %d rows, %.1f KiB)", name, model_id, model.n_rows_, len(payload) / 1024)
    return model_id


def load_model(store: Storage, name: str = "default") -> ConfigTimeModel | None:
    """The latest stored model called ``name``, ready to predict, or ``None`` if there is none.

    The loaded model predicts with its flat arrays; its ``pipeline_`` and ``compile_pipeline_`` are ``None``.
    To predict without importing scikit-learn, use :func:`load_predictor`.

    Raises:
        ModelSchemaError: the model was trained on another feature schema, or its payload cannot be
            read (corrupt, hostile or beyond the bounds of the module docstring; the message names
            the fault); the message says how to retrain. Nothing else for bad bytes.
    """
    from ._forest import ConfigTimeModel

    return _load(store, name, ConfigTimeModel)


def load_predictor(store: Storage, name: str = "default") -> ForestPredictor | None:
    """As :func:`load_model`, but a bare :class:`ForestPredictor`: the same predictions and ``choose``,
    with numpy alone (no scikit-learn import), for deciding in a fresh process."""
    return _load(store, name, ForestPredictor)


def _load(store: Storage, name: str, cls: type[P]) -> P | None:
    row = store.latest_model(name)
    return None if row is None else from_row(row, cls)


def from_row(row: ModelRow, cls: type[P]) -> P:
    """The model (``cls``: :class:`ConfigTimeModel` or :class:`ForestPredictor`) of a stored row.

    Raises:
        ModelSchemaError: another feature schema, or a payload this library cannot read.
    """
    name = row.name
    where = f"model {name!r} (id {row.id}, trained {row.trained_at:%Y-%m-%d %H:%M} UTC)"
    if row.feature_schema_version != FEATURE_SCHEMA_VERSION:
        raise ModelSchemaError(
            f"{where} was trained on feature schema version {row.feature_schema_version}, this library uses "
            f"version {FEATURE_SCHEMA_VERSION}; {_RETRAIN}"
        )
    try:
        model = _build(row, where, cls)
    except ModelSchemaError:
        raise
    except Exception as exc:  # whatever else the stored bytes make go wrong is still a bad payload
        raise ModelSchemaError(f"{where} cannot be read by this library ({type(exc).__name__}: {exc}); "
                               f"{_RETRAIN}") from None
    _logger.debug("loaded %s", where)
    return model


def _build(row: Any, where: str, cls: type[P]) -> P:
    """The model of a stored row whose feature schema version matches (ModelSchemaError otherwise)."""
    meta, forests = _decode(row.payload, where)
    names = meta.get("feature_names", ())
    if meta.get("feature_schema_version") != FEATURE_SCHEMA_VERSION or not isinstance(names, list) or \
            tuple(names) != feature_names():
        raise ModelSchemaError(f"{where} was trained on other features than this library computes; {_RETRAIN}")
    time_flat = forests["time"]
    widths = {"time": len(feature_names()), "compile": len(feature_names()), "scale": N_CONTEXT}
    if time_flat is None or any(f is not None and f.n_features != widths[k] for k, f in forests.items()):
        raise ModelSchemaError(f"{where} has forests of the wrong width; {_RETRAIN}")
    if cls is ForestPredictor:
        model = cls()
    else:
        try:
            model = cls(**dict(meta.get("params") or row.params))
        except (TypeError, ValueError) as exc:
            raise ModelSchemaError(f"{where} has parameters this library does not know ({exc}); "
                                   f"{_RETRAIN}") from None
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
    return model


def train(store: Storage, *, name: str = "default", machine_id: str | None = None,
          **params: Any) -> ConfigTimeModel:
    """Build the training set from ``store``, fit a :class:`ConfigTimeModel` (``params``) and save it as ``name``.

    Raises:
        TrainingDataError: the store holds no usable measurement.
    """
    from ._data import training_set
    from ._forest import ConfigTimeModel

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
