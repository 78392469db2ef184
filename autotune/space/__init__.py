"""Search spaces: the knobs, their candidate values, hard constraints, enumeration and Optuna sampling."""

from ._space import (
    CHUNK_CANDIDATES,
    SearchSpace,
    complexity,
    coverage_order,
    estimate_peak_memory,
    search_space,
    stratum,
    usable_cores,
)

__all__ = ["CHUNK_CANDIDATES", "SearchSpace", "complexity", "coverage_order", "estimate_peak_memory", "search_space",
           "stratum", "usable_cores"]
