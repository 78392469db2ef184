"""Offline tuning sessions: strategy choice, budgets, resume, final re-measurement, suites under one budget."""

from ._report import TuningReport
from ._suite import SuiteRun, tune_suite
from ._tune import BRUTE_FORCE_THRESHOLD, DEFAULT_TRIALS, SAMPLERS, pick_best, tune

__all__ = [
    "BRUTE_FORCE_THRESHOLD",
    "DEFAULT_TRIALS",
    "SAMPLERS",
    "SuiteRun",
    "TuningReport",
    "pick_best",
    "tune",
    "tune_suite",
]
