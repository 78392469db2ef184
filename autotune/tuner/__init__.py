"""Offline tuning sessions: strategy choice, budgets, resume, final re-measurement."""

from ._record import RecordContext, library_versions, record_measurement, register_context, register_machine
from ._report import TuningReport
from ._tune import BRUTE_FORCE_THRESHOLD, DEFAULT_TRIALS, SAMPLERS, pick_best, tune

__all__ = [
    "BRUTE_FORCE_THRESHOLD",
    "DEFAULT_TRIALS",
    "SAMPLERS",
    "RecordContext",
    "TuningReport",
    "library_versions",
    "pick_best",
    "record_measurement",
    "register_context",
    "register_machine",
    "tune",
]
