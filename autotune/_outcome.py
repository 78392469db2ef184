"""Outcomes of one measurement: an enum, never sentinel strings."""

from __future__ import annotations

import enum

__all__ = ["Outcome"]


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
