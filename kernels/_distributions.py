"""Frequency and severity distributions for aggregate-loss workloads.

The distributions are plain, validated, frozen parameter records. Sampling lives
in the backends (each backend has its own random generator); the records carry
what every backend needs: a family code, packed parameters, moments, and (for
quasi-Monte Carlo) the scipy distribution used for inverse-CDF sampling.
"""

from __future__ import annotations

import functools
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

if TYPE_CHECKING:
    from scipy import stats

from ._limits import MAX_BINOMIAL_TRIALS, MAX_EXPECTED_CLAIMS, TAIL_PROBABILITY, finite_or_inf
from ._validation import check_int, check_real

__all__ = [
    "FREQUENCIES",
    "SEVERITIES",
    "Binomial",
    "Exponential",
    "Frequency",
    "Gamma",
    "Lognormal",
    "NegativeBinomial",
    "Pareto",
    "Poisson",
    "Severity",
    "Weibull",
]


class Frequency(ABC):
    """Number of occurrences of one policy in one year.

    Subclasses are closed under sums of independent copies (:meth:`pooled`),
    which is what lets a group of policies without per-policy aggregate terms
    be simulated as one compound draw.
    """

    code: ClassVar[int]
    family: ClassVar[str]

    @abstractmethod
    def mean(self) -> float:
        """Expected count."""

    @abstractmethod
    def var(self) -> float:
        """Variance of the count."""

    @abstractmethod
    def pooled(self, n: int) -> Frequency:
        """The distribution of the sum of ``n`` independent copies."""

    @abstractmethod
    def params(self) -> tuple[float, float]:
        """Two packed parameters, in the order the backends read them."""

    @abstractmethod
    def scipy(self) -> stats.rv_discrete:
        """The frozen scipy distribution (used for inverse-CDF sampling)."""

    @abstractmethod
    def pgf(self, z: Any, xp: Any = np) -> Any:
        """The probability generating function ``E[z**N]``, elementwise on a (complex) array.

        ``xp`` is the array module (``numpy`` or ``jax.numpy``). Written with ``log1p``
        around ``z = 1`` so that pooled counts of millions of policies keep their digits.
        """

    def _check_mean(self, fields: str) -> None:
        if self.mean() > MAX_EXPECTED_CLAIMS:
            raise ValueError(
                f"{fields} give a mean of {self.mean():g} occurrences per year, over the limit of "
                f"{MAX_EXPECTED_CLAIMS:g} (kernels.MAX_EXPECTED_CLAIMS)"
            )


class Severity(ABC):
    """Ground-up size of one occurrence (a positive continuous variable)."""

    code: ClassVar[int]
    family: ClassVar[str]

    @abstractmethod
    def params(self) -> tuple[float, float]:
        """Two packed parameters, in the order the backends read them."""

    @abstractmethod
    def scipy(self) -> stats.rv_continuous:
        """The frozen scipy distribution (used for inverse-CDF sampling)."""

    def mean(self) -> float:
        """Expected size (``inf`` where it does not exist)."""
        return float(self.scipy().mean())

    def plausible_max(self) -> float:
        """The largest draw considered plausible: the quantile at ``1 - TAIL_PROBABILITY`` (maybe ``inf``)."""
        return _plausible_max(self)


def _stats() -> Any:
    """``scipy.stats``, imported on first use (it takes about a second to import)."""
    from scipy import stats

    return stats


def _log1p(w: Any, xp: Any) -> Any:
    """``log(1 + w)`` for complex ``w``, accurate near 0 (numpy's complex ``log1p`` is ``log(1 + w)``)."""
    x, y = xp.real(w), xp.imag(w)
    return 0.5 * xp.log1p(x * (2 + x) + y * y) + 1j * xp.arctan2(y, 1 + x)


@functools.lru_cache(maxsize=1024)
def _plausible_max(severity: Severity) -> float:
    with np.errstate(all="ignore"):
        return finite_or_inf(float(severity.scipy().isf(TAIL_PROBABILITY)))


