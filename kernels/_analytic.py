"""Closed-form reference values for the workloads the kernels estimate.

These are the exact answers the Monte Carlo kernels are checked against:
Black-Scholes prices and Greeks for :class:`~kernels.EuropeanOption`, the
discretely monitored geometric-average Asian (the control variate and check for
:class:`~kernels.AsianOption`), the moments of one occurrence's layer payment,
and the mean and variance of a portfolio's annual total when no per-policy
aggregate terms apply.

Layer moments use the limited-expected-value identities of *Loss Models*
(Klugman, Panjer and Willmot, appendix A). With ``b = d + u`` and the payment
``Y = min(max(X - d, 0), u) = (X ^ b) - (X ^ d)``::

    E[Y]   = E[X ^ b] - E[X ^ d]
    E[Y^2] = E[(X ^ b)^2] - E[(X ^ d)^2] - 2 d (E[X ^ b] - E[X ^ d])

(the second holds pointwise: 0 below ``d``, ``(X - d)^2`` inside the layer,
``u^2`` above it). Differencing two limited moments loses every digit once the
layer sits far in the tail, where both are close to the unlimited moment, so the
code evaluates the same expression as partial moments over ``(d, b]`` taken from
whichever side of the distribution is small there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ._distributions import Exponential, Gamma, Lognormal, Pareto, Severity, Weibull
from ._lazy import special
from ._validation import check_choice, check_int, check_real
from ._workloads import AsianOption, EuropeanOption, PolicyGroup, Portfolio

__all__ = [
    "black_scholes",
    "compound_moments",
    "european_reference",
    "geometric_asian_price",
    "geometric_asian_reference",
    "layer_moments",
    "portfolio_moments",
]


# --------------------------------------------------------------------------- options


def _check_market(
    owner: str, S0: float, K: float, T: float, r: float, sigma: float, q: float, kind: str
) -> tuple[float, float, float, float, float, float, bool]:
    values = [check_real(owner, name, v, low=0, low_open=True) for name, v in (("S0", S0), ("K", K), ("T", T))]
    r_, sigma_, q_ = (
        check_real(owner, "r", r),
        check_real(owner, "sigma", sigma, low=0, low_open=True),
        check_real(owner, "q", q),
    )
    is_call = check_choice(owner, "kind", kind, ("call", "put")) == "call"
    return values[0], values[1], values[2], r_, sigma_, q_, is_call


def _discounted_lognormal_payoff(log_mean: float, var: float, K: float, discount: float, is_call: bool) -> float:
    """``discount * E[(G - K)^+]`` (or the put) for ``log G ~ Normal(log_mean, var)``."""
    sd = math.sqrt(var)
    forward = math.exp(log_mean + var / 2)
    d1 = (log_mean - math.log(K) + var) / sd
    d2 = d1 - sd
    if is_call:
        return discount * (forward * float(special.ndtr(d1)) - K * float(special.ndtr(d2)))
    return discount * (K * float(special.ndtr(-d2)) - forward * float(special.ndtr(-d1)))


def black_scholes(
    S0: float, K: float, T: float, r: float, sigma: float, q: float = 0.0, kind: str = "call"
) -> dict[str, float]:
    """Black-Scholes price, delta and vega of a European option with dividend yield.

    Args:
        S0: spot (> 0). K: strike (> 0). T: maturity in years (> 0).
        r: continuously compounded rate. sigma: volatility (> 0).
        q: continuous dividend yield. kind: ``"call"`` or ``"put"``.

    Returns:
        ``{"price", "delta", "vega"}``; delta is ``dPrice/dS0`` and vega is
        ``dPrice/dsigma`` (per unit of volatility, not per percentage point),
        the conventions of :class:`~kernels.EuropeanOption` results.

    Raises:
        ValueError: an argument is out of range.
    """
    S0, K, T, r, sigma, q, is_call = _check_market("black_scholes", S0, K, T, r, sigma, q, kind)
    sd = sigma * math.sqrt(T)
    d1 = (math.log(S0 / K) + (r - q + sigma**2 / 2) * T) / sd
    d2 = d1 - sd
    div = math.exp(-q * T)
    disc = math.exp(-r * T)
    if is_call:
        price = S0 * div * float(special.ndtr(d1)) - K * disc * float(special.ndtr(d2))
        delta = div * float(special.ndtr(d1))
    else:
        price = K * disc * float(special.ndtr(-d2)) - S0 * div * float(special.ndtr(-d1))
        delta = -div * float(special.ndtr(-d1))
    vega = S0 * div * math.sqrt(T) * math.exp(-(d1**2) / 2) / math.sqrt(2 * math.pi)
    return {"price": price, "delta": delta, "vega": vega}


def geometric_asian_price(
    S0: float,
    K: float,
    T: float,
    r: float,
    sigma: float,
    q: float = 0.0,
    kind: str = "call",
    n_steps: int = 252,
) -> float:
    """Price of the discretely monitored geometric-average Asian option.

    The average is over ``n_steps`` equally spaced dates ``T/n, 2T/n, ..., T``
    (the spot at 0 is not included), as in :class:`~kernels.AsianOption`. Then
    ``log G`` is normal with mean ``log S0 + (r - q - sigma^2/2) T (n+1)/(2n)``
    and variance ``sigma^2 T (n+1)(2n+1)/(6 n^2)``; with ``n_steps=1`` this is
    the Black-Scholes price.

    Raises:
        ValueError: an argument is out of range.
    """
    S0, K, T, r, sigma, q, is_call = _check_market("geometric_asian_price", S0, K, T, r, sigma, q, kind)
    n = check_int("geometric_asian_price", "n_steps", n_steps, low=1)
    log_mean = math.log(S0) + (r - q - sigma**2 / 2) * T * (n + 1) / (2 * n)
    var = sigma**2 * T * (n + 1) * (2 * n + 1) / (6 * n**2)
    return _discounted_lognormal_payoff(log_mean, var, K, math.exp(-r * T), is_call)


def european_reference(option: EuropeanOption) -> dict[str, float]:
    """:func:`black_scholes` for the parameters of ``option``.

    Raises:
        TypeError: ``option`` is not a EuropeanOption.
    """
    if not isinstance(option, EuropeanOption):
        raise TypeError(f"european_reference needs a EuropeanOption, got {type(option).__name__}")
    o = option
    return black_scholes(o.S0, o.K, o.T, o.r, o.sigma, q=o.q, kind=o.kind)


def geometric_asian_reference(option: AsianOption) -> float:
    """:func:`geometric_asian_price` for the parameters (and monitoring dates) of ``option``.

    Raises:
        TypeError: ``option`` is not an AsianOption.
    """
    if not isinstance(option, AsianOption):
        raise TypeError(f"geometric_asian_reference needs an AsianOption, got {type(option).__name__}")
    o = option
    return geometric_asian_price(o.S0, o.K, o.T, o.r, o.sigma, q=o.q, kind=o.kind, n_steps=o.n_steps)


# --------------------------------------------------------------------------- layers


@dataclass(frozen=True)
class _Tails:
    """Distribution and partial-moment functions of one severity family.

    ``lower(k, x) = E[X^k; X <= x]`` and ``upper(k, x) = E[X^k; X > x]`` for k = 1, 2.
    """

    cdf: Callable[[float], float]
    sf: Callable[[float], float]
    lower: Callable[[int, float], float]
    upper: Callable[[int, float], float]


def _gamma_tails(alpha: float, theta: float) -> _Tails:
    # E[X^k; X <= x] = theta^k Gamma(alpha+k)/Gamma(alpha) P(alpha+k, x/theta)
    def coef(k: int) -> float:
        return theta**k * float(special.poch(alpha, k))

    return _Tails(
        cdf=lambda x: float(special.gammainc(alpha, x / theta)),
        sf=lambda x: float(special.gammaincc(alpha, x / theta)),
        lower=lambda k, x: coef(k) * float(special.gammainc(alpha + k, x / theta)),
        upper=lambda k, x: coef(k) * float(special.gammaincc(alpha + k, x / theta)),
    )


def _weibull_tails(tau: float, theta: float) -> _Tails:
    # E[X^k; X <= x] = theta^k Gamma(1+k/tau) P(1+k/tau, (x/theta)^tau)
    def coef(k: int) -> float:
        return theta**k * math.gamma(1 + k / tau)

    def t(x: float) -> float:
        return (x / theta) ** tau

    return _Tails(
        cdf=lambda x: -math.expm1(-t(x)),
        sf=lambda x: math.exp(-t(x)),
        lower=lambda k, x: coef(k) * float(special.gammainc(1 + k / tau, t(x))),
        upper=lambda k, x: coef(k) * float(special.gammaincc(1 + k / tau, t(x))),
    )


def _lognormal_tails(mu: float, sigma: float) -> _Tails:
    # E[X^k; X <= x] = exp(k mu + k^2 sigma^2 / 2) Phi((log x - mu - k sigma^2) / sigma),
    # evaluated in logs so a far tail does not become inf * 0.
    def z(k: int, x: float) -> float:
        return ((math.log(x) if x > 0 else -math.inf) - mu - k * sigma**2) / sigma

    def partial(k: int, zk: float) -> float:
        return math.exp(k * mu + (k * sigma) ** 2 / 2 + float(special.log_ndtr(zk)))

    return _Tails(
        cdf=lambda x: float(special.ndtr(z(0, x))),
        sf=lambda x: float(special.ndtr(-z(0, x))),
        lower=lambda k, x: partial(k, z(k, x)),
        upper=lambda k, x: partial(k, -z(k, x)),
    )


def _tails(severity: Severity) -> _Tails:
    if isinstance(severity, Gamma):
        return _gamma_tails(severity.shape, severity.scale)
    if isinstance(severity, Exponential):
        return _gamma_tails(1.0, severity.scale)
    if isinstance(severity, Weibull):
        return _weibull_tails(severity.shape, severity.scale)
    if isinstance(severity, Lognormal):
        return _lognormal_tails(severity.mu, severity.sigma)
    raise ValueError(
        "layer_moments needs a Gamma, Lognormal, Pareto, Exponential or Weibull severity, "
        f"got {type(severity).__name__}"
    )


def _layer_from_tails(tails: _Tails, d: float, u: float) -> tuple[float, float]:
    b = d + u
    finite = math.isfinite(b)
    if not finite:
        p, m1, m2 = tails.sf(d), tails.upper(1, d), tails.upper(2, d)
    elif tails.sf(d) < 0.5:
        # Upper partial moments are small here: their difference keeps its digits.
        p = tails.sf(d) - tails.sf(b)
        m1 = tails.upper(1, d) - tails.upper(1, b)
        m2 = tails.upper(2, d) - tails.upper(2, b)
    else:
        p = tails.cdf(b) - tails.cdf(d)
        m1 = tails.lower(1, b) - tails.lower(1, d)
        m2 = tails.lower(2, b) - tails.lower(2, d)
    above = tails.sf(b) if finite else 0.0
    mean = m1 - d * p + (u * above if finite else 0.0)
    second = m2 - 2 * d * m1 + d * d * p + (u * u * above if finite else 0.0)
    # Rounding can leave a vanishing layer a hair below zero.
    return max(mean, 0.0), max(second, 0.0)


def _expm1_ratio(c: float, L: float) -> float:
    """``integral of t^(c-1) dt over [1, e^L]`` = ``(e^(cL) - 1) / c``, and ``L`` at ``c = 0``."""
    return L if c == 0 else math.expm1(c * L) / c


def _pareto_layer(alpha: float, theta: float, d: float, u: float) -> tuple[float, float]:
    # E[Y] = int_d^b S(x) dx and E[Y^2] = 2 int_d^b (x - d) S(x) dx with S(x) = (theta / (x + theta))^alpha.
    # Substituting x + theta = (d + theta) t gives integrals of powers of t over [1, (b + theta) / (d + theta)],
    # finite for every shape when u is finite (the log case alpha = 1 included).
    A = d + theta
    s_d = (theta / A) ** alpha
    if math.isinf(u):
        mean = s_d * A / (alpha - 1) if alpha > 1 else math.inf
        second = 2 * s_d * A * A / ((alpha - 1) * (alpha - 2)) if alpha > 2 else math.inf
        return mean, second
    L = math.log1p(u / A)
    mean = s_d * A * _expm1_ratio(1 - alpha, L)
    second = 2 * s_d * A * A * (_expm1_ratio(2 - alpha, L) - _expm1_ratio(1 - alpha, L))
    return mean, max(second, 0.0)


def layer_moments(severity: Severity, deductible: float = 0.0, limit: float = math.inf) -> tuple[float, float]:
    """First two moments of one occurrence's payment ``Y = min(max(X - deductible, 0), limit)``.

    Args:
        severity: the ground-up size ``X`` (Gamma, Lognormal, Pareto, Exponential or Weibull).
        deductible: ``d >= 0``.
        limit: the most one occurrence pays, ``u > 0``; ``math.inf`` for no limit.

    Returns:
        ``(E[Y], E[Y^2])``. A moment that does not exist (a Pareto with ``shape <= 1``,
        resp. ``<= 2``, and no limit) is returned as ``math.inf``.

    Raises:
        ValueError: an unsupported severity or an out-of-range deductible or limit.
    """
    d = check_real("layer_moments", "deductible", deductible, low=0)
    u = check_real("layer_moments", "limit", limit, low=0, low_open=True, allow_inf=True)
    if isinstance(severity, Pareto):
        return _pareto_layer(severity.shape, severity.scale, d, u)
    return _layer_from_tails(_tails(severity), d, u)


# --------------------------------------------------------------------------- compound sums


def compound_moments(group: PolicyGroup) -> tuple[float, float]:
    """Mean and variance of one policy group's annual total (no aggregate terms).

    Without per-policy aggregate terms the group's total is a compound sum with
    the pooled count ``N`` of its ``n_policies`` policies and the layer payment
    ``Y`` of :func:`layer_moments`: ``E[S] = E[N] E[Y]`` and
    ``Var S = E[N] Var Y + Var N E[Y]^2``. Moments that do not exist are ``math.inf``.

    Raises:
        TypeError: ``group`` is not a PolicyGroup.
        ValueError: the group has aggregate terms (its total is then no compound
            sum with a closed form; estimate it by simulation).
    """
    if not isinstance(group, PolicyGroup):
        raise TypeError(f"compound_moments needs a PolicyGroup, got {type(group).__name__}")
    if group.terms.has_aggregate_terms:
        raise ValueError(
            "compound_moments has no closed form for a PolicyGroup with aggregate terms; "
            "use PolicyTerms(aggregate_deductible=0, aggregate_limit=math.inf) or estimate it by simulation"
        )
    count = group.frequency.pooled(group.n_policies)
    ey, ey2 = layer_moments(group.severity, group.terms.deductible, group.terms.limit)
    en, vn = count.mean(), count.var()
    if math.isinf(ey):
        return math.inf, math.inf
    if math.isinf(ey2):
        return en * ey, math.inf
    return en * ey, en * (ey2 - ey * ey) + vn * ey * ey


def portfolio_moments(portfolio: Portfolio) -> tuple[float, float]:
    """Mean and variance of a portfolio's annual total: the sum over its independent groups.

    Raises:
        TypeError: ``portfolio`` is not a Portfolio.
        ValueError: one of its groups has aggregate terms.
    """
    if not isinstance(portfolio, Portfolio):
        raise TypeError(f"portfolio_moments needs a Portfolio, got {type(portfolio).__name__}")
    mean = var = 0.0
    for group in portfolio.groups:
        m, v = compound_moments(group)
        mean += m
        var += v
    return mean, var
