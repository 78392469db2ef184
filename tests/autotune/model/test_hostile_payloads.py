"""Crafted model payloads: refused with ModelSchemaError, quickly, without large allocations.

Each payload is built here as an attacker with write access to a shared results database would
build it. Before the tree proof, the first one (node i has both children i + 1) made every reader
spend seconds and gigabytes: the depth computation's frontier doubled at every level.
"""

from __future__ import annotations

import io
import json
import struct
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from autotune import AutotuneError, ModelSchemaError
from autotune.model import FEATURE_SCHEMA_VERSION, ConfigTimeModel, FlatForest, _flat, load_model, save_model
from autotune.model._encoding import feature_names
from autotune.model._persist import _encode
from autotune.storage import Storage

N_FEATURES = len(feature_names())
MAX_SECONDS = 1.0  # a hang bound, not a benchmark: each refusal takes milliseconds
MAX_PEAK_BYTES = 32 * 2**20  # the attacks below made readers allocate gigabytes


@contextmanager
def _refused_cheaply(error: type[Exception] = ModelSchemaError, match: str | None = None) -> Iterator[None]:
    """Expect ``error`` within MAX_SECONDS and with a traced allocation peak under MAX_PEAK_BYTES."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(error, match=match):
            yield
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < MAX_SECONDS, f"refusing took {elapsed:.2f} s"
    assert peak < MAX_PEAK_BYTES, f"refusing allocated {peak / 2**20:.0f} MiB"


# -- forests as arrays -----------------------------------------------------------------------------

def _arrays(left: np.ndarray, right: np.ndarray, roots: tuple[int, ...] = (0,)) -> dict[str, np.ndarray]:
    """Forest arrays with the given children (a leaf: ``left[i] == i``), valid everywhere else."""
    n = left.shape[0]
    leaf = left == np.arange(n)
    return {"statistics": np.zeros(N_FEATURES), "feature": np.zeros(n, dtype=np.int16),
            "threshold": np.where(leaf, np.inf, 0.5), "left": left.astype(np.int32),
            "right": right.astype(np.int32), "value": np.arange(n, dtype=np.float64),
            "roots": np.asarray(roots, dtype=np.int32)}


def _double_child_chain(n: int) -> dict[str, np.ndarray]:
    """Node i has both children i + 1: children after parents, but 2**(n-1) root-to-leaf paths."""
    ids = np.arange(n)
    nxt = np.minimum(ids + 1, n - 1)
    return _arrays(nxt, nxt)


def _caterpillar(depth: int) -> dict[str, np.ndarray]:
    """A genuine tree of the given depth: inner node 2k has the leaf 2k + 1 and the next inner node 2k + 2."""
    n = 2 * depth + 1
    ids = np.arange(n)
    inner = (ids % 2 == 0) & (ids < n - 1)
    return _arrays(np.where(inner, ids + 1, ids), np.where(inner, ids + 2, ids))


def _balanced() -> dict[str, np.ndarray]:
    """Two trees of 3 and 5 nodes: 0 -> (1, 2); 3 -> (4, 5), 5 -> (6, 7)."""
    left = np.array([1, 1, 2, 4, 4, 6, 6, 7])
    right = np.array([2, 1, 2, 5, 4, 7, 6, 7])
    return _arrays(left, right, roots=(0, 3))


def _with(arrays: dict[str, np.ndarray], name: str, index: int, value: float) -> dict[str, np.ndarray]:
    changed = {k: v.copy() for k, v in arrays.items()}
    changed[name][index] = value
    return changed


DOUBLE_CHILD_NODES = 27  # before the tree proof: about 5 s and 1.6 GB to "load" this one forest

BAD_FORESTS: dict[str, tuple[Callable[[], dict[str, np.ndarray]], str]] = {
    "double child i -> i+1": (lambda: _double_child_chain(DOUBLE_CHILD_NODES), "not a forest of trees"),
    "double child, 100k deep": (lambda: _double_child_chain(100_000), "not a forest of trees"),
    "cycle": (lambda: _with(_balanced(), "right", 5, 3), "follow their parent"),
    "self loop at an inner node": (lambda: _with(_balanced(), "right", 0, 0), "follow their parent"),
    "two parents": (lambda: _with(_balanced(), "right", 3, 6), "not a forest of trees"),
    "same child twice": (lambda: _with(_balanced(), "right", 0, 1), "node 1 is the child of 2 nodes"),
    "child out of range": (lambda: _with(_balanced(), "left", 5, 8), "follow their parent"),
    "negative child": (lambda: _with(_balanced(), "left", 0, -1), "follow their parent"),
    "child in another tree": (lambda: _with(_balanced(), "right", 0, 4), "within its tree"),
    "leaf pointing elsewhere": (lambda: _with(_balanced(), "right", 1, 2), "leaf must point to itself"),
    "deeper than the bound": (lambda: _caterpillar(_flat.MAX_DEPTH + 1), "deeper than"),
    "feature out of range": (lambda: _with(_balanced(), "feature", 0, N_FEATURES), "feature indices"),
    "NaN threshold": (lambda: _with(_balanced(), "threshold", 3, np.nan), "NaN"),
    "infinite value": (lambda: _with(_balanced(), "value", 2, np.inf), "finite"),
}


def test_genuine_small_forests_are_accepted() -> None:
    forest = FlatForest.from_arrays(_balanced())
    assert (forest.n_trees, forest.n_nodes, forest.max_depth) == (2, 8, 2)
    X = np.zeros((1, N_FEATURES))
    np.testing.assert_array_equal(forest.tree_predictions(X), [[1.0, 4.0]])  # 0 <= 0.5: left every time
    assert FlatForest.from_arrays(_caterpillar(_flat.MAX_DEPTH)).max_depth == _flat.MAX_DEPTH


@pytest.mark.parametrize("case", sorted(BAD_FORESTS))
def test_flat_forest_refuses_what_is_not_a_forest_of_trees(case: str) -> None:
    make, match = BAD_FORESTS[case]
    arrays = make()
    with _refused_cheaply(ValueError, match=match):
        FlatForest.from_arrays(arrays)


@pytest.mark.parametrize(("name", "length", "what"), [
    ("feature", _flat.MAX_NODES + 1, "nodes"),
    ("roots", _flat.MAX_TREES + 1, "trees"),
    ("statistics", _flat.MAX_FEATURES + 1, "features"),
])
def test_flat_forest_bounds_sizes_before_converting(name: str, length: int, what: str) -> None:
    arrays = _balanced()
    names = ("feature", "threshold", "left", "right", "value") if name == "feature" else (name,)
    arrays.update({k: np.zeros(length, dtype=arrays[k].dtype) for k in names})  # calloc: untouched pages are free
    with pytest.raises(ValueError, match=rf"{length} {what}, more than the {length - 1} a stored forest may have"):
        FlatForest.from_arrays(arrays)


def test_fitting_still_gives_trees(small_model: ConfigTimeModel) -> None:
    """The proof accepts every forest scikit-learn fits (the export goes through the same checks)."""
    for flat in (small_model.flat_, small_model.scale_flat_, small_model.compile_flat_):
        assert flat is not None
        rebuilt = FlatForest.from_arrays(flat.to_arrays())
        assert 0 < rebuilt.max_depth == flat.max_depth <= _flat.MAX_DEPTH


# -- payloads in a store ------------------------------------------------------------------------

def _arrays_of(model: ConfigTimeModel) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(_encode(model)), allow_pickle=False) as npz:  # our own bytes: trusted here
        return {k: npz[k] for k in npz.files}


def _npz(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


def _with_time_forest(model: ConfigTimeModel, forest: dict[str, np.ndarray]) -> bytes:
    return _npz({**_arrays_of(model), **{f"time_{k}": v for k, v in forest.items()}})


def _npy_header(descr: str, shape: tuple[int, ...], *, version: int = 1) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1") + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header


def _replace_member(model: ConfigTimeModel, member: str, raw: bytes) -> bytes:
    """The model's payload with one member's bytes replaced (written as the attacker likes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, array in _arrays_of(model).items():
            if f"{name}.npy" != member:
                out = io.BytesIO()
                np.save(out, array)
                archive.writestr(f"{name}.npy", out.getvalue())
        archive.writestr(member, raw)
    return buffer.getvalue()


def _add(store: Storage, payload: bytes) -> None:
    store.add_model("default", feature_schema_version=FEATURE_SCHEMA_VERSION, n_rows=1, rows_hash="x",
                    payload=payload)


@pytest.mark.parametrize("case", sorted(BAD_FORESTS))
def test_load_model_refuses_hostile_forests(case: str, store: Storage, small_model: ConfigTimeModel) -> None:
    make, match = BAD_FORESTS[case]
    _add(store, _with_time_forest(small_model, make()))
    with _refused_cheaply(match=rf"cannot be read.*time forest: flat forest: .*{match}.*retrain"):
        load_model(store)


def _zip_bomb(model: ConfigTimeModel) -> bytes:
    """A value array of 32 MB of zeros: a well-formed .npy within the node bound, deflated about
    1,000 times (any model payload could be padded so)."""
    out = io.BytesIO()
    np.save(out, np.zeros(4_000_000))
    return _replace_member(model, "time_value.npy", out.getvalue())


def _npy(header: bytes) -> bytes:
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header


def _truncated(model: ConfigTimeModel) -> bytes:
    payload = _encode(model)
    return payload[: len(payload) // 2]


def _corrupted(model: ConfigTimeModel) -> bytes:
    payload = bytearray(_npz(_arrays_of(model)))
    start = payload.index(b"time_value.npy") + 64  # inside that member's compressed data
    payload[start : start + 64] = bytes(64)
    return bytes(payload)


def _duplicate_member(model: ConfigTimeModel) -> bytes:
    buffer = io.BytesIO(_npz(_arrays_of(model)))
    with zipfile.ZipFile(buffer, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        out = io.BytesIO()
        np.save(out, np.zeros(3))
        archive.writestr("time_value.npy", out.getvalue())
    return buffer.getvalue()


def _meta(model: ConfigTimeModel, **changes: object) -> bytes:
    arrays = _arrays_of(model)
    meta = {**json.loads(arrays["meta"].tobytes()), **changes}
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    return _npz(arrays)


def _deep_json(model: ConfigTimeModel) -> bytes:
    arrays = _arrays_of(model)
    arrays["meta"] = np.frombuffer(b"[" * 100_000 + b"]" * 100_000, dtype=np.uint8)
    return _npz(arrays)


def _without(model: ConfigTimeModel, member: str) -> bytes:
    return _npz({k: v for k, v in _arrays_of(model).items() if f"{k}.npy" != member})


HUGE = 200_000_000_000  # 2e11 float64: 1.6 TB

BAD_PAYLOADS: dict[str, tuple[Callable[[ConfigTimeModel], bytes], str]] = {
    "header claiming 2e11 elements": (
        lambda m: _replace_member(m, "time_value.npy", _npy_header("<f8", (HUGE,)) + bytes(64)),
        f"time_value.npy declares {HUGE} entries"),
    "header claiming 2e11 elements, v2": (
        lambda m: _replace_member(m, "time_left.npy", _npy_header("<i8", (HUGE,), version=2) + bytes(64)),
        f"declares {HUGE} entries"),
    "header claiming more bytes than present": (
        lambda m: _replace_member(m, "time_value.npy", _npy_header("<f8", (1000,)) + bytes(64)),
        "holds a different number of bytes"),
    "header of 4 GB": (lambda m: _replace_member(m, "meta.npy", b"\x93NUMPY\x02\x00" + struct.pack("<I", 2**32 - 1)),
                       "header, more than"),
    "object dtype": (lambda m: _replace_member(m, "meta.npy", _npy_header("|O", (1,)) + bytes(8)),
                     r"holds '\|O' values"),
    "pickle instead of an array": (lambda m: _replace_member(m, "meta.npy", b"\x80\x04K\x01."), "not a .npy"),
    "2-d array": (lambda m: _replace_member(m, "time_roots.npy", _npy_header("<i4", (1, 1)) + bytes(4)), "1-d"),
    "float indices": (lambda m: _replace_member(m, "time_left.npy", _npy_header("<f8", (1,)) + bytes(8)),
                      "holds '<f8' values"),
    "header nested too deeply": (lambda m: _replace_member(m, "meta.npy", _npy(b"(" * 1000 + b"\n")),
                                 "unreadable header"),
    "header that is no dict": (lambda m: _replace_member(m, "meta.npy", _npy(b"[1, 2]\n")), "unreadable header"),
    "header with other keys": (lambda m: _replace_member(m, "meta.npy", _npy(b"{'descr': '|u1', 'shape': (1,)}\n")),
                               "unreadable header"),
    "empty member": (lambda m: _replace_member(m, "time_roots.npy", b""), "not a .npy"),
    "zip bomb": (_zip_bomb, "uncompressed bytes, more than"),
    "truncated zip": (_truncated, "BadZipFile"),
    "corrupted deflate stream": (_corrupted, "time_value|Error"),
    "duplicate member": (_duplicate_member, "repeated members"),
    "missing member": (lambda m: _without(m, "time_right.npy"), "missing or not listed"),
    "forest not listed in meta": (lambda m: _meta(m, forests=["time"]), "missing or not listed"),
    "unknown forest": (lambda m: _meta(m, forests=["time", "evil"]), "bad forest list"),
    "no time forest": (lambda m: _meta(m, forests=["scale", "compile"]), "no time forest|missing or not listed"),
    "deeply nested meta JSON": (_deep_json, "RecursionError|JSONDecodeError|Error"),
    "feature names not a list": (lambda m: _meta(m, feature_names=7), "other features"),
}


@pytest.mark.parametrize("case", sorted(BAD_PAYLOADS))
def test_load_model_refuses_bad_bytes_with_model_schema_error(case: str, store: Storage,
                                                               small_model: ConfigTimeModel) -> None:
    make, match = BAD_PAYLOADS[case]
    _add(store, make(small_model))
    with _refused_cheaply(match=match):
        load_model(store)


def test_model_schema_error_is_an_autotune_error() -> None:
    """What the runtime catches to remember a model row that failed to load."""
    assert issubclass(ModelSchemaError, AutotuneError)


def test_a_genuine_model_still_round_trips(store: Storage, small_model: ConfigTimeModel) -> None:
    save_model(store, small_model)
    loaded = load_model(store)
    assert loaded is not None
    for mine, theirs in ((loaded.flat_, small_model.flat_), (loaded.scale_flat_, small_model.scale_flat_),
                         (loaded.compile_flat_, small_model.compile_flat_)):
        assert mine is not None and theirs is not None
        assert (mine.n_nodes, mine.n_trees, mine.max_depth) == (theirs.n_nodes, theirs.n_trees, theirs.max_depth)
    X = np.random.default_rng(0).normal(size=(50, N_FEATURES))
    np.testing.assert_array_equal(loaded.predict(X), small_model.predict(X))
    np.testing.assert_array_equal(loaded.predict_compile(X), small_model.predict_compile(X))


def test_save_refuses_a_model_readers_would_refuse(store: Storage, small_model: ConfigTimeModel,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_flat, "MAX_NODES", small_model.flat_.n_nodes - 1)
    with pytest.raises(ValueError, match=r"cannot be stored.*nodes, more than"):
        save_model(store, small_model)
    assert store.latest_model("default") is None
