"""The public face: ``tuned_simulate`` and its decision record."""

from ._runtime import flush, reset
from ._tuned import POLICIES, Decision, TunedResult, tuned_simulate

__all__ = ["POLICIES", "Decision", "TunedResult", "flush", "reset", "tuned_simulate"]
