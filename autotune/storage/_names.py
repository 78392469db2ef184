"""Display names of workloads in export documents: the optional ``workload_names`` section.

Kept apart from the other sections so that a document without it (an older export) imports as
before, and an older autotune reading a newer document ignores it. Items are
``{"workload_id", "name", "first_named_at", "last_named_at"}``; importing a name a workload
already has keeps the later ``last_named_at``, so merging fleets never loses which name is latest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from ._document import iso
from ._mapping import parse_time
from ._models import WorkloadModel, WorkloadNameModel
from ._storage import check_workload_name

__all__ = ["NAMES_SECTION", "export_names", "import_names", "parse_names"]

NAMES_SECTION = "workload_names"


def export_names(session: Session, workloads: ColumnElement[bool]) -> list[dict[str, Any]]:
    """The names of the workloads matching ``workloads`` (a WHERE clause on the workloads table)."""
    query = (select(WorkloadNameModel)
             .where(WorkloadNameModel.workload_id.in_(select(WorkloadModel.id).where(workloads)))
             .order_by(WorkloadNameModel.id))
    return [{"workload_id": n.workload_id, "name": n.name, "first_named_at": iso(n.first_named_at),
             "last_named_at": iso(n.last_named_at)} for n in session.scalars(query)]


def parse_names(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The checked items of the document's ``workload_names`` (none when it has no such section).

    Raises:
        ValueError: the section is not a list, or an item is malformed; the message names the item.
    """
    items = document.get(NAMES_SECTION, [])
    if not isinstance(items, list):
        raise ValueError(f"document {NAMES_SECTION!r} must be a list, got {type(items).__name__}")
    parsed = []
    for i, item in enumerate(items):
        where = f"{NAMES_SECTION}[{i}]"
        if not isinstance(item, Mapping):
            raise ValueError(f"{where} must be an object, got {type(item).__name__}")
        workload_id = item.get("workload_id")
        if not isinstance(workload_id, str) or not workload_id:
            raise ValueError(f"{where}.workload_id must be a non-empty string, got {workload_id!r}")
        name = check_workload_name(item.get("name"), f"{where}.name")
        times = {}
        for key in ("first_named_at", "last_named_at"):
            try:
                times[key] = parse_time(item.get(key))
            except ValueError as exc:
                raise ValueError(f"{where}.{key} {exc}") from None
        parsed.append({"workload_id": workload_id, "name": name, **times})
    return parsed


def import_names(session: Session, names: Iterable[Mapping[str, Any]]) -> int:
    """Add parsed names to the target (after the document's workloads were written); returns how many are new.

    Raises:
        ValueError: a name refers to a workload that is neither in the document nor in the target.
    """
    added = 0
    for i, item in enumerate(names):
        if session.get(WorkloadModel, item["workload_id"]) is None:
            raise ValueError(f"{NAMES_SECTION}[{i}].workload_id {item['workload_id']!r} names a workload that is "
                             "neither in the document's 'workloads' nor in the target database")
        row = session.scalars(select(WorkloadNameModel).where(
            WorkloadNameModel.workload_id == item["workload_id"], WorkloadNameModel.name == item["name"])).first()
        if row is None:
            session.add(WorkloadNameModel(**item))
            session.flush()
            added += 1
        else:
            row.first_named_at = min(row.first_named_at, item["first_named_at"])
            row.last_named_at = max(row.last_named_at, item["last_named_at"])
    return added
