"""Moving results between databases: ``autotune export`` and ``autotune import``.

An export document is plain JSON: measurements plus every machine, workload and config they
reference, those machines' profiles, and their finished tuning sessions (so that the cache tier
of ``tuned_simulate`` serves a merged database's tuned configs). Measurements carry a globally
unique ``uid`` and the other rows content-derived ids (a session: its machine, workload, n_sims,
study, start time, host and pid), so importing a document twice, or the documents of many cloud
instances into one fleet database, never duplicates a row. Models stay local to their database,
and so do session ids: an imported session gets a new id, and the measurements it took (named by
uid in its item) are linked to it. The items' fields and their checks are in :mod:`._document`.
"""

from __future__ import annotations

import dataclasses
import datetime
import gzip
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import ColumnElement, insert, or_, select, true, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from .._outcome import Outcome
from ._document import (
    MACHINE_KEYS,
    MEASUREMENT_KEYS,
    PROFILE_KEYS,
    SESSION_KEYS,
    SESSION_STATUSES,
    WORKLOAD_KEYS,
    Parsed,
    iso,
    jsonable,
    parse_sections,
)
from ._models import (
    ConfigModel,
    MachineModel,
    MeasurementModel,
    ProfileModel,
    TuningSessionModel,
    WorkloadModel,
    utcnow,
)
from ._names import NAMES_SECTION, export_names, import_names, parse_names
from ._records import SOURCES
from ._storage import Storage

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "TransferCounts",
    "export_results",
    "import_results",
]

_logger = logging.getLogger(__name__)

EXPORT_FORMAT = "autotune-export"
EXPORT_VERSION = 3
"""Version of the document layout; a reader refuses documents newer than the one it knows and
converts version-1 documents (schema 1 measurements) as the schema migration does. Version 3
adds ``tuning_sessions`` (documents of versions 1 and 2 have none)."""

_SECTIONS = ("machines", "workloads", "configs", "measurements", "profiles")
_BATCH = 500  # ids per IN (...) query: far below every driver's parameter limit
_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class TransferCounts:
    """What an import added to the target database (rows already there are not counted)."""

    machines: int
    workloads: int
    configs: int
    measurements: int
    skipped_duplicates: int
    """Measurements whose ``uid`` was already in the target."""
    profiles: int
    tuning_sessions: int = 0

    def to_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


# -- export ----------------------------------------------------------------------------------


def export_results(
    store: Storage,
    path: str | Path | None = None,
    *,
    machine_id: str | None = None,
    workload_id: str | None = None,
    source: str | None = None,
    outcome: Outcome | str | None = None,
) -> dict[str, Any]:
    """Export measurements and the rows they reference as a JSON-safe document.

    The document is ``{"format", "version", "schema_version", "exported_at", "machines",
    "workloads", "configs", "measurements", "profiles", "tuning_sessions"}``, times as ISO-8601
    UTC strings. With no filter it holds every machine, workload, config, profile and finished
    tuning session; with filters, the matching measurements, the rows they reference, the named
    machine/workload, the machines' profiles, and the finished tuning sessions of the exported
    machines and workloads (with their best configs).

    Args:
        path: also write the document there as JSON (gzip-compressed when the name ends in ``.gz``).
        machine_id, workload_id, source, outcome: keep only measurements matching all of them.

    Raises:
        ValueError: ``source`` or ``outcome`` is not a known value.
        StorageError: the database cannot be read.
    """
    where = measurement_filters(machine_id=machine_id, workload_id=workload_id, source=source, outcome=outcome)
    schema_version = store.schema_version()
    with store.session(read_only=True) as session:
        measurements = session.scalars(select(MeasurementModel).where(*where).order_by(MeasurementModel.id)).all()
        machine_ids = _chosen(MachineModel.id, MeasurementModel.machine_id, where, machine_id)
        machines = session.scalars(select(MachineModel).where(machine_ids).order_by(MachineModel.id)).all()
        workload_ids = _chosen(WorkloadModel.id, MeasurementModel.workload_id, where, workload_id)
        workloads = session.scalars(select(WorkloadModel).where(workload_ids).order_by(WorkloadModel.id)).all()
        finished = TuningSessionModel.status.in_(SESSION_STATUSES)
        session_where = [finished, TuningSessionModel.machine_id.in_(select(MachineModel.id).where(machine_ids)),
                         TuningSessionModel.workload_id.in_(select(WorkloadModel.id).where(workload_ids))]
        sessions = session.scalars(select(TuningSessionModel).where(*session_where)
                                   .order_by(TuningSessionModel.id)).all()
        uids: dict[int, list[str]] = {}
        for sid, uid in session.execute(
                select(MeasurementModel.session_id, MeasurementModel.uid)
                .where(MeasurementModel.session_id.in_(select(TuningSessionModel.id).where(*session_where)))
                .order_by(MeasurementModel.id)):
            uids.setdefault(sid, []).append(uid)
        config_ids = _chosen(ConfigModel.id, MeasurementModel.config_id, where, None)
        if where:  # and the best configs of the sessions exported
            config_ids = or_(config_ids, ConfigModel.id.in_(
                select(TuningSessionModel.best_config_id).where(*session_where)))
        configs = session.scalars(select(ConfigModel).where(config_ids).order_by(ConfigModel.id)).all()
        profiles = session.scalars(
            select(ProfileModel).where(ProfileModel.machine_id.in_(select(MachineModel.id).where(machine_ids)))
            .order_by(ProfileModel.id)
        ).all()
        document: dict[str, Any] = {
            "format": EXPORT_FORMAT,
            "version": EXPORT_VERSION,
            "schema_version": schema_version,
            "exported_at": iso(utcnow()),
            "machines": [jsonable(m, MACHINE_KEYS) for m in machines],
            "workloads": [jsonable(w, WORKLOAD_KEYS) for w in workloads],
            "configs": [{"id": c.id, "knobs": dict(c.knobs)} for c in configs],
            "measurements": [jsonable(m, MEASUREMENT_KEYS) for m in measurements],
            "profiles": [jsonable(p, PROFILE_KEYS) for p in profiles],
            "tuning_sessions": [{**jsonable(t, SESSION_KEYS), "measurement_uids": uids.get(t.id, [])}
                                for t in sessions],
        }
        document[NAMES_SECTION] = export_names(session, workload_ids)  # optional section: see _names
    if path is not None:
        _write_document(document, Path(path))
    _logger.info("exported %d measurement(s) from %r", len(document["measurements"]), store)
    return document


