"""The rows of an export document: how stored rows become JSON items, and how items are checked on import.

Every item of a document is checked before anything is written, and a bad one is refused with a
message that names it (``measurements[3].n_sims must be an integer, got '10'``).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .._outcome import Outcome
from ._configs import config_columns, config_id
from ._mapping import MEASUREMENT_COLUMNS, check_values, parse_time
from ._models import utcnow

__all__ = [
    "MACHINE_KEYS",
    "MEASUREMENT_KEYS",
    "PROFILE_KEYS",
    "SESSION_KEYS",
    "SESSION_STATUSES",
    "WORKLOAD_KEYS",
    "Parsed",
    "iso",
    "jsonable",
    "parse_sections",
]

MACHINE_KEYS = ("id", "fingerprint", "cpu_model", "usable_cores", "provider", "instance_type", "created_at")
WORKLOAD_KEYS = ("id", "kind", "spec", "features", "created_at")
MEASUREMENT_KEYS = tuple(c.name for c in MEASUREMENT_COLUMNS if c.exported)
PROFILE_KEYS = ("machine_id", "results", "created_at")
SESSION_KEYS = ("machine_id", "workload_id", "n_sims", "study_name", "sampler", "status", "budget", "started_at",
                "finished_at", "best_config_id", "report", "host", "pid", "process_started")
SESSION_STATUSES = ("complete", "stale", "failed")
"""The tuning sessions an export carries: finished ones (a ``running`` session belongs to its database's process)."""


def jsonable(row: object, keys: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in keys:
        value = getattr(row, key)
        if isinstance(value, datetime.datetime):
            value = iso(value)
        elif isinstance(value, Outcome):
            value = value.value
        elif isinstance(value, list | tuple):
            value = list(value)
        elif isinstance(value, Mapping):
            value = dict(value)
        out[key] = value
    return out


def iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).isoformat()


@dataclass
class Parsed:
    """A validated document, with the ids it references but does not itself hold."""

    machines: list[dict[str, Any]]
    workloads: list[dict[str, Any]]
    configs: list[dict[str, Any]]
    measurements: list[dict[str, Any]]  # column values (see ._mapping)
    profiles: list[dict[str, Any]]
    outside: dict[str, dict[str, str]]  # section -> {id: where it is referenced}
    tuning_sessions: list[dict[str, Any]]


def parse_sections(document: Mapping[str, Any], version: int) -> Parsed:
    """Check and convert the items of a document whose header and section lists are already checked.

    Measurements of a version-1 document (schema 1: ``status``, ``median_s``, ``compile_s``,
    ``estimate``, ``stderr``) are converted as the schema migration converts stored rows.
    """
    now = utcnow()  # for rows a hand-written document gives no time
    machines = [{**dict.fromkeys(MACHINE_KEYS), "created_at": now, **_fields("machines", i, item, _MACHINE_FIELDS)}
                for i, item in enumerate(document["machines"])]
    workloads = [{"created_at": now, **_fields("workloads", i, item, _WORKLOAD_FIELDS)}
                 for i, item in enumerate(document["workloads"])]
    configs = [_config(i, item) for i, item in enumerate(document["configs"])]
    kinds = {w["id"]: w["kind"] for w in workloads}
    items = document["measurements"]
    if version == 1:
        items = [upgrade_v1(item, kinds) if isinstance(item, Mapping) else item for item in items]
    measurements = [check_values(f"measurements[{i}]", item) for i, item in enumerate(items)]
    profiles = [_fields("profiles", i, item, _PROFILE_FIELDS) for i, item in enumerate(document["profiles"])]
    sessions = [{**dict.fromkeys(SESSION_KEYS), "measurement_uids": [],
                 **_fields("tuning_sessions", i, item, _SESSION_FIELDS)}
                for i, item in enumerate(document.get("tuning_sessions", []))]
    held = {"machines": _unique("machines", "id", [m["id"] for m in machines]),
            "workloads": _unique("workloads", "id", [w["id"] for w in workloads]),
            "configs": _unique("configs", "id", [c["id"] for c in configs])}
    _unique("measurements", "uid", [m["uid"] for m in measurements])

    # Ids referenced but not held: allowed only if the target database has them (checked on import).
    outside: dict[str, dict[str, str]] = {section: {} for section in held}
    for i, m in enumerate(measurements):
        for section, name in (("machines", "machine_id"), ("workloads", "workload_id"), ("configs", "config_id")):
            key = m[name]
            if key not in held[section]:
                outside[section].setdefault(key, f"measurements[{i}].{name}")
    for i, profile in enumerate(profiles):
        if profile["machine_id"] not in held["machines"]:
            outside["machines"].setdefault(profile["machine_id"], f"profiles[{i}].machine_id")
    for i, session in enumerate(sessions):
        for section, name in (("machines", "machine_id"), ("workloads", "workload_id"), ("configs", "best_config_id")):
            key = session[name]
            if key is not None and key not in held[section]:
                outside[section].setdefault(key, f"tuning_sessions[{i}].{name}")
    return Parsed(machines, workloads, configs, measurements, profiles, outside, sessions)


def _unique(section: str, name: str, keys: list[Any]) -> dict[Any, int]:
    seen: dict[Any, int] = {}
    for i, key in enumerate(keys):
        if key in seen:
            raise ValueError(f"{section}[{i}].{name} {key!r} repeats {section}[{seen[key]}]")
        seen[key] = i
    return seen


def _fields(section: str, index: int, item: object, spec: Mapping[str, tuple[Callable[[Any], Any], bool]]
            ) -> dict[str, Any]:
    """The converted fields of one document item; missing optional fields are left out."""
    where = f"{section}[{index}]"
    if not isinstance(item, Mapping):
        raise ValueError(f"{where} must be an object, got {type(item).__name__}")
    unknown = sorted(set(item) - set(spec))
    if unknown:
        raise ValueError(f"{where} has unknown field(s) {unknown}; known fields are {sorted(spec)}")
    out: dict[str, Any] = {}
    for name, (convert, required) in spec.items():
        if name not in item:
            if required:
                raise ValueError(f"{where} misses the field {name!r}")
            continue
        try:
            out[name] = convert(item[name])
        except (TypeError, ValueError) as err:
            raise ValueError(f"{where}.{name} {err}") from None
    return out


def _config(index: int, item: object) -> dict[str, Any]:
    fields = _fields("configs", index, item, _CONFIG_FIELDS)
    try:
        columns = config_columns(fields["knobs"])
        expected = config_id(fields["knobs"])
    except ValueError as err:
        raise ValueError(f"configs[{index}].knobs: {err}") from None
    if fields["id"] != expected:
        raise ValueError(f"configs[{index}].id {fields['id']!r} does not match its knobs (their id is {expected!r})")
    return {"id": expected, **columns}


def upgrade_v1(item: Mapping[str, Any], kinds: Mapping[str, str]) -> dict[str, Any]:
    """A schema-1 measurement item in today's fields (see ``_schema`` for what each change means)."""
    out = {k: v for k, v in item.items() if k not in ("status", "median_s", "compile_s", "estimate", "stderr")}
    if "status" in item:
        out["outcome"] = item["status"]
    if "median_s" in item:
        out["steady_s"] = item["median_s"]
    headline = "mean" if kinds.get(item.get("workload_id")) == "portfolio" else "price"
    if item.get("estimate") is not None:
        out["estimates"] = {headline: item["estimate"]}
    if item.get("stderr") is not None:
        out["standard_errors"] = {headline: item["stderr"]}
    out["legacy_timing"] = item.get("source") == "online"
    return out


def _expect(what: str, test: Callable[[Any], bool], *, null: bool = False) -> Callable[[Any], Any]:
    """A field check: passes values meeting ``test`` (and ``None`` when ``null``), else says what was expected."""

    def check(value: Any) -> Any:
        if (value is None and null) or test(value):
            return value
        raise ValueError(f"must be {what}{' or null' if null else ''}, got {value!r}")

    return check


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_text = _expect("a non-empty string", lambda v: isinstance(v, str) and v != "")
_optional_text = _expect("a string", lambda v: isinstance(v, str), null=True)
_optional_integer = _expect("an integer", _is_int, null=True)
_object = _expect("an object", lambda v: isinstance(v, Mapping))


_MACHINE_FIELDS = {"id": (_text, True), "fingerprint": (_object, True), "cpu_model": (_optional_text, False),
                   "usable_cores": (_optional_integer, False), "provider": (_optional_text, False),
                   "instance_type": (_optional_text, False), "created_at": (parse_time, False)}
_WORKLOAD_FIELDS = {"id": (_text, True), "kind": (_text, True), "spec": (_object, True),
                    "features": (_object, True), "created_at": (parse_time, False)}
_CONFIG_FIELDS = {"id": (_text, True), "knobs": (_object, True)}
_SESSION_FIELDS = {
    "machine_id": (_text, True), "workload_id": (_text, True),
    "n_sims": (_expect("a positive integer", lambda v: _is_int(v) and v > 0), True),
    "study_name": (_optional_text, False), "sampler": (_optional_text, False),
    "status": (_expect(f"one of {list(SESSION_STATUSES)}", lambda v: v in SESSION_STATUSES), True),
    "budget": (_object, True), "started_at": (parse_time, True),
    "finished_at": (lambda v: None if v is None else parse_time(v), False),
    "best_config_id": (_optional_text, False),
    "report": (_expect("an object", lambda v: isinstance(v, Mapping), null=True), False),
    "host": (_optional_text, False), "pid": (_optional_integer, False),
    "process_started": (_expect("a number", _is_number, null=True), False),
    # the uids of the session's measurements: an import links those it holds to the imported session
    "measurement_uids": (_expect("a list of strings", lambda v: isinstance(v, list)
                                 and all(isinstance(u, str) for u in v)), False),
}
_PROFILE_FIELDS = {"machine_id": (_text, True), "results": (_object, True), "created_at": (parse_time, True)}
