"""Config identity: a stable id from the knobs, and the knob columns SQL can filter on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..measure._record import config_id

__all__ = ["config_columns", "config_id"]

_REQUIRED_KNOBS = ("backend", "executor", "workers", "precision")


def config_columns(knobs: Mapping[str, Any]) -> dict[str, Any]:
    """The ``configs`` row values for ``knobs`` (without the id).

    Raises:
        ValueError: a required knob (backend, executor, workers, precision) is missing.
    """
    missing = [k for k in _REQUIRED_KNOBS if k not in knobs]
    if missing:
        raise ValueError(f"config knobs miss {missing}; pass Config.to_dict(), got {dict(knobs)!r}")
    return dict(
        knobs=dict(knobs),
        backend=knobs["backend"],
        executor=knobs["executor"],
        workers=knobs["workers"],
        precision=knobs["precision"],
        chunk_size=knobs.get("chunk_size"),
        qmc=bool(knobs.get("qmc", False)),
        shared_memory=bool(knobs.get("shared_memory", False)),
    )
