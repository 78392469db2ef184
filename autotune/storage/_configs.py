"""Config identity: a stable id from the knobs, and the knob columns SQL can filter on."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = ["config_columns", "config_id"]

_REQUIRED_KNOBS = ("backend", "executor", "workers", "precision")


def config_id(knobs: Mapping[str, Any]) -> str:
    """A stable id for a config: the SHA-256 (first 16 hex digits) of its canonical JSON.

    Canonical JSON sorts keys and has no whitespace, so equal knob dicts give equal ids
    in every process and on every machine.

    Raises:
        ValueError: the knobs are not JSON-serialisable.
    """
    try:
        canonical = json.dumps(dict(knobs), sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config knobs must be JSON-serialisable (e.g. Config.to_dict()), got {knobs!r}") from err
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


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
