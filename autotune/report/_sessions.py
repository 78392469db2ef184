"""What a tuning session found, read from the report stored with its row: one source for every view.

``autotune tune`` prints its table and ``autotune report`` its convergence table from the same
stored session report, so "best" and "trials" agree: best is the best config's median in the
session's final side-by-side re-measurement (not the fastest single measurement of the search),
and trials are the trials the session ran (re-measurements and resumed trials not counted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kernels import Config

from ..storage import Storage

__all__ = ["SessionSummary", "stored_report"]


@dataclass(frozen=True)
class SessionSummary:
    """Best config, its time and the trial count of one session's stored report (``None``: not in it)."""

    best_config: Config | None
    best_time_s: float | None
    trials: int | None

    @classmethod
    def from_report(cls, report: Mapping[str, Any] | None) -> SessionSummary:
        """The summary of a stored report (a failed or running session's has no best)."""
        report = report if isinstance(report, Mapping) else {}
        try:
            config = Config.from_dict(report["best_config"]) if report.get("best_config") else None
        except (TypeError, ValueError):  # a config of another version: shown as unknown, never wrongly
            config = None
        time_s = report.get("best_time_s")
        best = float(time_s) if isinstance(time_s, int | float) and math.isfinite(time_s) else None
        trials = report.get("trials")
        return cls(config, best, int(trials) if isinstance(trials, int) else None)


def stored_report(store: Storage, session_id: int) -> dict[str, Any] | None:
    """The report stored with tuning session ``session_id``, or ``None`` (no such session, or none stored)."""
    row = store.tuning_session(session_id)
    return dict(row.report) if row is not None and isinstance(row.report, Mapping) else None
