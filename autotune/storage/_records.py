"""Typed, frozen rows coming out of the store (never ORM objects); measurements are ``Measurement``s."""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .._outcome import Source

__all__ = [
    "SOURCES",
    "MachineRow",
    "ModelRow",
    "ProfileRow",
    "TuningSessionRow",
    "WorkloadRow",
    "from_orm",
]

SOURCES = tuple(s.value for s in Source)
"""Where a measurement came from (the values of :class:`autotune.Source`)."""

R = TypeVar("R")


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
    host: str | None = None
    pid: int | None = None
    process_started: float | None = None


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
