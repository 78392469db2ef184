"""The one mapping between :class:`autotune.measure.Measurement` and the ``measurements`` table.

Writing, reading, export, import, ``autotune runs`` and its CSV all take their columns from
:data:`MEASUREMENT_COLUMNS`, so a new field is added here and in the dataclass, and nowhere else.
"""

from __future__ import annotations

import dataclasses
import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kernels import Config

from .._outcome import Outcome, Source
from ..measure import Measurement, config_key

__all__ = [
    "MEASUREMENT_COLUMNS",
    "Column",
    "check_values",
    "from_values",
    "to_values",
]


@dataclass(frozen=True)
class Column:
    """One column of the measurements table.

    Attributes:
        name: the column's name, also its key in export documents and ``runs`` output.
        kind: its value type: ``text``, ``int``, ``number``, ``numbers`` (list of numbers),
            ``object`` (JSON object), ``time`` (aware UTC), ``bool``.
        required: whether a document item must give it (else its default is used).
        exported: whether export documents carry it (``session_id`` is local to one database).
    """

    name: str
    kind: str
    required: bool = False
    exported: bool = True


MEASUREMENT_COLUMNS: tuple[Column, ...] = (
    Column("uid", "text", required=True),
    Column("created_at", "time", required=True),
    Column("machine_id", "text", required=True),
    Column("workload_id", "text", required=True),
    Column("config_id", "text", required=True),
    Column("session_id", "int", exported=False),
    Column("n_sims", "int", required=True),
    Column("source", "text", required=True),
    Column("outcome", "text", required=True),
    Column("steady_s", "number"),
    Column("iqr_s", "number"),
    Column("samples", "numbers"),
    Column("first_call_s", "number"),
    Column("peak_memory_bytes", "int"),
    Column("error", "text"),
    Column("accuracy_z", "number"),
    Column("estimates", "object"),
    Column("standard_errors", "object"),
    Column("versions", "object"),
    Column("legacy_timing", "bool"),
)
"""The columns of the measurements table, in order (the row ``id`` is the database's own)."""

_DEFAULTS: dict[str, Any] = {"samples": [], "estimates": {}, "standard_errors": {}, "versions": {},
                             "legacy_timing": False}
_FIELDS = {f.name for f in dataclasses.fields(Measurement)}
assert {c.name for c in MEASUREMENT_COLUMNS} - {"config_id"} == _FIELDS - {"config"}, "mapping out of date"


def to_values(m: Measurement) -> dict[str, Any]:
    """The column values of a measurement (keys must be set: ``machine_id``, ``workload_id``)."""
    if m.machine_id is None or m.workload_id is None:
        raise ValueError("a stored Measurement needs machine_id and workload_id (record it through a ResultsLog)")
    values = {c.name: getattr(m, c.name) for c in MEASUREMENT_COLUMNS if c.name != "config_id"}
    values.update(config_id=config_key(m.config), source=m.source.value, outcome=m.outcome,
                  samples=list(m.samples), estimates=dict(m.estimates), standard_errors=dict(m.standard_errors),
                  versions=dict(m.versions))
    return values


def from_values(values: Mapping[str, Any], config: Config) -> Measurement:
    """The measurement of a stored row (``values`` by column name) whose config is ``config``."""
    fields = {c.name: values[c.name] for c in MEASUREMENT_COLUMNS if c.name != "config_id"}
    for name, default in _DEFAULTS.items():
        if fields[name] is None:
            fields[name] = default
    return Measurement(config=config, **fields)


def check_values(where: str, item: Mapping[str, Any]) -> dict[str, Any]:
    """Check one export-document item against the columns and return its column values.

    The checks are the record's own (types, outcome and source names, a COMPLETE row has a
    time) without building a :class:`kernels.Config`, so that rows of configs this version does
    not know still travel between databases.

    Raises:
        ValueError: naming ``where`` and the field.
    """
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} must be an object, got {type(item).__name__}")
    columns = {c.name: c for c in MEASUREMENT_COLUMNS if c.exported}
    unknown = sorted(set(item) - set(columns))
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {unknown}; known fields are {sorted(columns)}")
    out: dict[str, Any] = {"session_id": None}
    for name, column in columns.items():
        if item.get(name) is None:
            if column.required:
                raise ValueError(f"{where} misses the field {name!r}")
            out[name] = _DEFAULTS.get(name)
            continue
        try:
            out[name] = _convert(column.kind, item[name])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}.{name} {err}") from None
    try:
        out["outcome"] = Outcome(out["outcome"])
    except ValueError:
        raise ValueError(f"{where}.outcome must be one of {[o.value for o in Outcome]}, "
                         f"got {out['outcome']!r}") from None
    if out["source"] not in {s.value for s in Source}:
        raise ValueError(f"{where}.source must be one of {[s.value for s in Source]}, got {out['source']!r}")
    if out["n_sims"] < 1:
        raise ValueError(f"{where}.n_sims must be >= 1, got {out['n_sims']}")
    if out["outcome"] is Outcome.COMPLETE:
        times = [out[n] for n in ("steady_s", "first_call_s") if out[n] is not None]
        if not times or not all(math.isfinite(t) and t >= 0 for t in times):
            raise ValueError(f"{where} is complete but has no finite steady_s or first_call_s")
    for name in ("estimates", "standard_errors"):
        if not all(isinstance(k, str) and _is_number(v) for k, v in out[name].items()):
            raise ValueError(f"{where}.{name} must map names to numbers")
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _convert(kind: str, value: Any) -> Any:
    if kind == "text" and isinstance(value, str) and value:
        return value
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind == "number" and _is_number(value):
        return float(value)
    if kind == "numbers" and isinstance(value, list) and all(map(_is_number, value)):
        return [float(v) for v in value]
    if kind == "object" and isinstance(value, Mapping):
        return dict(value)
    if kind == "bool" and isinstance(value, bool):
        return value
    if kind == "time":
        return parse_time(value)
    expected = {"text": "a non-empty string", "int": "an integer", "number": "a number",
                "numbers": "a list of numbers", "object": "an object", "bool": "true or false"}[kind]
    raise ValueError(f"must be {expected}, got {value!r}")


def parse_time(value: Any) -> datetime.datetime:
    """An ISO-8601 time string with its UTC offset, as an aware UTC datetime."""
    example = "'2030-01-02T03:04:05.123456+00:00'"
    if not isinstance(value, str):
        raise ValueError(f"must be an ISO-8601 time string such as {example}, got {value!r}")
    try:
        parsed = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"must be an ISO-8601 time such as {example}, got {value!r}") from None
    if parsed.tzinfo is None:
        raise ValueError(f"must carry its UTC offset, as in {example}, got {value!r}")
    return parsed.astimezone(datetime.UTC)
