"""Time to a target: the error model's simulations needed, priced by the time forest."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kernels import AsianOption, Config, EuropeanOption, Portfolio, Target

from ._errors import ErrorForest
from ._predictor import ForestPredictor

__all__ = ["MAX_PRICED_SIMS", "TargetChoice", "choose_for_target"]

_logger = logging.getLogger(__name__)

MAX_PRICED_SIMS = 2**16
"""Default of ``choose_for_target(max_priced_sims=...)``: beyond it, time is linear in simulations."""


@dataclass(frozen=True)
class TargetChoice:
    """The pick with the least predicted time to a target.

    Attributes:
        config: execution config and estimator (``qmc``, ``antithetic``, ``control_variate``).
        n_sims: the simulations its estimator is predicted to need.
        predicted_s: the time forest's steady-state time of ``config`` at ``n_sims`` (seconds).
        target: what it was chosen for.
        ranked: every candidate as ``(config, n_sims, predicted seconds)``, best first.
    """

    config: Config
    n_sims: int
    predicted_s: float
    target: Target
    ranked: tuple[tuple[Config, int, float], ...] = field(repr=False)


def choose_for_target(time_model: ForestPredictor, error_model: ErrorForest, machine_vector: Mapping[str, Any],
                      workload: EuropeanOption | AsianOption | Portfolio, target: Target,
                      candidates: Iterable[Config], *, values: Mapping[str, float] | None = None,
                      max_priced_sims: int = MAX_PRICED_SIMS) -> TargetChoice:
    """Rank ``candidates`` (execution config x estimator) by predicted time to ``target``; pick the least.

    Each candidate's estimator needs ``error_model.sims_needed(...)`` simulations; the time forest
    prices the candidate at that count (candidates sharing an estimator share the count, and are
    ranked by one :meth:`ForestPredictor.choose` call). Beyond ``max_priced_sims`` the forest prices
    ``max_priced_sims`` simulations and the time is scaled linearly: a forest cannot extrapolate past
    the sizes it was trained on, and a target often needs more simulations than were ever timed.

    Args:
        time_model: a fitted :class:`~autotune.model.ConfigTimeModel` or loaded ``ForestPredictor``.
        error_model: a fitted :class:`ErrorForest`.
        machine_vector: ``machine_fingerprint().vector()``.
        workload: the workload (never measured is fine).
        target: the precision to reach.
        candidates: full configs, e.g. ``[est.apply(c) for c in configs for est in estimators_for(workload)]``.
        values: known estimate values for a relative tolerance (else predicted).
        max_priced_sims: the largest count the time forest is asked about (>= 2).

    Raises:
        ValueError: a bad model, target or workload, or no candidate config.
    """
    if not isinstance(time_model, ForestPredictor):
        raise ValueError(f"time_model must be a fitted ConfigTimeModel or ForestPredictor, got "
                         f"{type(time_model).__name__}")
    if not isinstance(error_model, ErrorForest):
        raise ValueError(f"error_model must be a fitted ErrorForest, got {type(error_model).__name__}")
    if not isinstance(workload, EuropeanOption | AsianOption | Portfolio):
        raise ValueError(f"workload must be a EuropeanOption, AsianOption or Portfolio, got {type(workload).__name__}")
    if not isinstance(target, Target):
        raise ValueError(f"target must be a kernels.Target, got {type(target).__name__}")
    if isinstance(max_priced_sims, bool) or not isinstance(max_priced_sims, int) or max_priced_sims < 2:
        raise ValueError(f"max_priced_sims must be an int >= 2, got {max_priced_sims!r}")
    candidates = list(candidates)
    if not candidates:
        raise ValueError("candidates is empty: pass at least one Config")
    bad = next((c for c in candidates if not isinstance(c, Config) or c.method != "mc"), None)
    if bad is not None:
        raise ValueError(f"candidates must be Monte Carlo kernels.Config objects (method='mc'), got {bad!r}")
    by_n: dict[int, list[Config]] = {}
    needs: dict[tuple[bool, bool, bool, int], int] = {}  # the error depends on the estimator alone
    for c in candidates:
        key = (c.qmc, c.antithetic, c.control_variate, c.qmc_scrambles if c.qmc else 0)
        if key not in needs:
            needs[key] = error_model.sims_needed(workload, c, target, values=values)
        by_n.setdefault(needs[key], []).append(c)
    ranked: list[tuple[Config, int, float]] = []
    for n, configs in by_n.items():
        priced = min(n, max_priced_sims)
        choice = time_model.choose(machine_vector, workload, priced, configs)
        ranked += [(c, n, s * n / priced) for c, s in choice.ranked]
    ranked.sort(key=lambda r: r[2])
    best = ranked[0]
    _logger.debug("time to %s: %s at n=%d, %.3g s predicted", target.label(), best[0], best[1], best[2])
    return TargetChoice(config=best[0], n_sims=best[1], predicted_s=best[2], target=target, ranked=tuple(ranked))
