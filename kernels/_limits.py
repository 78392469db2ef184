"""Documented limits on what :mod:`kernels` accepts.

Each limit is checked where the value enters: workload and distribution
constructors, :class:`~kernels.Config` and :func:`~kernels.simulate`. They are
generous for real work and exist so that a mistyped argument fails at once with
a ``ValueError`` naming the field, rather than planning a billion chunks,
exhausting memory deep inside numpy, or returning ``inf`` or ``0`` silently.
The memory a run needs is checked separately, against the machine (see
:func:`kernels.memory_limit`).
"""

from __future__ import annotations

import math

__all__ = [
    "DEFAULT_QMC_SCRAMBLES",
    "FLOAT32_LIMIT",
    "MAX_BINOMIAL_TRIALS",
    "MAX_CHUNKS",
    "MAX_EXPECTED_CLAIMS",
    "MAX_GROUPS",
    "MAX_LOSS",
    "MAX_MATURITY",
    "MAX_POLICIES",
    "MAX_PRICE",
    "MAX_QMC_POINTS",
    "MAX_QMC_SCRAMBLES",
    "MAX_RATE_TIMES_MATURITY",
    "MAX_SIMS",
    "MAX_TOTAL_VOLATILITY",
    "MAX_WORKERS",
    "MIN_PRICE",
    "TAIL_PROBABILITY",
    "TAIL_Z",
]

MAX_SIMS = 10**12
"""Most simulations in one run (``n_sims``, and ``Config.chunk_size``)."""

MAX_CHUNKS = 2**16
"""Most chunks in one run: planning and dispatch cost a few microseconds per chunk."""

MAX_WORKERS = 1024
"""Most parallel workers (``Config.workers``)."""

MAX_QMC_SCRAMBLES = 1024
"""Most independent Sobol scrambles (``Config.qmc_scrambles``)."""

DEFAULT_QMC_SCRAMBLES = 32
"""Independent Sobol scrambles of a quasi-random config by default (``Config.qmc_scrambles``): 16 gave
intervals that covered 92% at 95% on a European call, whose scramble means are skewed."""

MAX_QMC_POINTS = 2**30
"""Most points of one scrambled Sobol sequence (scipy's Sobol engine draws at most 2**30)."""

MAX_POLICIES = 10**9
"""Most policies in one :class:`~kernels.PolicyGroup`."""

MAX_GROUPS = 10_000
"""Most groups in one :class:`~kernels.Portfolio` (QMC also needs one Sobol dimension per pooled group)."""

MAX_EXPECTED_CLAIMS = 10**8
"""Most expected occurrences in one simulated year: of a policy, a group and a whole portfolio."""

MAX_BINOMIAL_TRIALS = 10**15
"""Most trials of a :class:`~kernels.Binomial`, also pooled over a group (float64 holds them exactly)."""

MAX_LOSS = 1e60
"""Ceiling of one plausible simulated annual loss: keeps sums of fourth powers (the standard
error of ``std``) finite in float64."""

MIN_PRICE, MAX_PRICE = 1e-12, 1e12
"""Range of an option's spot ``S0`` and strike ``K``."""

MAX_MATURITY = 100.0
"""Longest option maturity ``T``, in years."""

MAX_TOTAL_VOLATILITY = 6.0
"""Largest ``sigma * sqrt(T)``. Beyond it the discounted terminal price is carried by paths more
than six standard deviations out, which no feasible run samples: estimates collapse towards 0
with a misleadingly small standard error (and ``S_T`` underflows for larger values)."""

MAX_RATE_TIMES_MATURITY = 20.0
"""Largest ``|r * T|`` and ``|q * T|`` (discount and growth factors stay within ``exp(±20)``)."""

TAIL_PROBABILITY = 2.0**-53
"""Tail probability of the most extreme draw considered plausible (the clamp of QMC uniforms)."""

TAIL_Z = 8.3
"""Standard normal quantile of ``TAIL_PROBABILITY`` (rounded up)."""

FLOAT32_LIMIT = 1e38
"""Largest magnitude float32 arithmetic may produce (float32 overflows at about 3.4e38)."""


def finite_or_inf(x: float) -> float:
    """``x``, with NaN (an overflowed computation) read as ``inf``."""
    return math.inf if math.isnan(x) else x
