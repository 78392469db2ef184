"""The training set: one row per COMPLETE measurement in the results database."""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels import Config, auto_chunk_size

from .._errors import AutotuneError
from .._outcome import Outcome
from ..features import MachineFingerprint, workload_from_spec
from ..measure import Measurement
from ..storage import Storage
from ._encoding import encode_configs, feature_names, machine_row, workload_row

__all__ = ["TrainingDataError", "TrainingSet", "rows_hash", "training_set"]

_logger = logging.getLogger(__name__)

MIN_COMPILE_S = 1e-6
"""Floor of the compile time before its log: compile times of 0 (or slightly negative, from noise) are common."""


class TrainingDataError(AutotuneError, ValueError):
    """There is nothing (or too little) to train or evaluate a model on."""


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """Model rows built from stored measurements.

    Attributes:
        X: float64 array ``(n, len(feature_names))``; NaN where a stored feature is missing.
        y_log_time: natural log of each measurement's steady-state time ``steady_s`` (seconds).
        y_log_compile: natural log of ``max(one_off_s, 1e-6)``, the first call's cost beyond a steady
            call; NaN where it is unknown.
        machine_ids, workload_ids, config_ids: the keys of each row (arrays of str).
        n_sims: simulations per run of each row.
        configs: the :class:`~kernels.Config` of each row.
        feature_names: the column names (:func:`~autotune.model.feature_names`).
        rows_hash: sha256 over the sorted measurement uids: which measurements the set holds.
    """

    X: np.ndarray
    y_log_time: np.ndarray
    y_log_compile: np.ndarray
    machine_ids: np.ndarray
    workload_ids: np.ndarray
    config_ids: np.ndarray
    n_sims: np.ndarray
    configs: tuple[Config, ...] = field(repr=False)
    feature_names: tuple[str, ...] = field(repr=False)
    rows_hash: str

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, rows: np.ndarray) -> TrainingSet:
        """The rows at ``rows`` (indices or a boolean mask); ``rows_hash`` then covers the row order only."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.intp)
        digest = hashlib.sha256(self.rows_hash.encode() + rows.astype(np.int64).tobytes()).hexdigest()
        return TrainingSet(
            X=self.X[rows], y_log_time=self.y_log_time[rows], y_log_compile=self.y_log_compile[rows],
            machine_ids=self.machine_ids[rows], workload_ids=self.workload_ids[rows],
            config_ids=self.config_ids[rows], n_sims=self.n_sims[rows],
            configs=tuple(self.configs[i] for i in rows), feature_names=self.feature_names, rows_hash=digest,
        )


def rows_hash(uids: list[str]) -> str:
    """sha256 (hex) over the sorted measurement uids, one per line."""
    return hashlib.sha256("\n".join(sorted(uids)).encode("utf-8")).hexdigest()


def training_set(store: Storage, *, machine_id: str | None = None) -> TrainingSet:
    """Every COMPLETE measurement in ``store`` (all machines, or only ``machine_id``) as model rows.

    Rows whose machine fingerprint, workload spec or config cannot be read by this library version
    (another fingerprint schema, an unregistered backend) are skipped with a warning.

    Raises:
        TrainingDataError: the store holds no usable COMPLETE measurement.
    """
    if not isinstance(store, Storage):
        raise ValueError(f"store must be an autotune Storage (open_storage(url)), got {type(store).__name__}")
    measurements = [m for m in store.measurements(machine_id=machine_id, outcome=Outcome.COMPLETE)
                    if not m.legacy_timing and m.steady_s is not None and math.isfinite(m.steady_s) and m.steady_s > 0]
    where = f" for machine {machine_id!r}" if machine_id is not None else ""
    if not measurements:
        raise TrainingDataError(
            f"no COMPLETE measurements with a positive steady-state time{where} in {store!r}: there is nothing to "
            "train on; measure some configs first (`autotune tune` or autotune.tune(...))"
        )
    builder = _RowBuilder(store)
    kept: list[tuple[Measurement, np.ndarray]] = []
    for m in measurements:
        row = builder.row(m)
        if row is not None:
            kept.append((m, row))
    if not kept:
        raise TrainingDataError(
            f"none of the {len(measurements)} COMPLETE measurements{where} in {store!r} could be turned into "
            f"model rows (unreadable machines: {sorted(builder.bad_machines)}, workloads: "
            f"{sorted(builder.bad_workloads)}); see the warnings"
        )
    skipped = len(measurements) - len(kept)
    if skipped:
        _logger.warning("training set: skipped %d of %d measurements that this library cannot read",
                        skipped, len(measurements))
    rows = [m for m, _ in kept]
    compile_s = np.array([math.nan if m.one_off_s is None else m.one_off_s for m in rows], dtype=np.float64)
    with np.errstate(invalid="ignore"):
        y_compile = np.where(np.isfinite(compile_s), np.log(np.maximum(compile_s, MIN_COMPILE_S)), np.nan)
    return TrainingSet(
        X=np.vstack([r for _, r in kept]),
        y_log_time=np.log(np.array([m.steady_s for m in rows], dtype=np.float64)),
        y_log_compile=y_compile,
        machine_ids=np.array([m.machine_id for m in rows], dtype=str),
        workload_ids=np.array([m.workload_id for m in rows], dtype=str),
        config_ids=np.array([m.config_id for m in rows], dtype=str),
        n_sims=np.array([m.n_sims for m in rows], dtype=np.int64),
        configs=tuple(m.config for m in rows),
        feature_names=feature_names(),
        rows_hash=rows_hash([m.uid for m in rows]),
    )


class _RowBuilder:
    """Builds rows, reading (and caching) each machine, workload and config once."""

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.machines: dict[str, np.ndarray | None] = {}
        self.workloads: dict[str, tuple[np.ndarray, Any] | None] = {}
        self.bad_machines: set[str] = set()
        self.bad_workloads: set[str] = set()
        self._config_parts: dict[tuple[str, str, int], np.ndarray] = {}

    def row(self, m: Measurement) -> np.ndarray | None:
        machine = self._machine(m.machine_id)
        workload = self._workload(m.workload_id)
        config = m.config
        if machine is None or workload is None:
            return None
        key = (m.config_id, m.workload_id, m.n_sims)
        part = self._config_parts.get(key)
        if part is None:
            obj = workload[1]
            part = self._config_parts[key] = encode_configs([config], obj, m.n_sims,
                                                            auto_chunk=auto_chunk_size(obj, m.n_sims))[0]
        return np.concatenate([machine, workload[0], part])

    def _machine(self, machine_id: str) -> np.ndarray | None:
        if machine_id not in self.machines:
            row = self.store.machine(machine_id)
            try:
                vector = machine_row(MachineFingerprint.from_dict(row.fingerprint)) if row is not None else None
            except (ValueError, TypeError, KeyError) as exc:
                _logger.warning("skipping machine %s: its fingerprint cannot be read (%s)", machine_id, exc)
                vector = None
            if vector is None:
                self.bad_machines.add(machine_id)
            self.machines[machine_id] = vector
        return self.machines[machine_id]

    def _workload(self, key: str) -> tuple[np.ndarray, Any] | None:
        if key not in self.workloads:
            row = self.store.workload(key)
            try:
                entry = (workload_row(row.features), workload_from_spec(row.spec)) if row is not None else None
            except (ValueError, TypeError, AttributeError) as exc:
                _logger.warning("skipping workload %s: its spec cannot be rebuilt (%s)", key, exc)
                entry = None
            if entry is None:
                self.bad_workloads.add(key)
            self.workloads[key] = entry
        return self.workloads[key]