@dataclass(frozen=True)
class Poisson(Frequency):
    """Poisson count with mean ``lam`` in ``(0, MAX_EXPECTED_CLAIMS]``."""

    lam: float
    code: ClassVar[int] = 0
    family: ClassVar[str] = "poisson"

    def __post_init__(self) -> None:
        lam = check_real("Poisson", "lam", self.lam, low=0, high=MAX_EXPECTED_CLAIMS, low_open=True)
        object.__setattr__(self, "lam", lam)

    def mean(self) -> float:
        return self.lam

    def var(self) -> float:
        return self.lam

    def pooled(self, n: int) -> Poisson:
        return Poisson(self.lam * n)

    def params(self) -> tuple[float, float]:
        return (self.lam, 0.0)

    def scipy(self) -> stats.rv_discrete:
        return _stats().poisson(self.lam)

    def pgf(self, z: Any, xp: Any = np) -> Any:
        # exp(lam (z - 1))
        return xp.exp(self.lam * (z - 1))


@dataclass(frozen=True)
class NegativeBinomial(Frequency):
    """Negative binomial count: failures before the ``n``-th success.

    Args:
        n: number of successes, a real number > 0.
        p: success probability, in (0, 1).

    The mean is ``n (1 - p) / p`` (at most ``MAX_EXPECTED_CLAIMS``) and the variance
    ``n (1 - p) / p**2`` (numpy's and scipy's ``nbinom`` convention).
    """

    n: float
    p: float
    code: ClassVar[int] = 1
    family: ClassVar[str] = "negative_binomial"

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", check_real("NegativeBinomial", "n", self.n, low=0, low_open=True))
        object.__setattr__(
            self, "p", check_real("NegativeBinomial", "p", self.p, low=0, high=1, low_open=True, high_open=True)
        )
        self._check_mean(f"NegativeBinomial.n={self.n:g} and NegativeBinomial.p={self.p:g}")

    def mean(self) -> float:
        return self.n * (1 - self.p) / self.p

    def var(self) -> float:
        return self.n * (1 - self.p) / self.p**2

    def pooled(self, n: int) -> NegativeBinomial:
        return NegativeBinomial(self.n * n, self.p)

    def params(self) -> tuple[float, float]:
        return (self.n, self.p)

    def scipy(self) -> stats.rv_discrete:
        return _stats().nbinom(self.n, self.p)

    def pgf(self, z: Any, xp: Any = np) -> Any:
        # (p / (1 - (1 - p) z))**n = exp(-n log1p(-(1 - p) (z - 1) / p)); for |z| <= 1 the
        # argument of the log has a positive real part, so the principal branch is the right one.
        return xp.exp(-self.n * _log1p(-(1 - self.p) / self.p * (z - 1), xp))


@dataclass(frozen=True)
class Binomial(Frequency):
    """Binomial count: successes in ``n`` trials (integer in ``[1, MAX_BINOMIAL_TRIALS]``) of probability
    ``p`` in (0, 1); the mean ``n p`` is at most ``MAX_EXPECTED_CLAIMS``."""

    n: int
    p: float
    code: ClassVar[int] = 2
    family: ClassVar[str] = "binomial"

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", check_int("Binomial", "n", self.n, low=1, high=MAX_BINOMIAL_TRIALS))
        object.__setattr__(
            self, "p", check_real("Binomial", "p", self.p, low=0, high=1, low_open=True, high_open=True)
        )
        self._check_mean(f"Binomial.n={self.n} and Binomial.p={self.p:g}")

    def mean(self) -> float:
        return self.n * self.p

    def var(self) -> float:
        return self.n * self.p * (1 - self.p)

    def pooled(self, n: int) -> Binomial:
        return Binomial(self.n * n, self.p)

    def params(self) -> tuple[float, float]:
        return (float(self.n), self.p)

    def scipy(self) -> stats.rv_discrete:
        return _stats().binom(self.n, self.p)

    def pgf(self, z: Any, xp: Any = np) -> Any:
        # (1 - p + p z)**n = exp(n log1p(p (z - 1))); n is an integer, so the log's branch does not matter.
        return xp.exp(self.n * _log1p(self.p * (z - 1), xp))


def _shape_scale(owner: str, shape: float, scale: float) -> tuple[float, float]:
    return (
        check_real(owner, "shape", shape, low=0, low_open=True),
        check_real(owner, "scale", scale, low=0, low_open=True),
    )


