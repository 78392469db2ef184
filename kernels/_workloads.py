"""Workloads: frozen, validated descriptions of what to simulate.

A workload says *what* quantity is estimated; a :class:`~kernels.Config` says
*how* it is computed. Every valid configuration estimates the same quantity.
"""

from __future__ import annotations

import math
from dataclasses import InitVar, dataclass, field

from ._distributions import Binomial, Frequency, Severity
from ._limits import (
    MAX_BINOMIAL_TRIALS,
    MAX_EXPECTED_CLAIMS,
    MAX_GROUPS,
    MAX_LOSS,
    MAX_MATURITY,
    MAX_POLICIES,
    MAX_PRICE,
    MAX_RATE_TIMES_MATURITY,
    MAX_TOTAL_VOLATILITY,
    MIN_PRICE,
)
from ._validation import check_choice, check_int, check_real

__all__ = ["AsianOption", "EuropeanOption", "PolicyGroup", "PolicyTerms", "Portfolio", "Workload"]

DEFAULT_LEVELS = (0.95, 0.99, 0.995)


@dataclass(frozen=True)
class PolicyTerms:
    """Per-occurrence and per-policy-year layer terms.

    Each occurrence of ground-up size ``X`` pays ``min(max(X - deductible, 0), limit)``;
    each policy's year pays ``min(max(S - aggregate_deductible, 0), aggregate_limit)``
    of the sum ``S`` of its occurrence payments. Limits default to unlimited
    (``math.inf``), deductibles to zero.
    """

    deductible: float = 0.0
    limit: float = math.inf
    aggregate_deductible: float = 0.0
    aggregate_limit: float = math.inf

    def __post_init__(self) -> None:
        d = check_real("PolicyTerms", "deductible", self.deductible, low=0)
        u = check_real("PolicyTerms", "limit", self.limit, low=0, low_open=True, allow_inf=True)
        ad = check_real("PolicyTerms", "aggregate_deductible", self.aggregate_deductible, low=0)
        au = check_real("PolicyTerms", "aggregate_limit", self.aggregate_limit, low=0, low_open=True, allow_inf=True)
        if u <= d:
            raise ValueError(f"PolicyTerms.limit must be greater than PolicyTerms.deductible ({d:g}), got {u:g}")
        if au <= ad:
            raise ValueError(
                "PolicyTerms.aggregate_limit must be greater than PolicyTerms.aggregate_deductible "
                f"({ad:g}), got {au:g}"
            )
        for name, v in (("deductible", d), ("limit", u), ("aggregate_deductible", ad), ("aggregate_limit", au)):
            object.__setattr__(self, name, v)

    @property
    def has_aggregate_terms(self) -> bool:
        """True when the per-policy aggregate layer changes anything."""
        return self.aggregate_deductible > 0 or math.isfinite(self.aggregate_limit)

    def as_tuple(self) -> tuple[float, float, float, float]:
        return (self.deductible, self.limit, self.aggregate_deductible, self.aggregate_limit)


