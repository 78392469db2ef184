"""The flat measurement table behind ``autotune runs``: one row per measurement, written as CSV or JSON."""

from __future__ import annotations

import csv
import datetime
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from kernels import Config

from .._outcome import Outcome
from ._document import iso, jsonable
from ._mapping import MEASUREMENT_COLUMNS
from ._models import ConfigModel, MachineModel, MeasurementModel, WorkloadModel
from ._storage import Storage
from ._transfer import measurement_filters

__all__ = ["RUN_COLUMNS", "measurement_table", "write_rows"]

_RUN_MEASUREMENT_COLUMNS = ("id", *(c.name for c in MEASUREMENT_COLUMNS))
RUN_COLUMNS: tuple[str, ...] = (*_RUN_MEASUREMENT_COLUMNS, "instance_type", "kind", "workload_name", "config")
"""The columns of :func:`measurement_table` (and of the CSV that :func:`write_rows` writes): every column of
the measurements table (:data:`MEASUREMENT_COLUMNS`), then the machine's instance type, the workload's kind,
its latest display name (empty when it has none) and the config's label. In CSV, list and object columns are
written as JSON."""

_FORMATS = ("csv", "json")


def measurement_table(
    store: Storage,
    *,
    machine_id: str | None = None,
    workload_id: str | Sequence[str] | None = None,
    kind: str | None = None,
    source: str | None = None,
    outcome: Outcome | str | None = None,
    since: datetime.datetime | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """One flat, JSON-safe dict per measurement (keys :data:`RUN_COLUMNS`), newest last.

    ``config`` is the config's :meth:`kernels.Config.label`, or its knobs as JSON when they no
    longer make a Config; ``workload_name`` the workload's latest display name (``None``: it has
    none); ``created_at`` is an ISO-8601 UTC string. ``limit`` keeps the newest rows.
    ``workload_id``: one workload key, or several (e.g. every workload given one name:
    :meth:`Storage.workloads_named`).

    Raises:
        ValueError: a filter has a bad value (unknown source or outcome, naive ``since``, negative limit).
        StorageError: the database cannot be read.
    """
    several = workload_id is not None and not isinstance(workload_id, str)
    where = measurement_filters(machine_id=machine_id, workload_id=None if several else workload_id,  # type: ignore[arg-type]
                                source=source, outcome=outcome)
    if several:
        where.append(MeasurementModel.workload_id.in_(list(workload_id)))  # type: ignore[arg-type]
    if kind is not None:
        where.append(WorkloadModel.kind == kind)
    if since is not None:
        if not isinstance(since, datetime.datetime) or since.tzinfo is None:
            raise ValueError(f"since must be a timezone-aware datetime (e.g. datetime.now(UTC)), got {since!r}")
        where.append(MeasurementModel.created_at >= since)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
    query = (
        select(MeasurementModel, MachineModel.instance_type, WorkloadModel.kind, ConfigModel.knobs)
        .outerjoin(MachineModel, MachineModel.id == MeasurementModel.machine_id)
        .outerjoin(WorkloadModel, WorkloadModel.id == MeasurementModel.workload_id)
        .outerjoin(ConfigModel, ConfigModel.id == MeasurementModel.config_id)
        .where(*where)
        .order_by(MeasurementModel.created_at.desc(), MeasurementModel.id.desc())
        .limit(limit)
    )
    with store.session(read_only=True) as session:
        rows = session.execute(query).all()
    names = store.workload_names({m.workload_id for m, *_ in rows})
    labels: dict[str, str | None] = {}
    table = []
    for m, instance_type, workload_kind, knobs in reversed(rows):
        if m.config_id not in labels:
            labels[m.config_id] = _label(knobs)
        values = jsonable(m, _RUN_MEASUREMENT_COLUMNS)
        shown = names.get(m.workload_id)
        values.update(instance_type=instance_type, kind=workload_kind, workload_name=shown[0] if shown else None,
                      config=labels[m.config_id])
        table.append({column: values[column] for column in RUN_COLUMNS})
    return table


def _label(knobs: Mapping[str, Any] | None) -> str | None:
    if knobs is None:
        return None
    try:
        return Config.from_dict(dict(knobs)).label()
    except (TypeError, ValueError):  # knobs of an older or newer Config
        return json.dumps(knobs, sort_keys=True)


def write_rows(rows: Iterable[Mapping[str, Any]], path_or_stream: str | Path | IO[str], fmt: str) -> None:
    """Write table rows as CSV (header :data:`RUN_COLUMNS`) or as a JSON list.

    Raises:
        ValueError: ``fmt`` is not ``"csv"`` or ``"json"``, or a row has a key outside RUN_COLUMNS (CSV).
    """
    if fmt not in _FORMATS:
        raise ValueError(f"fmt must be one of {_FORMATS}, got {fmt!r}")
    if isinstance(path_or_stream, str | Path):
        with open(path_or_stream, "w", encoding="utf-8", newline="") as stream:
            _write_rows(rows, stream, fmt)
    else:
        _write_rows(rows, path_or_stream, fmt)


def _write_rows(rows: Iterable[Mapping[str, Any]], stream: IO[str], fmt: str) -> None:
    if fmt == "csv":
        writer = csv.DictWriter(stream, fieldnames=RUN_COLUMNS)
        writer.writeheader()
        writer.writerows({k: json.dumps(v, sort_keys=True) if isinstance(v, list | dict) else v
                          for k, v in row.items()} for row in rows)
    else:
        json.dump([dict(row) for row in rows], stream, indent=2, default=_json_default)
        stream.write("\n")


def _json_default(value: object) -> Any:
    if isinstance(value, datetime.datetime):
        return iso(value)
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as JSON")