@dataclass(frozen=True)
class Gamma(Severity):
    """Gamma severity with ``shape`` (> 0) and ``scale`` (> 0); mean ``shape * scale``."""

    shape: float
    scale: float
    code: ClassVar[int] = 0
    family: ClassVar[str] = "gamma"

    def __post_init__(self) -> None:
        a, s = _shape_scale("Gamma", self.shape, self.scale)
        object.__setattr__(self, "shape", a)
        object.__setattr__(self, "scale", s)

    def params(self) -> tuple[float, float]:
        return (self.shape, self.scale)

    def scipy(self) -> stats.rv_continuous:
        return _stats().gamma(self.shape, scale=self.scale)


@dataclass(frozen=True)
class Lognormal(Severity):
    """Lognormal severity: ``log X ~ Normal(mu, sigma**2)``; ``mu`` real, ``sigma`` > 0."""

    mu: float
    sigma: float
    code: ClassVar[int] = 1
    family: ClassVar[str] = "lognormal"

    def __post_init__(self) -> None:
        object.__setattr__(self, "mu", check_real("Lognormal", "mu", self.mu))
        object.__setattr__(self, "sigma", check_real("Lognormal", "sigma", self.sigma, low=0, low_open=True))

    def params(self) -> tuple[float, float]:
        return (self.mu, self.sigma)

    def scipy(self) -> stats.rv_continuous:
        return _stats().lognorm(self.sigma, scale=math.exp(self.mu))


@dataclass(frozen=True)
class Pareto(Severity):
    """Pareto (type II, Lomax) severity, the actuarial Pareto of *Loss Models*.

    ``P(X > x) = (scale / (x + scale)) ** shape`` for ``x >= 0``, with ``shape`` > 0
    and ``scale`` > 0. The mean ``scale / (shape - 1)`` exists only for ``shape > 1``;
    a per-occurrence limit keeps the layer's moments finite whatever the shape.
    """

    shape: float
    scale: float
    code: ClassVar[int] = 2
    family: ClassVar[str] = "pareto"

    def __post_init__(self) -> None:
        a, s = _shape_scale("Pareto", self.shape, self.scale)
        object.__setattr__(self, "shape", a)
        object.__setattr__(self, "scale", s)

    def params(self) -> tuple[float, float]:
        return (self.shape, self.scale)

    def scipy(self) -> stats.rv_continuous:
        return _stats().lomax(self.shape, scale=self.scale)


@dataclass(frozen=True)
class Exponential(Severity):
    """Exponential severity with mean ``scale`` (> 0)."""

    scale: float
    code: ClassVar[int] = 3
    family: ClassVar[str] = "exponential"

    def __post_init__(self) -> None:
        object.__setattr__(self, "scale", check_real("Exponential", "scale", self.scale, low=0, low_open=True))

    def params(self) -> tuple[float, float]:
        return (self.scale, 0.0)

    def scipy(self) -> stats.rv_continuous:
        return _stats().expon(scale=self.scale)


@dataclass(frozen=True)
class Weibull(Severity):
    """Weibull severity: ``P(X > x) = exp(-(x / scale) ** shape)``; ``shape``, ``scale`` > 0."""

    shape: float
    scale: float
    code: ClassVar[int] = 4
    family: ClassVar[str] = "weibull"

    def __post_init__(self) -> None:
        a, s = _shape_scale("Weibull", self.shape, self.scale)
        object.__setattr__(self, "shape", a)
        object.__setattr__(self, "scale", s)

    def params(self) -> tuple[float, float]:
        return (self.shape, self.scale)

    def scipy(self) -> stats.rv_continuous:
        return _stats().weibull_min(self.shape, scale=self.scale)


FREQUENCIES: dict[str, type[Frequency]] = {c.family: c for c in (Poisson, NegativeBinomial, Binomial)}
"""Frequency classes by ``family`` name (as specs and feature vectors spell them)."""

SEVERITIES: dict[str, type[Severity]] = {c.family: c for c in (Gamma, Lognormal, Pareto, Exponential, Weibull)}
"""Severity classes by ``family`` name."""