def measurement_filters(
    *, machine_id: str | None, workload_id: str | None, source: str | None, outcome: Outcome | str | None
) -> list[ColumnElement[bool]]:
    """WHERE clauses on measurements for the filters that are set (shared with the run table)."""
    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES} or None, got {source!r}")
    if outcome is not None:
        try:
            outcome = Outcome(outcome)
        except ValueError:
            raise ValueError(f"outcome must be an Outcome or one of {[o.value for o in Outcome]}, "
                             f"got {outcome!r}") from None
    where: list[ColumnElement[bool]] = []
    for column, value in ((MeasurementModel.machine_id, machine_id), (MeasurementModel.workload_id, workload_id),
                          (MeasurementModel.source, source), (MeasurementModel.outcome, outcome)):
        if value is not None:
            where.append(column == value)
    return where


def _chosen(
    key: InstrumentedAttribute[str], reference: InstrumentedAttribute[str], where: list[ColumnElement[bool]],
    named: str | None,
) -> ColumnElement[bool]:
    """Which rows of a referenced table an export holds: all of them when nothing is filtered."""
    if not where:
        return true()
    chosen = key.in_(select(reference).where(*where))
    return chosen if named is None else or_(chosen, key == named)


def _write_document(document: Mapping[str, Any], path: Path) -> None:
    # Written beside the target and renamed, so that a crash never leaves half a document at `path`.
    partial = path.with_name(path.name + ".partial")
    compressed = path.name.endswith(".gz")
    with gzip.open(partial, "wt", encoding="utf-8") if compressed else open(partial, "w", encoding="utf-8") as stream:
        json.dump(document, stream)
        stream.write("\n")
    partial.replace(path)


# -- import ----------------------------------------------------------------------------------


def import_results(store: Storage, source: str | Path | Mapping[str, Any] | Storage) -> TransferCounts:
    """Add an export document (a dict, a JSON or JSON.gz file, or another Storage) to ``store``.

    New machines, workloads, configs and profiles are inserted and rows already in ``store`` kept
    as they are; measurements whose ``uid`` is already in ``store`` are skipped, so importing the
    same results again adds nothing. Everything happens in one transaction.

    Raises:
        ValueError: the document is malformed (wrong format, newer version, missing keys, bad
            values, or a measurement naming a machine/workload/config found neither in the
            document nor in ``store``); the message names the item, and nothing is written.
        TypeError: ``source`` is none of the accepted types.
        StorageError: the database cannot be read or written.
    """
    document = _load(source)
    parsed = _parse(document)
    names = parse_names(document)
    with store.session() as session:
        counts = _write(session, parsed)
        named = import_names(session, names)
    if named:
        _logger.info("imported %d workload name(s)", named)
    _logger.info("imported into %r: %s", store, counts.to_dict())
    return counts


def _load(source: object) -> Mapping[str, Any]:
    if isinstance(source, Storage):
        return export_results(source)
    if isinstance(source, str | Path):
        path = Path(source)
        data = path.read_bytes()
        try:
            text = (gzip.decompress(data) if data.startswith(_GZIP_MAGIC) else data).decode("utf-8")
            return json.loads(text)
        except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path} is not an autotune export file (JSON, or gzip-compressed JSON): {err}; "
                             "to import from a results database, pass open_storage(url)") from None
    if isinstance(source, Mapping):
        return source
    raise TypeError(f"import_results takes an export document (dict), a file path or a Storage, "
                    f"got {type(source).__name__}")