@dataclass(frozen=True)
class PolicyGroup:
    """``n_policies`` independent, identical policies.

    Args:
        n_policies: number of policies (integer in ``[1, MAX_POLICIES]``); the group's expected
            occurrences per year are at most ``MAX_EXPECTED_CLAIMS``.
        frequency: occurrences per policy per year (Poisson, NegativeBinomial, Binomial).
        severity: ground-up size of one occurrence (Gamma, Lognormal, Pareto, Exponential, Weibull).
        terms: deductibles and limits, see :class:`PolicyTerms`.

    The group's plausible annual loss (:meth:`loss_ceiling`) must stay below ``MAX_LOSS``, so that
    float64 sums of losses and of their powers cannot overflow: a severity whose tail reaches
    beyond it needs a finite ``terms.limit``.
    """

    n_policies: int
    frequency: Frequency
    severity: Severity
    terms: PolicyTerms = field(default_factory=PolicyTerms)

    def __post_init__(self) -> None:
        n = check_int("PolicyGroup", "n_policies", self.n_policies, low=1, high=MAX_POLICIES)
        object.__setattr__(self, "n_policies", n)
        if not isinstance(self.frequency, Frequency):
            raise ValueError(
                "PolicyGroup.frequency must be a Poisson, NegativeBinomial or Binomial, "
                f"got {type(self.frequency).__name__}"
            )
        if not isinstance(self.severity, Severity):
            raise ValueError(
                "PolicyGroup.severity must be a Gamma, Lognormal, Pareto, Exponential or Weibull, "
                f"got {type(self.severity).__name__}"
            )
        if not isinstance(self.terms, PolicyTerms):
            raise ValueError(f"PolicyGroup.terms must be a PolicyTerms, got {type(self.terms).__name__}")
        self._check_scale()

    def _check_scale(self) -> None:
        n, claims = self.n_policies, self.expected_claims()
        if claims > MAX_EXPECTED_CLAIMS:
            raise ValueError(
                f"PolicyGroup.n_policies={n} with {self.frequency.mean():g} occurrences per policy gives "
                f"{claims:g} expected occurrences per year, over the limit of {MAX_EXPECTED_CLAIMS:g} "
                "(kernels.MAX_EXPECTED_CLAIMS)"
            )
        if isinstance(self.frequency, Binomial) and self.frequency.n * n > MAX_BINOMIAL_TRIALS:
            raise ValueError(
                f"PolicyGroup.n_policies={n} pools Binomial.n={self.frequency.n} into {self.frequency.n * n:g} "
                f"trials, over the limit of {MAX_BINOMIAL_TRIALS:g} (kernels.MAX_BINOMIAL_TRIALS)"
            )
        ceiling = self.loss_ceiling()
        if ceiling > MAX_LOSS:
            raise ValueError(
                f"PolicyGroup.severity={self.severity!r} with PolicyTerms.limit={self.terms.limit:g} makes "
                f"annual losses up to about {ceiling:g} plausible, over the limit of {MAX_LOSS:g} "
                "(kernels.MAX_LOSS); set a finite PolicyTerms.limit or use a lighter-tailed severity"
            )

    @property
    def pooled(self) -> bool:
        """True when the group can be simulated as one compound draw with pooled frequency.

        Without per-policy aggregate terms the group's total is a sum of
        independent compound sums with the same severity, which is itself a
        compound sum whose count is the sum of the policies' counts.
        """
        return not self.terms.has_aggregate_terms

    def expected_claims(self) -> float:
        """Expected number of occurrences of the whole group in one year."""
        return self.n_policies * self.frequency.mean()

    def loss_ceiling(self) -> float:
        """A plausible upper bound of the values summed for the group's annual loss (``inf`` if none).

        The largest plausible payment (the severity's ``1 - TAIL_PROBABILITY`` quantile, capped by
        the occurrence limit) times a generous count (mean + 10 standard deviations + 10),
        capped by the aggregate limits of the policies, but never below one payment (payments
        are summed before the aggregate terms apply).
        """
        payment = min(self.severity.plausible_max(), self.terms.limit)
        n = self.n_policies
        count = self.expected_claims() + 10 * math.sqrt(n * self.frequency.var()) + 10
        return max(payment, min(payment * count, n * self.terms.aggregate_limit))


@dataclass(frozen=True)
class Portfolio:
    """Aggregate annual loss of a portfolio of policy groups.

    One simulation is one year of the whole portfolio. Results: ``mean``, ``std``,
    and ``VaR_<level>``/``TVaR_<level>`` for each risk level in ``levels``.

    Args:
        groups: one to ``MAX_GROUPS`` :class:`PolicyGroup` (a list is accepted); together at most
            ``MAX_EXPECTED_CLAIMS`` expected occurrences and a loss ceiling below ``MAX_LOSS``.
        levels: risk levels in (0, 1) for VaR and TVaR.
    """

    groups: tuple[PolicyGroup, ...]
    levels: tuple[float, ...] = DEFAULT_LEVELS

    def __post_init__(self) -> None:
        groups = tuple(self.groups) if isinstance(self.groups, (list, tuple)) else None
        if not groups:
            raise ValueError("Portfolio.groups must be a non-empty list of PolicyGroup")
        if len(groups) > MAX_GROUPS:
            raise ValueError(f"Portfolio.groups must hold at most {MAX_GROUPS} groups (kernels.MAX_GROUPS), "
                             f"got {len(groups)}")
        for i, g in enumerate(groups):
            if not isinstance(g, PolicyGroup):
                raise ValueError(f"Portfolio.groups[{i}] must be a PolicyGroup, got {type(g).__name__}")
        claims = sum(g.expected_claims() for g in groups)
        if claims > MAX_EXPECTED_CLAIMS:
            raise ValueError(f"Portfolio.groups expect {claims:g} occurrences per year together, over the limit "
                             f"of {MAX_EXPECTED_CLAIMS:g} (kernels.MAX_EXPECTED_CLAIMS)")
        ceiling = sum(g.loss_ceiling() for g in groups)
        if ceiling > MAX_LOSS:
            raise ValueError(f"Portfolio.groups make annual losses up to about {ceiling:g} plausible together, "
                             f"over the limit of {MAX_LOSS:g} (kernels.MAX_LOSS)")
        if isinstance(self.levels, (int, float)):
            raise ValueError("Portfolio.levels must be a sequence of levels in (0, 1)")
        levels = tuple(
            check_real("Portfolio", "levels", v, low=0, high=1, low_open=True, high_open=True) for v in self.levels
        )
        if not levels:
            raise ValueError("Portfolio.levels must hold at least one level in (0, 1)")
        object.__setattr__(self, "groups", groups)
        object.__setattr__(self, "levels", tuple(sorted(set(levels))))

    @property
    def n_policies(self) -> int:
        return sum(g.n_policies for g in self.groups)

    def expected_claims(self) -> float:
        """Expected number of occurrences per simulated year."""
        return sum(g.expected_claims() for g in self.groups)


