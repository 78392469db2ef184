"""Peer Monte Carlo engines for the benchmark: QuantLib (options) and gemact (aggregate losses).

Each function runs the peer at a given sample count and seed and returns its estimates
with the wall time of the simulation alone (objects are built outside the timed region),
so the benchmark can set the peers beside our kernels at equal sample counts.

QuantLib and gemact are optional benchmark extras: they are imported inside the
functions, and a missing one raises :class:`ImportError` naming the install command.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import math
import numbers
import time
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from kernels import (
    Binomial,
    EuropeanOption,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    Weibull,
)

__all__ = ["gemact_aggregate", "peer_versions", "quantlib_european"]

FrequencyLike = Poisson | NegativeBinomial | Binomial
SeverityLike = Gamma | Lognormal | Pareto | Exponential | Weibull

_INSTALL_HINT = "pip install QuantLib gemact"
# QuantLib dates are whole days; maturities are placed on this grid (see quantlib_european).
_DAYS_PER_YEAR = 365


def _import_peer(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ImportError(f"the {module} benchmark peer is not installed; run `{_INSTALL_HINT}`") from exc


def _check_count(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def quantlib_european(
    S0: float,
    K: float,
    T: float,
    r: float,
    sigma: float,
    q: float = 0.0,
    kind: str = "call",
    *,
    n_paths: int,
    seed: int,
) -> dict[str, float]:
    """Price a European option with QuantLib's pseudo-random ``MCEuropeanEngine``.

    One time step (exact for GBM with flat curves), ``n_paths`` samples, no antithetics.

    QuantLib counts time in whole days, so the maturity is put on ``D = round(365 T)``
    days and the rate, dividend yield and volatility are rescaled so that ``r T``,
    ``q T`` and ``sigma**2 T`` are unchanged: the price is exactly that of maturity ``T``.
    QuantLib reads seed 0 as "seed from the clock", so it is given ``seed + 1``.

    Returns:
        ``price``, ``stderr`` (QuantLib's ``errorEstimate``) and ``seconds``, the wall
        time of the NPV computation alone.
    """
    opt = EuropeanOption(S0=S0, K=K, T=T, r=r, sigma=sigma, q=q, kind=kind)
    n_paths = _check_count("n_paths", n_paths, 2)
    seed = _check_count("seed", seed, 0)
    ql = _import_peer("QuantLib")

    days = max(1, round(opt.T * _DAYS_PER_YEAR))
    stretch = opt.T / (days / _DAYS_PER_YEAR)
    settings = ql.Settings.instance()
    saved_date = settings.evaluationDate
    today = ql.Date(2, ql.January, 2024)
    settings.evaluationDate = today
    try:
        dc = ql.Actual365Fixed()
        process = ql.BlackScholesMertonProcess(
            ql.QuoteHandle(ql.SimpleQuote(opt.S0)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, opt.q * stretch, dc)),
            ql.YieldTermStructureHandle(ql.FlatForward(today, opt.r * stretch, dc)),
            ql.BlackVolTermStructureHandle(
                ql.BlackConstantVol(today, ql.NullCalendar(), opt.sigma * math.sqrt(stretch), dc)
            ),
        )
        payoff = ql.PlainVanillaPayoff(ql.Option.Call if opt.is_call else ql.Option.Put, opt.K)
        option = ql.VanillaOption(payoff, ql.EuropeanExercise(today + days))
        option.setPricingEngine(
            ql.MCEuropeanEngine(
                process,
                "PseudoRandom",
                timeSteps=1,
                requiredSamples=n_paths,
                antitheticVariate=False,
                seed=seed + 1,
            )
        )
        start = time.perf_counter()
        price = option.NPV()
        seconds = time.perf_counter() - start
        stderr = option.errorEstimate()
    finally:
        settings.evaluationDate = saved_date
    return {"price": float(price), "stderr": float(stderr), "seconds": seconds}


def _gemact_frequency(freq: FrequencyLike) -> tuple[str, dict[str, Any]]:
    """gemact's name and parameters for one of our frequencies."""
    if isinstance(freq, Poisson):
        return "poisson", {"mu": float(freq.lam)}
    if isinstance(freq, NegativeBinomial):
        # gemact's nbinom is scipy's (failures before the n-th success) but casts n to int, n >= 1.
        n = round(freq.n)
        if n < 1 or not math.isclose(freq.n, n, rel_tol=0, abs_tol=1e-9):
            raise ValueError(
                f"gemact's negative binomial needs an integer n >= 1, got n={freq.n:g} "
                "(choose n_policies so that n * n_policies is a whole number)"
            )
        return "nbinom", {"n": int(n), "p": float(freq.p)}
    if isinstance(freq, Binomial):
        return "binom", {"n": int(freq.n), "p": float(freq.p)}
    raise TypeError(f"frequency must be a Poisson, NegativeBinomial or Binomial, got {type(freq).__name__}")


def _gemact_severity(sev: SeverityLike) -> tuple[str, dict[str, Any]]:
    """gemact's name and parameters for one of our severities."""
    if isinstance(sev, Gamma):
        return "gamma", {"a": float(sev.shape), "scale": float(sev.scale)}
    if isinstance(sev, Lognormal):
        return "lognormal", {"shape": float(sev.sigma), "scale": math.exp(sev.mu)}
    if isinstance(sev, Pareto):
        # gemact's pareto2 is genpareto(c=1/shape, scale=scale/shape): survival (scale / (x + scale))**shape.
        return "pareto2", {"shape": float(sev.shape), "scale": float(sev.scale), "min": 0.0}
    if isinstance(sev, Exponential):
        # gemact's exponential takes the rate theta, not the mean.
        return "exponential", {"theta": 1.0 / sev.scale}
    if isinstance(sev, Weibull):
        return "weibull", {"c": float(sev.shape), "scale": float(sev.scale)}
    raise TypeError(f"severity must be a Gamma, Lognormal, Pareto, Exponential or Weibull, got {type(sev).__name__}")


def gemact_aggregate(
    frequency: FrequencyLike,
    severity: SeverityLike,
    *,
    n_policies: int = 1,
    deductible: float = 0.0,
    limit: float = math.inf,
    n_sims: int,
    seed: int,
    levels: Sequence[float] = (0.95, 0.99, 0.995),
) -> dict[str, float]:
    """Simulate a compound aggregate loss with gemact's Monte Carlo ``LossModel``.

    ``n_policies`` identical policies without aggregate terms are one compound draw with
    the pooled frequency. Each occurrence pays ``min(max(X - deductible, 0), limit)``,
    which is gemact's ``Layer(deductible=deductible, cover=limit)``: gemact thins the
    frequency to the claims above the deductible and samples their sizes from the
    severity conditional on exceeding it.

    Returns:
        ``mean``, ``std`` (population, of the ``n_sims`` years), ``mean_stderr``, then
        ``VaR_<level>`` (lower empirical quantile, gemact's ``ppf``) and ``TVaR_<level>``
        (``VaR + E[(S - VaR)+] / (1 - level)``, the mean of the worst ``1 - level`` of
        the years; gemact has no TVaR) for each level, and ``seconds``, the wall time
        of gemact's simulation alone.
    """
    n_policies = _check_count("n_policies", n_policies, 1)
    n_sims = _check_count("n_sims", n_sims, 2)
    seed = _check_count("seed", seed, 0)
    if not isinstance(deductible, numbers.Real) or not 0 <= deductible < math.inf:
        raise ValueError(f"deductible must be a finite real number >= 0, got {deductible!r}")
    if not isinstance(limit, numbers.Real) or not limit > 0:
        raise ValueError(f"limit must be a real number > 0 (math.inf for none), got {limit!r}")
    levels = tuple(float(v) for v in levels)
    if not levels or not all(0 < v < 1 for v in levels):
        raise ValueError(f"levels must be one or more risk levels in (0, 1), got {levels!r}")
    if not isinstance(frequency, (Poisson, NegativeBinomial, Binomial)):
        raise TypeError(f"frequency must be a Poisson, NegativeBinomial or Binomial, got {type(frequency).__name__}")
    freq_name, freq_par = _gemact_frequency(frequency.pooled(n_policies))
    sev_name, sev_par = _gemact_severity(severity)
    if not severity.scipy().sf(deductible) > 0:
        # gemact thins the frequency by P(X > deductible) and rejects a zero rate.
        raise ValueError(f"deductible {deductible:g} is beyond the severity's support: no claim ever reaches the layer")

    gemact = _import_peer("gemact")
    # gemact logs INFO lines to stderr through twiggy (its dependency); its LossModel logger is muted below.
    from gemact import lossmodel
    from twiggy import levels as log_levels

    layer = gemact.Layer(deductible=float(deductible), cover=float(limit))
    saved_level = lossmodel.logger.min_level
    lossmodel.logger.min_level = log_levels.ERROR
    try:
        # Built without a method (no simulation), then simulated alone inside the timed region.
        model = gemact.LossModel(
            frequency=gemact.Frequency(dist=freq_name, par=freq_par),
            severity=gemact.Severity(dist=sev_name, par=sev_par),
            policystructure=gemact.PolicyStructure(layers=layer),
            aggr_loss_dist_method=None,
        )
        start = time.perf_counter()
        model.dist_calculate(aggr_loss_dist_method="mc", n_sim=n_sims, random_state=seed)
        seconds = time.perf_counter() - start
    finally:
        lossmodel.logger.min_level = saved_level

    dist = model.dist[0]
    std = float(dist.std())
    out = {"mean": float(dist.mean()), "std": std, "mean_stderr": std / math.sqrt(n_sims)}
    nodes, pmf = dist.nodes, dist.pmf
    for level in levels:
        var = float(dist.ppf(level))
        excess = float(((nodes - var).clip(min=0) * pmf).sum())
        out[f"VaR_{level:g}"] = var
        out[f"TVaR_{level:g}"] = var + excess / (1 - level)
    out["seconds"] = seconds
    return out


def peer_versions() -> dict[str, str | None]:
    """Installed versions of the peers (``None`` for one not installed)."""
    versions: dict[str, str | None] = {}
    for name, dists in (("QuantLib", ("QuantLib", "QuantLib-Python")), ("gemact", ("gemact",))):
        versions[name] = None
        for dist in dists:
            try:
                versions[name] = importlib.metadata.version(dist)
                break
            except importlib.metadata.PackageNotFoundError:
                continue
    return versions
