"""The measurement harness: warm-up, compile time apart, adaptive repeats, isolation, accuracy gate."""

from ._harness import (
    Measurement,
    MeasureOptions,
    accuracy_z,
    compare_configs,
    headline,
    measure,
    reference_result,
)

__all__ = ["MeasureOptions", "Measurement", "accuracy_z", "compare_configs", "headline", "measure", "reference_result"]