@dataclass(frozen=True)
class _GBMOption:
    """Market and contract terms shared by the option workloads (validated on construction)."""

    S0: float
    K: float
    T: float
    r: float
    sigma: float
    q: float = 0.0
    kind: str = "call"

    def __post_init__(self) -> None:
        owner = type(self).__name__
        set_ = object.__setattr__
        for name in ("S0", "K"):
            set_(self, name, check_real(owner, name, getattr(self, name), low=MIN_PRICE, high=MAX_PRICE))
        set_(self, "T", check_real(owner, "T", self.T, low=0, high=MAX_MATURITY, low_open=True))
        set_(self, "sigma", check_real(owner, "sigma", self.sigma, low=0, low_open=True))
        for name in ("r", "q"):
            set_(self, name, check_real(owner, name, getattr(self, name), low=-1, high=1))
        set_(self, "kind", check_choice(owner, "kind", self.kind, ("call", "put")))
        vol = self.sigma * math.sqrt(self.T)
        if vol > MAX_TOTAL_VOLATILITY:
            raise ValueError(
                f"{owner}.sigma={self.sigma:g} with T={self.T:g} gives sigma*sqrt(T)={vol:g}, over the limit of "
                f"{MAX_TOTAL_VOLATILITY:g} (kernels.MAX_TOTAL_VOLATILITY): the price would rest on paths no "
                "simulation samples, and the estimate would collapse towards 0"
            )
        for name in ("r", "q"):
            if abs(getattr(self, name) * self.T) > MAX_RATE_TIMES_MATURITY:
                raise ValueError(
                    f"{owner}.{name}={getattr(self, name):g} with T={self.T:g} gives |{name}*T|="
                    f"{abs(getattr(self, name) * self.T):g}, over the limit of {MAX_RATE_TIMES_MATURITY:g} "
                    "(kernels.MAX_RATE_TIMES_MATURITY)"
                )

    @property
    def is_call(self) -> bool:
        return self.kind == "call"


@dataclass(frozen=True)
class EuropeanOption(_GBMOption):
    """European call or put under geometric Brownian motion with dividend yield.

    Args:
        S0: spot, K: strike (both in ``[MIN_PRICE, MAX_PRICE]``). T: maturity in years, in
            ``(0, MAX_MATURITY]``.
        r: continuously compounded rate. q: dividend yield (both in [-1, 1], with ``|r T|`` and
            ``|q T|`` at most ``MAX_RATE_TIMES_MATURITY``).
        sigma: volatility (> 0, with ``sigma * sqrt(T)`` at most ``MAX_TOTAL_VOLATILITY``).
        kind: ``"call"`` or ``"put"``.

    Results: ``price``, pathwise ``delta`` and ``vega`` (per unit of volatility),
    each with its standard error.
    """


@dataclass(frozen=True)
class AsianOption(_GBMOption):
    """Arithmetic-average Asian call or put under GBM with dividend yield.

    The average is over ``n_steps`` equally spaced monitoring dates
    ``T/n_steps, 2T/n_steps, ..., T`` (the spot at 0 is not included).

    Args:
        S0, K, T, r, sigma, q, kind: as for :class:`EuropeanOption`.
        n_steps: monitoring dates (integer >= 1).

    Results: ``price`` and ``geometric_price`` (the plain Monte Carlo estimate of the
    geometric Asian, useful as a check against its closed form), with standard errors.

    The geometric control variate and antithetic pairs are knobs of the
    :class:`~kernels.Config` (``control_variate``, ``antithetic``): they change how the
    price is estimated, not what it is. Passing them here raises a ``ValueError`` that says so.
    """

    n_steps: int = 252
    control_variate: InitVar[bool | None] = None
    antithetic: InitVar[bool | None] = None

    def __post_init__(self, control_variate: bool | None, antithetic: bool | None) -> None:
        super().__post_init__()
        object.__setattr__(self, "n_steps", check_int("AsianOption", "n_steps", self.n_steps, low=1, high=21201))
        for name, value in (("control_variate", control_variate), ("antithetic", antithetic)):
            if value is not None:
                raise ValueError(
                    f"AsianOption.{name} has moved to Config.{name}: the workload says what is estimated, "
                    f"the config how; use kernels.Config({name}={value!r})"
                )


Workload = Portfolio | EuropeanOption | AsianOption


def workload_kind(workload: object) -> str:
    """``"portfolio"``, ``"european"`` or ``"asian"``; raises for anything else."""
    if isinstance(workload, Portfolio):
        return "portfolio"
    if isinstance(workload, EuropeanOption):
        return "european"
    if isinstance(workload, AsianOption):
        return "asian"
    raise ValueError(
        "workload must be a Portfolio, EuropeanOption or AsianOption, " f"got {type(workload).__name__}"
    )