def _parse(document: object) -> Parsed:
    if not isinstance(document, Mapping):
        raise ValueError(f"an export document must be a JSON object, got {type(document).__name__}")
    if document.get("format") != EXPORT_FORMAT:
        raise ValueError(f"document format must be {EXPORT_FORMAT!r}, got {document.get('format')!r}: "
                         "not an autotune export")
    version = document.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(f"document version must be a positive integer, got {version!r}")
    if version > EXPORT_VERSION:
        raise ValueError(f"document version {version} is newer than export version {EXPORT_VERSION}, the newest "
                         "this autotune reads; upgrade autotune (pip install -U autotune) to import it")
    sections = _SECTIONS + (("tuning_sessions",) if version >= 3 else ())
    missing = [key for key in sections if key not in document]
    if missing:
        raise ValueError(f"document misses the key(s) {missing}; a version {version} export holds {list(sections)}")
    for key in sections:
        if not isinstance(document[key], list):
            raise ValueError(f"document {key!r} must be a list, got {type(document[key]).__name__}")
    return parse_sections(document, version)


def _write(session: Session, doc: Parsed) -> TransferCounts:
    """Check the references against the target, then insert what is new (one transaction)."""
    models = {"machines": MachineModel, "workloads": WorkloadModel, "configs": ConfigModel}
    for section, model in models.items():
        referenced = doc.outside[section]
        found = _existing(session, model.id, referenced)
        for key, where in referenced.items():
            if key not in found:
                raise ValueError(f"{where} {key!r} names a {section[:-1]} that is neither in the document's "
                                 f"{section!r} nor in the target database")
    added = {}
    for section, model in models.items():
        rows: list[dict[str, Any]] = getattr(doc, section)
        known = _existing(session, model.id, [row["id"] for row in rows])
        new = [row for row in rows if row["id"] not in known]
        _insert(session, model, new)
        added[section] = len(new)

    known_uids = _existing(session, MeasurementModel.uid, [m["uid"] for m in doc.measurements])
    measurements = [m for m in doc.measurements if m["uid"] not in known_uids]
    _insert(session, MeasurementModel, measurements)

    profile_machines = {p["machine_id"] for p in doc.profiles}
    seen = {_profile_key(p.machine_id, p.created_at, p.results) for batch in _batches(sorted(profile_machines))
            for p in session.scalars(select(ProfileModel).where(ProfileModel.machine_id.in_(batch)))}
    profiles = []
    for profile in doc.profiles:
        key = _profile_key(profile["machine_id"], profile["created_at"], profile["results"])
        if key not in seen:
            seen.add(key)
            profiles.append(profile)
    _insert(session, ProfileModel, profiles)

    session_machines = sorted({t["machine_id"] for t in doc.tuning_sessions})
    known_sessions = {_session_key(t) for batch in _batches(session_machines) for t in session.scalars(
        select(TuningSessionModel).where(TuningSessionModel.machine_id.in_(batch)))}
    tuning_sessions = []
    for item in doc.tuning_sessions:
        key = _session_key(item)
        if key in known_sessions:
            continue
        known_sessions.add(key)
        row = TuningSessionModel(**{k: v for k, v in item.items() if k != "measurement_uids"})
        session.add(row)
        session.flush()  # its new id
        for batch in _batches(sorted(set(item["measurement_uids"]))):
            # its measurements, where the target holds them (imported now or before) without a session
            session.execute(update(MeasurementModel).where(MeasurementModel.uid.in_(batch),
                                                           MeasurementModel.session_id.is_(None))
                            .values(session_id=row.id))
        tuning_sessions.append(row)
    return TransferCounts(machines=added["machines"], workloads=added["workloads"], configs=added["configs"],
                          measurements=len(measurements), skipped_duplicates=len(doc.measurements) - len(measurements),
                          profiles=len(profiles), tuning_sessions=len(tuning_sessions))


def _batches(keys: list[Any]) -> Iterable[list[Any]]:
    return (keys[start:start + _BATCH] for start in range(0, len(keys), _BATCH))


def _existing(session: Session, column: InstrumentedAttribute[Any], keys: Iterable[Any]) -> set[Any]:
    """Which of ``keys`` the column already holds, asked in batches rather than loading the table."""
    found: set[Any] = set()
    for batch in _batches(sorted(set(keys))):
        found.update(session.scalars(select(column).where(column.in_(batch))))
    return found


def _insert(session: Session, model: type[Any], rows: list[dict[str, Any]]) -> None:
    if rows:  # an executemany with no rows would be a single INSERT of nothing
        session.execute(insert(model), rows)


def _profile_key(machine_id: str, created_at: datetime.datetime, results: Mapping[str, Any]) -> tuple[str, ...]:
    return machine_id, iso(created_at), json.dumps(results, sort_keys=True, separators=(",", ":"))


def _session_key(row: Any) -> tuple[Any, ...]:
    """What identifies a tuning session across databases (its id does not: each database numbers its own)."""
    get = (lambda name: row[name]) if isinstance(row, Mapping) else (lambda name: getattr(row, name))
    return (get("machine_id"), get("workload_id"), get("n_sims"), get("study_name"), iso(get("started_at")),
            get("host"), get("pid"))
