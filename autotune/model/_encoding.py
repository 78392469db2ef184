"""Feature rows of the model: machine ⊕ workload ⊕ config, in one fixed, versioned order.

A row is the machine vector (:data:`~autotune.features.MACHINE_FEATURES`, prefixed ``m_``),
the workload vector (:data:`~autotune.features.WORKLOAD_FEATURES`, prefixed ``w_``) and the
config encoding (:data:`CONFIG_FEATURES`, prefixed ``c_``). The prefixes keep names from
clashing (a machine and a config could both have ``workers``-like fields).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from kernels import BACKENDS, Config, auto_chunk_size

from ..features import MACHINE_FEATURES, WORKLOAD_FEATURES, MachineFingerprint

__all__ = [
    "CONFIG_FEATURES",
    "ENCODED_EXECUTORS",
    "FEATURE_SCHEMA_VERSION",
    "encode_config",
    "encode_configs",
    "feature_names",
    "machine_row",
    "workload_row",
]

FEATURE_SCHEMA_VERSION = 3
"""Version of the row layout; bump it whenever :func:`feature_names` or an encoding changes meaning,
so that stored models trained on the old layout refuse to load (``ModelSchemaError``)."""

ENCODED_EXECUTORS: tuple[str, ...] = ("serial", "threads", "processes")
"""The executors with a one-hot column. ``"dask"`` has none (all-zero columns, like a registered
backend): its times are the cluster's, not this machine's, so the model neither learns nor picks it
(:meth:`ConfigTimeModel.supports`), and stored models keep their layout."""

CONFIG_FEATURES: tuple[str, ...] = (
    *(f"backend_{b}" for b in BACKENDS),
    *(f"executor_{e}" for e in ENCODED_EXECUTORS),
    "workers",
    "log2_workers",
    "float32",
    "log2_chunk",
    "auto_chunk",
    "log2_chunks",
    "qmc",
    "shared_memory",
    "antithetic",
    "control_variate",
    "method_fft",
)
"""Config features, in order. Backends outside the built-in three get all-zero one-hot columns. With
``method_fft`` the row's size is the FFT grid's points, not simulations."""

_BACKEND_INDEX = {b: i for i, b in enumerate(BACKENDS)}
_EXECUTOR_INDEX = {e: i for i, e in enumerate(ENCODED_EXECUTORS)}


def feature_names() -> tuple[str, ...]:
    """Every column of a model row, in order: ``m_*`` machine, ``w_*`` workload, ``c_*`` config."""
    return (
        *(f"m_{n}" for n in MACHINE_FEATURES),
        *(f"w_{n}" for n in WORKLOAD_FEATURES),
        *(f"c_{n}" for n in CONFIG_FEATURES),
    )


N_MACHINE = len(MACHINE_FEATURES)
N_WORKLOAD = len(WORKLOAD_FEATURES)
N_CONTEXT = N_MACHINE + N_WORKLOAD
"""Columns before the config part: the (machine, workload) context of a row."""


def _number(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return math.nan


def machine_row(machine: Mapping[str, Any] | MachineFingerprint) -> np.ndarray:
    """The machine part of a row from a machine vector (``MachineFingerprint.vector()``).

    Raises:
        ValueError: a feature of :data:`MACHINE_FEATURES` is missing from the mapping.
    """
    if isinstance(machine, MachineFingerprint):
        machine = machine.vector()
    if not isinstance(machine, Mapping):
        raise ValueError(
            f"machine vector must be a dict from MachineFingerprint.vector(), got {type(machine).__name__}"
        )
    missing = [n for n in MACHINE_FEATURES if n not in machine]
    if missing:
        raise ValueError(f"machine vector misses {missing}; pass machine_fingerprint().vector()")
    return np.array([_number(machine[n]) for n in MACHINE_FEATURES], dtype=np.float64)


def workload_row(features: Mapping[str, Any]) -> np.ndarray:
    """The workload part of a row from a stored workload vector; missing or non-numeric values are NaN
    (the model's imputer fills them)."""
    return np.array([_number(features.get(n)) for n in WORKLOAD_FEATURES], dtype=np.float64)


def _n_chunks(n_sims: np.ndarray, chunk: np.ndarray, qmc: np.ndarray, scrambles: np.ndarray) -> np.ndarray:
    """Chunks a run is cut into, as ``kernels.plan_chunks`` cuts it (QMC: per scramble)."""
    plain = -(-n_sims // chunk)
    base, extra = np.divmod(n_sims, scrambles)
    per_qmc = extra * -(-(base + 1) // chunk) + (scrambles - extra) * -(-base // chunk)
    return np.where(qmc, per_qmc, plain)


def encode_configs(configs: Sequence[Config], workload: Any, n_sims: int, *,
                   auto_chunk: int | None = None) -> np.ndarray:
    """The config part of the rows of many configs at once, shape ``(len(configs), len(CONFIG_FEATURES))``.

    Args:
        configs: the configs.
        workload: the kernels workload (for the automatic chunk size).
        n_sims: simulations per run.
        auto_chunk: ``auto_chunk_size(workload, n_sims)`` when already known (saves recomputing it).
    """
    if isinstance(n_sims, bool) or not isinstance(n_sims, numbers.Integral) or n_sims < 1:
        raise ValueError(f"n_sims must be a positive int, got {n_sims!r}")
    n_sims = int(n_sims)
    n = len(configs)
    if auto_chunk is None:
        auto_chunk = auto_chunk_size(workload, n_sims)
    knobs = np.array(
        [(_BACKEND_INDEX.get(c.backend, -1), _EXECUTOR_INDEX.get(c.executor, -1), c.workers, c.precision == "float32",
          c.chunk_size or 0, c.qmc, c.qmc_scrambles, c.shared_memory, c.antithetic, c.control_variate,
          c.method == "fft")
         for c in configs],
        dtype=np.int64,
    ).reshape(n, 11)
    backend, executor, workers, f32, chunk, qmc, scrambles, shm, anti, cv, fft = knobs.T
    auto = chunk == 0
    # Resolved as kernels.simulate resolves it: capped at n_sims, and with QMC at one scramble's points.
    chunk = np.minimum(np.where(auto, auto_chunk, chunk), n_sims)
    chunk = np.where(qmc != 0, np.minimum(chunk, -(-n_sims // scrambles)), chunk)
    chunk = np.maximum(chunk, 1)
    out = np.zeros((n, len(CONFIG_FEATURES)), dtype=np.float64)
    rows = np.arange(n)
    known = backend >= 0
    out[rows[known], backend[known]] = 1.0
    nb = len(BACKENDS)
    encoded = executor >= 0
    out[rows[encoded], nb + executor[encoded]] = 1.0
    col = nb + len(ENCODED_EXECUTORS)
    out[:, col] = workers
    out[:, col + 1] = np.log2(workers)
    out[:, col + 2] = f32
    out[:, col + 3] = np.log2(chunk)
    out[:, col + 4] = auto
    out[:, col + 5] = np.log2(_n_chunks(np.int64(n_sims), chunk, qmc != 0, scrambles))
    out[:, col + 6] = qmc
    out[:, col + 7] = shm
    out[:, col + 8] = anti
    out[:, col + 9] = cv
    out[:, col + 10] = fft
    return out


def encode_config(config: Config, workload: Any, n_sims: int) -> dict[str, float]:
    """The config features of one config, keyed (in order) by :data:`CONFIG_FEATURES`.

    ``chunk_size=None`` is resolved with ``kernels._chunks.auto_chunk_size(workload, n_sims)``
    (and flagged ``auto_chunk``), so that an automatic and an explicit chunk of the same size
    look alike to the model.
    """
    if not isinstance(config, Config):
        raise ValueError(f"config must be a kernels.Config, got {type(config).__name__}")
    values = encode_configs([config], workload, n_sims)[0]
    return dict(zip(CONFIG_FEATURES, (float(v) for v in values), strict=True))
