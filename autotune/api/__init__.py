"""The public face: ``tuned_simulate``, ``predict_config`` and their decision record."""

from ._runtime import flush, reset
from ._tuned import POLICIES, Decision, TunedResult, predict_config, tuned_simulate

__all__ = ["POLICIES", "Decision", "TunedResult", "flush", "predict_config", "reset", "tuned_simulate"]
