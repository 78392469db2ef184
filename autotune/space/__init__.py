"""Search spaces: the knobs, their candidate values, hard constraints, enumeration and Optuna sampling."""

from ._space import (
    CHUNK_CANDIDATES,
    REPRODUCIBLE_KNOBS,
    SearchSpace,
    check_reference,
    complexity,
    coverage_order,
    estimate_peak_memory,
    reproducible_with,
    search_space,
    stratum,
    usable_cores,
)

__all__ = ["CHUNK_CANDIDATES", "REPRODUCIBLE_KNOBS", "SearchSpace", "check_reference", "complexity", "coverage_order",
           "estimate_peak_memory", "reproducible_with", "search_space", "stratum", "usable_cores"]
