"""Outcomes and sources of measurements: enums, never sentinel strings."""

from __future__ import annotations

import enum

__all__ = ["Outcome", "Source"]


class Outcome(enum.StrEnum):
    """How a measured configuration ended.

    COMPLETE: timed, and its estimate agrees with the reference.
    FAILED: raised an error (or its worker process crashed).
    TIMED_OUT: did not finish within the time limit (killed).
    REJECTED: ran, but its estimate disagrees with the reference beyond the accuracy gate;
        it is never recommended.
    """

    COMPLETE = "complete"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    REJECTED = "rejected"


class Source(enum.StrEnum):
    """Who took a measurement.

    TUNE: an offline tuning session (or its final side-by-side re-measurement).
    ONLINE: a ``tuned_simulate`` call, recorded as it ran.
    PROFILE: machine profiling.
    BENCHMARK: a benchmark script.
    """

    TUNE = "tune"
    ONLINE = "online"
    PROFILE = "profile"
    BENCHMARK = "benchmark"
