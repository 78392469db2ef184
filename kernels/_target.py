"""Target: the precision a run must reach, in the convention of qmcpy's stopping criteria."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from ._estimators import estimate_names
from ._lazy import special
from ._validation import check_real
from ._workloads import Workload

__all__ = ["Target", "TargetNotMetWarning", "interval_quantile"]


class TargetNotMetWarning(UserWarning):
    """A run to a :class:`Target` stopped at its simulation cap (or the memory limit) before reaching it."""


@dataclass(frozen=True)
class Target:
    """A requested precision: "the price to ±0.001 at 95% confidence".

    A run meets it when, for every named estimate, the two-sided ``confidence`` interval
    has a half-width of at most ``max(atol, rtol * |estimate|)`` (a missing tolerance
    counts as 0). This is qmcpy's convention (``abs_tol``, ``rel_tol``), with a
    confidence interval in place of qmcpy's guaranteed bound.

    Args:
        atol: absolute tolerance (> 0), or None.
        rtol: relative tolerance (> 0), or None; at least one of the two is needed.
        estimate: the estimate(s) that must meet it: a name (``"price"``, ``"TVaR_0.99"``) or
            a tuple of names; None means the workload's headline (``price`` for options,
            ``mean`` for portfolios).
        confidence: two-sided confidence level in (0, 1).

    The half-width is ``q * standard_error``, where ``q`` is the normal quantile, or for a
    quasi-random run's estimates whose error comes from the scatter of its scrambles, the
    Student-t quantile with ``qmc_scrambles - 1`` degrees of freedom (:func:`interval_quantile`).
    """

    atol: float | None = None
    rtol: float | None = None
    estimate: str | tuple[str, ...] | None = None
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if self.atol is None and self.rtol is None:
            raise ValueError("Target needs atol or rtol (or both); got neither")
        for name in ("atol", "rtol"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_real("Target", name, value, low=0, low_open=True))
        conf = check_real("Target", "confidence", self.confidence, low=0, high=1, low_open=True, high_open=True)
        object.__setattr__(self, "confidence", conf)
        est = self.estimate
        if isinstance(est, list):
            est = tuple(est)
        if est is not None:
            names = (est,) if isinstance(est, str) else est
            if not isinstance(names, tuple) or not names or not all(isinstance(n, str) and n for n in names):
                raise ValueError(
                    f"Target.estimate must be None, an estimate name or a non-empty tuple of names, got {est!r}"
                )
            est = names[0] if len(names) == 1 else tuple(dict.fromkeys(names))
        object.__setattr__(self, "estimate", est)

    def names(self, workload: Workload) -> tuple[str, ...]:
        """The estimates that must meet the target on ``workload``; raises for unknown names."""
        known = estimate_names(workload)
        if self.estimate is None:
            return known[:1]
        names = (self.estimate,) if isinstance(self.estimate, str) else self.estimate
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"Target.estimate names {unknown}, unknown for a {type(workload).__name__}; "
                             f"known estimates are {list(known)}")
        return names

    def tolerance(self, name: str, value: float) -> float:
        """The largest half-width ``name`` may have when its estimate is ``value``.

        Raises:
            ValueError: only ``rtol`` is given and the estimate is 0 (no relative precision exists).
        """
        tol = max(self.atol or 0.0, (self.rtol or 0.0) * abs(value))
        if tol <= 0 or not math.isfinite(tol):
            raise ValueError(
                f"Target.rtol={self.rtol:g} cannot apply to estimate {name!r}, whose value is {value:g}; "
                "give an atol for it"
            )
        return tol

    def shortfall(self, estimates: Mapping[str, float], half_widths: Mapping[str, float]) -> float:
        """The largest half-width / tolerance ratio over the estimates in ``half_widths`` (<= 1: met)."""
        return max(half / self.tolerance(name, estimates[name]) for name, half in half_widths.items())

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Target:
        """Rebuild a target from :meth:`to_dict` output (JSON lists become tuples); unknown keys are an error."""
        known = {"atol", "rtol", "estimate", "confidence"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown Target field(s) {unknown}; known fields are {sorted(known)}")
        return cls(**data)  # type: ignore[arg-type]

    def to_dict(self) -> dict[str, object]:
        """The target as a JSON-safe dict (``Target(**d)`` rebuilds it)."""
        est = list(self.estimate) if isinstance(self.estimate, tuple) else self.estimate
        return {"atol": self.atol, "rtol": self.rtol, "estimate": est, "confidence": self.confidence}

    def label(self) -> str:
        """A short description, e.g. ``price ±0.001 (95%)`` or ``TVaR_0.99 ±1% (95%)``."""
        est = self.estimate if isinstance(self.estimate, str) else ",".join(self.estimate or ("headline",))
        parts = []
        if self.atol is not None:
            parts.append(f"±{self.atol:g}")
        if self.rtol is not None:
            parts.append(f"±{self.rtol * 100:g}%")
        return f"{est} {' or '.join(parts)} ({self.confidence * 100:g}%)"


@lru_cache(maxsize=256)
def interval_quantile(confidence: float, dof: int | None) -> float:
    """The two-sided ``confidence`` quantile: normal when ``dof`` is None, else Student-t with ``dof``."""
    p = 0.5 + confidence / 2
    if dof is None:
        return float(special.ndtri(p))
    from scipy.stats import t as student_t  # imported on first use: scipy.stats takes about a second

    return float(student_t.ppf(p, dof))
