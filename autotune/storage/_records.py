"""Typed, frozen records going into and coming out of the store (never ORM objects)."""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._outcome import Outcome

__all__ = [
    "SOURCES",
    "MachineRow",
    "MeasurementRecord",
    "MeasurementRow",
    "ModelRow",
    "ProfileRow",
    "TuningSessionRow",
    "WorkloadRow",
    "from_orm",
]

SOURCES = ("tune", "online", "profile", "benchmark")
"""Where a measurement came from: an offline tuning session, online recording from
``tuned_simulate``, machine profiling, or a benchmark script."""

R = TypeVar("R")


def _optional_float(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"MeasurementRecord.{name} must be a number or None, got {value!r}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class MeasurementRecord:
    """One measurement to store.

    Args:
        machine_id, workload_id, config_id: keys of rows that must already exist
            (``upsert_machine``, ``upsert_workload``, ``upsert_config``).
        session_id: the tuning session it belongs to, if any.
        n_sims: number of simulations timed.
        source: one of :data:`SOURCES`.
        status: the :class:`~autotune.Outcome` (its string value is accepted too).
        median_s, iqr_s: median and interquartile range of the timed repeats, in seconds;
            ``median_s`` is required for ``Outcome.COMPLETE``.
        samples: every timed repeat, in seconds.
        compile_s: compile/first-call overhead beyond a warm call; first_call_s: the first
            call's wall time.
        peak_memory_bytes: peak memory of the run, if measured.
        error: the error text of a failed run.
        accuracy_z: |estimate - reference| / stderr from the accuracy gate.
        estimate, stderr: the run's estimate and standard error.
        versions: library versions the run used (``{"numpy": "2.1.0", ...}``).
        uid: a globally unique id (a new UUID is assigned when ``None``), so that rows can be
            copied between databases without duplicates.
        created_at: aware UTC time (now when ``None``).
    """

    machine_id: str
    workload_id: str
    config_id: str
    n_sims: int
    source: str
    status: Outcome
    session_id: int | None = None
    median_s: float | None = None
    iqr_s: float | None = None
    samples: tuple[float, ...] = ()
    compile_s: float | None = None
    first_call_s: float | None = None
    peak_memory_bytes: int | None = None
    error: str | None = None
    accuracy_z: float | None = None
    estimate: float | None = None
    stderr: float | None = None
    versions: Mapping[str, Any] = field(default_factory=dict, hash=False)
    uid: str | None = None
    created_at: datetime.datetime | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        try:
            set_(self, "status", Outcome(self.status))
        except ValueError:
            raise ValueError(
                f"MeasurementRecord.status must be an Outcome or one of {[o.value for o in Outcome]}, "
                f"got {self.status!r}"
            ) from None
        if self.source not in SOURCES:
            raise ValueError(f"MeasurementRecord.source must be one of {SOURCES}, got {self.source!r}")
        if isinstance(self.n_sims, bool) or not isinstance(self.n_sims, int) or self.n_sims < 1:
            raise ValueError(f"MeasurementRecord.n_sims must be a positive int, got {self.n_sims!r}")
        for name in ("median_s", "iqr_s", "compile_s", "first_call_s", "accuracy_z", "estimate", "stderr"):
            set_(self, name, _optional_float(name, getattr(self, name)))
        set_(self, "samples", tuple(float(s) for s in self.samples))
        set_(self, "versions", dict(self.versions))
        if self.status is Outcome.COMPLETE and (self.median_s is None or not math.isfinite(self.median_s)):
            raise ValueError(f"a COMPLETE measurement needs a finite median_s, got {self.median_s!r}")
        if self.created_at is not None and self.created_at.tzinfo is None:
            raise ValueError(f"MeasurementRecord.created_at must be timezone-aware (UTC), got {self.created_at!r}")


@dataclass(frozen=True, kw_only=True)
class MeasurementRow(MeasurementRecord):
    """A stored measurement: the record plus its row ``id`` (``uid`` and ``created_at`` are set).

    Being a :class:`MeasurementRecord`, it can be added to another database as it is; its
    ``uid`` then keeps it from being imported twice (``session_id`` is local to a database).
    """

    id: int

    def __post_init__(self) -> None:
        # Read back from the database: already validated on the way in.
        object.__setattr__(self, "samples", tuple(self.samples))


@dataclass(frozen=True, kw_only=True)
class MachineRow:
    """A stored machine."""

    id: str
    fingerprint: dict[str, Any] = field(hash=False)
    cpu_model: str | None
    usable_cores: int | None
    provider: str | None
    instance_type: str | None
    created_at: datetime.datetime


@dataclass(frozen=True, kw_only=True)
class WorkloadRow:
    """A stored workload."""

    id: str
    kind: str
    spec: dict[str, Any] = field(hash=False)
    features: dict[str, Any] = field(hash=False)
    created_at: datetime.datetime


@dataclass(frozen=True, kw_only=True)
class TuningSessionRow:
    """A stored tuning session."""

    id: int
    machine_id: str
    workload_id: str
    n_sims: int
    study_name: str | None
    sampler: str | None
    status: str
    budget: dict[str, Any] = field(hash=False)
    started_at: datetime.datetime
    finished_at: datetime.datetime | None
    best_config_id: str | None
    report: dict[str, Any] | None = field(hash=False)


@dataclass(frozen=True, kw_only=True)
class ProfileRow:
    """Stored results of profiling a machine."""

    id: int
    machine_id: str
    results: dict[str, Any] = field(hash=False)
    created_at: datetime.datetime


@dataclass(frozen=True, kw_only=True)
class ModelRow:
    """A stored trained model (``payload`` is its serialized form)."""

    id: int
    name: str
    feature_schema_version: int
    trained_at: datetime.datetime
    n_rows: int
    rows_hash: str
    versions: dict[str, Any] = field(hash=False)
    params: dict[str, Any] = field(hash=False)
    payload: bytes = field(repr=False)
    metrics: dict[str, Any] = field(hash=False)


def from_orm(cls: type[R], obj: object) -> R:
    """Build the record ``cls`` from the same-named attributes of an ORM object."""
    return cls(**{f.name: getattr(obj, f.name) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]
