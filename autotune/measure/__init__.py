"""The measurement harness and the one measurement record.

The harness: warm-up, first call timed apart, adaptive repeats, isolation, accuracy gate.
The record: :class:`Measurement`, with timings whose meanings are fixed (see its docstring).
"""

from ._harness import (
    DEFAULT_TIMEOUT_S,
    MeasureOptions,
    accuracy_z,
    check_options,
    compare_configs,
    measure,
    reference_result,
)
from ._record import Measurement, config_id, config_key, headline, new_uid, utcnow

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MeasureOptions",
    "Measurement",
    "accuracy_z",
    "check_options",
    "compare_configs",
    "config_id",
    "config_key",
    "headline",
    "measure",
    "new_uid",
    "reference_result",
    "utcnow",
]
