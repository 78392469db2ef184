"""ORM models of the results database (SQLAlchemy 2 declarative mapping).

Optuna keeps its own tables (``studies``, ``trials``, ...) in the same database; none of
the names below clash with them.
"""

from __future__ import annotations

import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from .._outcome import Outcome

__all__ = [
    "SCHEMA_VERSION",
    "Base",
    "ConfigClaimModel",
    "ConfigModel",
    "MachineModel",
    "MeasurementModel",
    "PredictorModel",
    "ProfileModel",
    "SchemaVersionModel",
    "TuningSessionModel",
    "WorkloadModel",
    "WorkloadNameModel",
    "utcnow",
]

SCHEMA_VERSION = 3
"""Version of the table layout below; bump it (and write a migration in ``_schema``) whenever it changes."""


def utcnow() -> datetime.datetime:
    """The current time as an aware UTC datetime."""
    return datetime.datetime.now(datetime.UTC)


class UTCDateTime(TypeDecorator[datetime.datetime]):
    """Stores naive UTC, returns aware UTC: SQLite has no time zones, so we keep one."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime.datetime | None, dialect: Dialect) -> datetime.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"timestamps must be timezone-aware (UTC), got naive {value!r}")
        return value.astimezone(datetime.UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime.datetime | None, dialect: Dialect) -> datetime.datetime | None:
        return None if value is None else value.replace(tzinfo=datetime.UTC)


class Base(DeclarativeBase):
    """Declarative base of every autotune table."""

    type_annotation_map = {  # noqa: RUF012 (SQLAlchemy reads this class attribute)
        dict[str, Any]: JSON,
        list[float]: JSON,
        datetime.datetime: UTCDateTime,
    }


class SchemaVersionModel(Base):
    """One row: the schema version the database was written with."""

    __tablename__ = "schema_version"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)


class MachineModel(Base):
    """A machine, keyed by the hash of its fingerprint."""

    __tablename__ = "machines"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    fingerprint: Mapped[dict[str, Any]]
    cpu_model: Mapped[str | None] = mapped_column(String(256))
    usable_cores: Mapped[int | None]
    provider: Mapped[str | None] = mapped_column(String(64))
    instance_type: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class WorkloadModel(Base):
    """A workload, keyed by its workload key."""

    __tablename__ = "workloads"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    spec: Mapped[dict[str, Any]]
    features: Mapped[dict[str, Any]]
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class WorkloadNameModel(Base):
    """A display name given to a workload (a spec file's entry name, ``tune(..., name=...)``).

    The key stays the workload's id; one workload may carry several names over time (the same
    portfolio named differently in two spec files): each (workload, name) pair is one row, and
    ``last_named_at`` says which name was given last (the one shown).
    """

    __tablename__ = "workload_names"
    __table_args__ = (UniqueConstraint("workload_id", "name", name="uq_workload_names_workload_name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    workload_id: Mapped[str] = mapped_column(ForeignKey("workloads.id"), index=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    first_named_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    last_named_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class ConfigModel(Base):
    """A configuration; the knob columns duplicate ``knobs`` so that SQL can filter on them."""

    __tablename__ = "configs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    knobs: Mapped[dict[str, Any]]
    backend: Mapped[str] = mapped_column(String(32))
    executor: Mapped[str] = mapped_column(String(32))
    workers: Mapped[int]
    precision: Mapped[str] = mapped_column(String(16))
    chunk_size: Mapped[int | None]
    qmc: Mapped[bool]
    shared_memory: Mapped[bool]


class TuningSessionModel(Base):
    """One offline tuning session (an Optuna study plus our bookkeeping)."""

    __tablename__ = "tuning_sessions"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    workload_id: Mapped[str] = mapped_column(ForeignKey("workloads.id"))
    n_sims: Mapped[int]
    study_name: Mapped[str | None] = mapped_column(String(256))
    sampler: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(32))
    budget: Mapped[dict[str, Any]]
    started_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime.datetime | None]
    best_config_id: Mapped[str | None] = mapped_column(ForeignKey("configs.id"))
    report: Mapped[dict[str, Any] | None]
    host: Mapped[str | None] = mapped_column(String(256))
    pid: Mapped[int | None]
    process_started: Mapped[float | None]


class ConfigClaimModel(Base):
    """Which tuning session measures a config of a (machine, workload, n_sims): one row per config.

    Tuners sharing a study insert a claim before measuring a config; the primary key lets one
    of them win, so that a config is measured once however many tuners run. Added at schema
    version 2 without a migration: a new table is created when an existing database is opened,
    and an older autotune ignores it.
    """

    __tablename__ = "config_claims"

    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"), primary_key=True)
    workload_id: Mapped[str] = mapped_column(ForeignKey("workloads.id"), primary_key=True)
    n_sims: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id"), primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("tuning_sessions.id"))
    claimed_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class MeasurementModel(Base):
    """One timed (or failed) run of one config on one workload on one machine.

    The columns are the fields of :class:`autotune.measure.Measurement` (the config as its id);
    :mod:`._mapping` converts between the two in one place.
    """

    __tablename__ = "measurements"
    __table_args__ = (Index("ix_measurements_machine_workload_status", "machine_id", "workload_id", "outcome"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    uid: Mapped[str | None] = mapped_column(String(64), unique=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    workload_id: Mapped[str] = mapped_column(ForeignKey("workloads.id"))
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.id"))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("tuning_sessions.id"))
    n_sims: Mapped[int]
    source: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[Outcome] = mapped_column(
        Enum(
            Outcome,
            name="outcome",
            native_enum=False,
            create_constraint=True,
            length=16,
            values_callable=lambda enum_cls: [member.value for member in enum_cls],
        )
    )
    steady_s: Mapped[float | None]
    iqr_s: Mapped[float | None]
    samples: Mapped[list[float]]
    first_call_s: Mapped[float | None]
    peak_memory_bytes: Mapped[int | None]
    error: Mapped[str | None] = mapped_column(Text)
    accuracy_z: Mapped[float | None]
    estimates: Mapped[dict[str, Any]]
    standard_errors: Mapped[dict[str, Any]]
    versions: Mapped[dict[str, Any]]
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    legacy_timing: Mapped[bool] = mapped_column(default=False)


class ProfileModel(Base):
    """Results of profiling a machine (e.g. a cloud instance type)."""

    __tablename__ = "profiles"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    machine_id: Mapped[str] = mapped_column(ForeignKey("machines.id"))
    results: Mapped[dict[str, Any]]
    created_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)


class PredictorModel(Base):
    """A trained predictor: its provenance, parameters, serialized payload and metrics."""

    __tablename__ = "models"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(128), index=True)
    feature_schema_version: Mapped[int]
    trained_at: Mapped[datetime.datetime] = mapped_column(default=utcnow)
    n_rows: Mapped[int]
    rows_hash: Mapped[str] = mapped_column(String(64))
    versions: Mapped[dict[str, Any]]
    params: Mapped[dict[str, Any]]
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    metrics: Mapped[dict[str, Any]]
