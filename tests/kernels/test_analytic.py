"""Checks of the closed-form references against independent computations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import integrate, stats

from kernels import (
    AsianOption,
    Binomial,
    EuropeanOption,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Weibull,
)
from kernels._analytic import (
    black_scholes,
    compound_moments,
    european_reference,
    geometric_asian_price,
    geometric_asian_reference,
    layer_moments,
    portfolio_moments,
)
from kernels._distributions import Severity

# --------------------------------------------------------------------------- layer moments

SEVERITIES = [
    Gamma(0.5, 2.0),
    Gamma(3.0, 1.5),
    Lognormal(0.5, 1.2),
    Lognormal(-1.0, 0.3),
    Pareto(0.8, 10.0),
    Pareto(1.0, 5.0),
    Pareto(1.5, 10.0),
    Pareto(2.0, 3.0),
    Pareto(3.5, 100.0),
    Exponential(2.0),
    Weibull(0.7, 3.0),
    Weibull(2.5, 1.0),
]

# Layers as (P(X > d), P(X > d + u)), None meaning no limit, so every layer is meaningful for every family.
# The far-tail layers are where differencing two limited expected values would cancel to nothing.
LAYERS = [
    (1.0, None),
    (1.0, 0.5),
    (0.75, 0.1),
    (0.1, None),
    (0.5, 0.499),
    (1e-3, 1e-4),
    (1e-12, 1e-13),
    (1e-12, None),
]


def _moment_exists(severity: Severity, k: int) -> bool:
    return not isinstance(severity, Pareto) or severity.shape > k


def _quad_layer_moment(severity: Severity, d: float, u: float, k: int) -> float:
    """``E[min(max(X - d, 0), u)^k]`` by quadrature of the payment against the pdf."""
    dist = severity.scipy()
    b = d + u
    # Break the range at quantiles so quad sees where the mass is, far tail included.
    cuts = [float(dist.isf(s)) for s in (0.99, 0.9, 0.5, 0.1, *(10.0**-j for j in range(2, 16)))]
    edges = [d, *(c for c in cuts if d < c < b), b]
    opts = {"epsabs": 0.0, "epsrel": 1e-12, "limit": 200}

    def piece(lo: float, hi: float) -> float:
        if math.isfinite(hi):
            return integrate.quad(lambda x: (x - d) ** k * dist.pdf(x), lo, hi, **opts)[0]
        # The unbounded piece in t = log(x - d), where even a power-law tail decays exponentially;
        # 300 e-folds past its start leaves nothing of any tail here with a finite moment.
        t0 = math.log(lo - d)
        with np.errstate(over="ignore"):  # a light tail's log-density overflows to -inf far out: that is zero
            return integrate.quad(
                lambda t: math.exp((k + 1) * t + dist.logpdf(d + math.exp(t))), t0, min(t0 + 300, 700), **opts
            )[0]

    inside = sum(piece(lo, hi) for lo, hi in itertools.pairwise(edges))
    return inside if math.isinf(u) else inside + u**k * float(dist.sf(b))


@pytest.mark.parametrize("severity", SEVERITIES, ids=repr)
@pytest.mark.parametrize("layer", LAYERS, ids=str)
def test_layer_moments_match_quadrature(severity: Severity, layer: tuple[float, float | None]) -> None:
    dist = severity.scipy()
    d = float(dist.isf(layer[0])) if layer[0] < 1 else 0.0
    u = math.inf if layer[1] is None else float(dist.isf(layer[1])) - d
    got = layer_moments(severity, d, u)
    for k in (1, 2):
        if math.isinf(u) and not _moment_exists(severity, k):
            assert got[k - 1] == math.inf
        else:
            assert got[k - 1] == pytest.approx(_quad_layer_moment(severity, d, u, k), rel=1e-6, abs=0.0)


@pytest.mark.parametrize("severity", [s for s in SEVERITIES if _moment_exists(s, 2)], ids=repr)
def test_unlimited_layer_from_zero_is_the_raw_moments(severity: Severity) -> None:
    dist = severity.scipy()
    mean, second = layer_moments(severity)
    assert mean == pytest.approx(dist.mean(), rel=1e-10)
    assert second == pytest.approx(dist.moment(2), rel=1e-8)


def test_exponential_matches_gamma_with_unit_shape() -> None:
    for d, u in [(0.0, 1.0), (3.0, math.inf), (10.0, 5.0)]:
        assert layer_moments(Exponential(2.0), d, u) == pytest.approx(layer_moments(Gamma(1.0, 2.0), d, u), rel=1e-13)


@pytest.mark.parametrize("alpha", [1.0, 2.0])
def test_pareto_is_continuous_at_its_log_cases(alpha: float) -> None:
    # shape 1 (first moment) and shape 2 (second moment) are the removable singularities of the power formulas.
    near = [layer_moments(Pareto(alpha + eps, 4.0), 1.0, 20.0) for eps in (-1e-7, 1e-7)]
    exact = layer_moments(Pareto(alpha, 4.0), 1.0, 20.0)
    for got in near:
        assert got == pytest.approx(exact, rel=1e-6)


def test_layer_moments_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="deductible"):
        layer_moments(Gamma(2.0, 1.0), -1.0, 1.0)
    with pytest.raises(ValueError, match="limit"):
        layer_moments(Gamma(2.0, 1.0), 0.0, 0.0)
    with pytest.raises(ValueError, match="severity"):
        layer_moments(Poisson(1.0), 0.0, 1.0)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- options

MARKETS = [
    {"S0": 100.0, "K": 100.0, "T": 1.0, "r": 0.05, "sigma": 0.2, "q": 0.0},
    {"S0": 42.0, "K": 40.0, "T": 0.5, "r": 0.10, "sigma": 0.2, "q": 0.0},
    {"S0": 100.0, "K": 120.0, "T": 2.0, "r": 0.01, "sigma": 0.35, "q": 0.03},
    {"S0": 80.0, "K": 70.0, "T": 0.25, "r": -0.005, "sigma": 0.5, "q": 0.02},
]


def test_black_scholes_textbook_value() -> None:
    # Hull, Options, Futures and Other Derivatives, example 15.6: c = 4.76, p = 0.81.
    assert black_scholes(42.0, 40.0, 0.5, 0.10, 0.2)["price"] == pytest.approx(4.7594, abs=1e-4)
    assert black_scholes(42.0, 40.0, 0.5, 0.10, 0.2, kind="put")["price"] == pytest.approx(0.8086, abs=1e-4)


@pytest.mark.parametrize("m", MARKETS, ids=str)
def test_black_scholes_put_call_parity(m: dict[str, float]) -> None:
    call = black_scholes(**m, kind="call")
    put = black_scholes(**m, kind="put")
    forward_value = m["S0"] * math.exp(-m["q"] * m["T"]) - m["K"] * math.exp(-m["r"] * m["T"])
    assert call["price"] - put["price"] == pytest.approx(forward_value, rel=1e-12, abs=1e-12)
    assert call["delta"] - put["delta"] == pytest.approx(math.exp(-m["q"] * m["T"]), rel=1e-12)
    assert call["vega"] == pytest.approx(put["vega"], rel=1e-12)


@pytest.mark.parametrize("kind", ["call", "put"])
@pytest.mark.parametrize("m", MARKETS, ids=str)
def test_black_scholes_greeks_match_finite_differences(m: dict[str, float], kind: str) -> None:
    got = black_scholes(**m, kind=kind)
    for greek, name in (("delta", "S0"), ("vega", "sigma")):
        h = 1e-4 * m[name]
        up = black_scholes(**{**m, name: m[name] + h}, kind=kind)["price"]
        down = black_scholes(**{**m, name: m[name] - h}, kind=kind)["price"]
        assert got[greek] == pytest.approx((up - down) / (2 * h), rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("kind", ["call", "put"])
@pytest.mark.parametrize("m", MARKETS, ids=str)
def test_geometric_asian_with_one_date_is_black_scholes(m: dict[str, float], kind: str) -> None:
    assert geometric_asian_price(**m, kind=kind, n_steps=1) == pytest.approx(
        black_scholes(**m, kind=kind)["price"], rel=1e-12
    )


@pytest.mark.parametrize("n_steps", [2, 3, 12])
@pytest.mark.parametrize("kind", ["call", "put"])
@pytest.mark.parametrize("m", MARKETS, ids=str)
def test_geometric_asian_matches_quadrature(m: dict[str, float], kind: str, n_steps: int) -> None:
    # log G = mean of the log prices at T/n, ..., T: its moments from the Brownian covariance min(t_i, t_j),
    # then the discounted payoff integrated against that normal density.
    t = m["T"] * np.arange(1, n_steps + 1) / n_steps
    mean = math.log(m["S0"]) + (m["r"] - m["q"] - m["sigma"] ** 2 / 2) * t.mean()
    sd = m["sigma"] * math.sqrt(np.minimum.outer(t, t).mean())
    sign = 1.0 if kind == "call" else -1.0
    edges = [mean - 12 * sd, math.log(m["K"]), mean + 12 * sd]
    payoff = sum(
        integrate.quad(
            lambda x: max(sign * (math.exp(x) - m["K"]), 0.0) * stats.norm.pdf(x, mean, sd),
            lo,
            hi,
            epsabs=0.0,
            epsrel=1e-12,
        )[0]
        for lo, hi in itertools.pairwise(edges)
    )
    expected = math.exp(-m["r"] * m["T"]) * payoff
    assert geometric_asian_price(**m, kind=kind, n_steps=n_steps) == pytest.approx(expected, rel=1e-8)


def test_geometric_asian_matches_quantlib() -> None:
    ql = pytest.importorskip("QuantLib")
    today = ql.Date(15, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    S0, K, r, sigma, q, days, n = 100.0, 95.0, 0.05, 0.3, 0.02, 364, 4
    fixings = [today + days * i // n for i in range(1, n + 1)]
    for kind, ql_kind in (("call", ql.Option.Call), ("put", ql.Option.Put)):
        option = ql.DiscreteAveragingAsianOption(
            ql.Average.Geometric, 1.0, 0, fixings, ql.PlainVanillaPayoff(ql_kind, K), ql.EuropeanExercise(fixings[-1])
        )
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(S0)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, q, dc, ql.Continuous)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, r, dc, ql.Continuous)),
            ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), sigma, dc)),
        )
        option.setPricingEngine(ql.AnalyticDiscreteGeometricAveragePriceAsianEngine(process))
        got = geometric_asian_price(S0, K, days / 365, r, sigma, q=q, kind=kind, n_steps=n)
        assert got == pytest.approx(option.NPV(), rel=1e-10)


def test_option_references_read_the_workload() -> None:
    m = MARKETS[2]
    assert european_reference(EuropeanOption(**m, kind="put")) == black_scholes(**m, kind="put")
    asian = AsianOption(**m, kind="call", n_steps=50)
    assert geometric_asian_reference(asian) == geometric_asian_price(**m, kind="call", n_steps=50)
    with pytest.raises(TypeError, match="EuropeanOption"):
        european_reference(asian)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="AsianOption"):
        geometric_asian_reference(EuropeanOption(**m))  # type: ignore[arg-type]


def test_option_functions_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sigma"):
        black_scholes(100.0, 100.0, 1.0, 0.05, 0.0)
    with pytest.raises(ValueError, match="kind"):
        black_scholes(100.0, 100.0, 1.0, 0.05, 0.2, kind="straddle")
    with pytest.raises(ValueError, match="n_steps"):
        geometric_asian_price(100.0, 100.0, 1.0, 0.05, 0.2, n_steps=0)


# --------------------------------------------------------------------------- compound sums


def _direct_compound(pmf: np.ndarray, ey: float, ey2: float) -> tuple[float, float]:
    """Mean and variance of a compound sum by conditioning on each count ``k`` with probability ``pmf[k]``."""
    k = np.arange(pmf.size)
    var_y = ey2 - ey**2
    mean = float(np.sum(pmf * k * ey))
    second = float(np.sum(pmf * (k * var_y + (k * ey) ** 2)))
    return mean, second - mean**2


@pytest.mark.parametrize(
    "group",
    [
        PolicyGroup(2, Binomial(2, 0.3), Exponential(5.0), PolicyTerms(deductible=1.0, limit=4.0)),
        PolicyGroup(3, Poisson(0.7), Pareto(2.5, 10.0), PolicyTerms(deductible=2.0)),
        PolicyGroup(5, NegativeBinomial(1.5, 0.4), Lognormal(1.0, 0.8), PolicyTerms(limit=20.0)),
    ],
    ids=["binomial", "poisson", "negative_binomial"],
)
def test_compound_moments_match_direct_sum(group: PolicyGroup) -> None:
    ey = _quad_layer_moment(group.severity, group.terms.deductible, group.terms.limit, 1)
    ey2 = _quad_layer_moment(group.severity, group.terms.deductible, group.terms.limit, 2)
    # The pooled count is the sum of the policies' counts, built here by convolving their pmfs.
    one = group.frequency.scipy().pmf(np.arange(100))
    total = np.array([1.0])
    for _ in range(group.n_policies):
        total = np.convolve(total, one)
    assert total.sum() == pytest.approx(1.0, abs=1e-14)  # the truncated grid holds all the mass
    expected = _direct_compound(total, ey, ey2)
    assert compound_moments(group) == pytest.approx(expected, rel=1e-6)


def test_compound_moments_with_missing_moments() -> None:
    heavy = PolicyGroup(1, Poisson(1.0), Pareto(1.5, 1.0))
    mean, var = compound_moments(heavy)
    assert math.isfinite(mean) and var == math.inf
    assert compound_moments(PolicyGroup(1, Poisson(1.0), Pareto(0.9, 1.0))) == (math.inf, math.inf)


def test_portfolio_moments_add_the_groups() -> None:
    groups = [
        PolicyGroup(10, Poisson(0.2), Gamma(2.0, 3.0), PolicyTerms(deductible=1.0, limit=10.0)),
        PolicyGroup(4, NegativeBinomial(2.0, 0.5), Weibull(1.5, 2.0)),
    ]
    parts = [compound_moments(g) for g in groups]
    total = portfolio_moments(Portfolio(groups))
    assert total == pytest.approx((sum(p[0] for p in parts), sum(p[1] for p in parts)), rel=1e-14)


def test_aggregate_terms_have_no_closed_form() -> None:
    group = PolicyGroup(1, Poisson(1.0), Gamma(2.0, 1.0), PolicyTerms(aggregate_limit=5.0))
    with pytest.raises(ValueError, match="aggregate"):
        compound_moments(group)
    with pytest.raises(ValueError, match="aggregate"):
        portfolio_moments(Portfolio([PolicyGroup(1, Poisson(1.0), Gamma(2.0, 1.0)), group]))
