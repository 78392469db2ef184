"""FFT peers for the aggregate-loss benchmark: gemact's and the ``aggregate`` package's FFT.

Each peer computes the compound distribution of a :class:`kernels.Portfolio`'s annual loss on a
grid of ``nodes`` points spaced ``step`` apart, and returns ``mean``, ``std``, ``VaR_<p>`` and
``TVaR_<p>`` for the portfolio's levels with the kernels' definitions (:func:`estimates_from_cdf`):
VaR_p is the smallest grid loss ``x`` with ``P(L <= x) >= p``, and
``TVaR_p = VaR_p + E[(L - VaR_p)^+] / (1 - p)``.

What each peer is given mirrors :class:`kernels.PolicyTerms` exactly: an occurrence of ground-up
size ``X`` pays ``min(max(X - deductible, 0), limit)`` (the limit caps the *payment*: the layer is
"``limit`` xs ``deductible``"), a policy's year pays ``min(max(S - aggregate_deductible, 0),
aggregate_limit)``, and a group of ``n_policies`` without aggregate terms is one compound sum with
the pooled frequency.

* gemact (``LossModel(aggr_loss_dist_method="fft")``): one frequency x one severity with a
  ``Layer(deductible=d, cover=limit, aggr_deductible=ad, aggr_cover=al)``; gemact thins the
  frequency to the claims above the deductible and discretises the severity by local moments at
  the step ``limit / (n_sev_discr_nodes - 1)``, so the step is rounded to divide the limit. It has
  no FFT for several groups (``LossAggregation`` sums lines by AEP or Monte Carlo) and no way to
  sum several policies that each have aggregate terms: those shapes are "n/a" (:func:`unsupported`).
* aggregate (``Aggregate(...).update(log2, bs)``; a ``Portfolio`` of several ``Aggregate`` for
  several groups): severity discretised by rounding (its default ``sev_calc="discrete"``), FFT
  padded to twice the grid (its default ``padding=1``), unconditional severity
  (``sev_conditional=False``) so that the frequency counts ground-up occurrences as ours does,
  per-unit aggregate terms as ``agg_reins=[(1, aggregate_limit, aggregate_deductible)]`` "ceded to",
  ``approximation="exact"`` (never its moment-matched shortcut for large counts) and no allocation
  columns (``add_exa=False``). ``n_policies`` policies with aggregate terms are ``n_policies``
  identical units of the Portfolio (up to :data:`MAX_AGGREGATE_UNITS`).

:func:`refine` chooses a grid for a requested relative accuracy the way a user without a reference
would: it halves the step and doubles the span until neither changes the named estimate by more
than ``rtol``, and times the whole search. A :class:`Peer` is built once per portfolio (its
``setup_s``, e.g. aggregate's severity statistics) and then run on any grid.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from kernels import (
    Binomial,
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
from kernels._analytic import portfolio_moments

from .peers import _gemact_frequency, _gemact_severity, _import_peer

__all__ = [
    "MAX_AGGREGATE_UNITS",
    "PEERS",
    "AggregateFFT",
    "GemactFFT",
    "Peer",
    "PeerRun",
    "Search",
    "aggregate_fft",
    "default_span",
    "estimates_from_cdf",
    "estimates_from_pmf",
    "gemact_fft",
    "refine",
    "unsupported",
    "without_aggregate_terms",
]

MAX_AGGREGATE_UNITS = 64
"""The most ``Aggregate`` units the aggregate peer builds (one per policy with aggregate terms)."""
CDF_SLACK = 1e-12
"""VaR reads ``cdf >= level - CDF_SLACK``: the FFT's rounding noise must not move it one node."""


@dataclass
class PeerRun:
    """One peer's answer on one grid."""

    peer: str
    estimates: dict[str, float]
    seconds: float  # the peer's computation alone (objects built outside the timed region)
    step: float  # the step actually used (gemact rounds it to divide the limit)
    nodes: int
    mass: float  # probability on the grid (1 minus what fell off or was lost)

    def to_dict(self) -> dict[str, Any]:
        return {"peer": self.peer, "estimates": self.estimates, "seconds": self.seconds, "step": self.step,
                "nodes": self.nodes, "mass": self.mass}


# --------------------------------------------------------------------------- estimates


def estimates_from_cdf(x: np.ndarray, cdf: np.ndarray, levels: Sequence[float]) -> dict[str, float]:
    """``mean``, ``std``, ``VaR_<p>``, ``TVaR_<p>`` of a discrete distribution given by its sorted nodes and cdf.

    The cdf is clipped to [0, 1] and made non-decreasing (FFT noise), and its last value is taken as 1
    (mass lost off the grid is not put anywhere).
    """
    x = np.asarray(x, dtype=float)
    cdf = np.maximum.accumulate(np.clip(np.asarray(cdf, dtype=float), 0.0, 1.0))
    pmf = np.diff(cdf, prepend=0.0)
    total = float(pmf.sum())
    pmf = pmf / total
    cdf = cdf / total
    # np.sum of products, not ``@``: a BLAS dot is multi-threaded by OpenBLAS and, on a loaded machine,
    # costs milliseconds per call from about 16k points, which would be charged to the peers' times.
    mean = float(np.sum(pmf * x))
    out = {"mean": mean, "std": math.sqrt(max(float(np.sum(pmf * (x - mean) ** 2)), 0.0))}
    for level in levels:
        i = min(int(np.searchsorted(cdf, level - CDF_SLACK)), len(x) - 1)
        var = float(x[i])
        out[f"VaR_{level:g}"] = var
        out[f"TVaR_{level:g}"] = var + float(np.sum(pmf[i + 1:] * (x[i + 1:] - var))) / (1 - level)
    return out


def estimates_from_pmf(pmf: np.ndarray, step: float, levels: Sequence[float]) -> dict[str, float]:
    """:func:`estimates_from_cdf` for a pmf on the grid ``step * arange(len(pmf))``."""
    pmf = np.asarray(pmf, dtype=float)
    return estimates_from_cdf(step * np.arange(len(pmf)), np.cumsum(np.clip(pmf, 0.0, None)), levels)


# --------------------------------------------------------------------------- what each peer can represent


def _needs_units(group: PolicyGroup) -> int:
    """Compound sums the group is for a peer: 1 when pooled, else one per policy."""
    return 1 if group.pooled else group.n_policies


def unsupported(peer: str, portfolio: Portfolio) -> str | None:
    """Why ``peer`` cannot represent ``portfolio`` (None when it can)."""
    if peer == "gemact":
        if len(portfolio.groups) > 1:
            return ("gemact's FFT is one frequency x one severity (LossModel); it sums several lines only by "
                    "AEP or Monte Carlo (LossAggregation)")
        (group,) = portfolio.groups
        if not group.pooled and group.n_policies > 1:
            return (f"gemact applies aggregate terms to one compound sum; {group.n_policies} policies that each "
                    "have them are a sum of several")
        freq = group.frequency.pooled(group.n_policies) if group.pooled else group.frequency
        if isinstance(freq, NegativeBinomial) and not math.isclose(freq.n, round(freq.n), abs_tol=1e-9):
            return f"gemact's negative binomial needs an integer n, got {freq.n:g}"
        return None
    if peer == "aggregate":
        units = sum(_needs_units(g) for g in portfolio.groups)
        if units > MAX_AGGREGATE_UNITS:
            return (f"aggregate would need one unit per policy with aggregate terms: {units} units, over "
                    f"{MAX_AGGREGATE_UNITS}")
        return None
    raise ValueError(f"unknown peer {peer!r}; expected one of {sorted(PEERS)}")


def without_aggregate_terms(portfolio: Portfolio) -> Portfolio:
    """The portfolio with every per-policy aggregate term removed (an upper bound of its losses)."""
    groups = [replace(g, terms=PolicyTerms(g.terms.deductible, g.terms.limit)) for g in portfolio.groups]
    return Portfolio(groups, levels=portfolio.levels)


def default_span(portfolio: Portfolio, sds: float = 12.0) -> float:
    """A loss beyond which the grid may stop: ``mean + sds * std`` of the portfolio without aggregate terms.

    Aggregate terms only lower losses, so the unlimited portfolio's moments bound the span from above.
    Capped by the kernels' plausible ceiling (:meth:`PolicyGroup.loss_ceiling`), which bounds every group.
    """
    mean, var = portfolio_moments(without_aggregate_terms(portfolio))
    ceiling = sum(g.loss_ceiling() for g in portfolio.groups)
    return min(mean + sds * math.sqrt(var), ceiling)


# --------------------------------------------------------------------------- gemact


@contextlib.contextmanager
def _gemact_quiet() -> Iterator[Any]:
    _import_peer("gemact")
    from gemact import lossmodel
    from twiggy import levels as log_levels

    saved = lossmodel.logger.min_level
    lossmodel.logger.min_level = log_levels.ERROR
    try:
        yield lossmodel
    finally:
        lossmodel.logger.min_level = saved


class Peer:
    """One peer's model of one portfolio, built once (``setup_s``), run on any grid by calling it.

    Subclasses build in :meth:`_build` and compute in :meth:`_run`; a call times the computation alone.
    """

    name = ""

    def __init__(self, portfolio: Portfolio) -> None:
        why = unsupported(self.name, portfolio)
        if why:
            raise ValueError(why)
        self.portfolio = portfolio
        start = time.perf_counter()
        self._build()
        self.setup_s = time.perf_counter() - start

    def _build(self) -> None:
        raise NotImplementedError

    def __call__(self, step: float, nodes: int) -> PeerRun:
        raise NotImplementedError


class GemactFFT(Peer):
    """gemact's FFT on ``nodes`` aggregate nodes; the step is rounded so that it divides a finite limit.

    gemact needs at least as many aggregate nodes as severity nodes: a grid shorter than the limit
    is lengthened to hold it (the run's ``nodes`` says how many were used).
    """

    name = "gemact"

    def _build(self) -> None:
        (group,) = self.portfolio.groups
        terms = self.terms = group.terms
        freq_name, freq_par = _gemact_frequency(group.frequency.pooled(group.n_policies) if group.pooled
                                                else group.frequency)
        sev_name, sev_par = _gemact_severity(group.severity)
        with _gemact_quiet() as lossmodel:
            layer = lossmodel.Layer(cover=terms.limit, deductible=terms.deductible, aggr_cover=terms.aggregate_limit,
                                    aggr_deductible=terms.aggregate_deductible)
            self.model = lossmodel.LossModel(
                frequency=lossmodel.Frequency(dist=freq_name, par=freq_par),
                severity=lossmodel.Severity(dist=sev_name, par=sev_par),
                policystructure=lossmodel.PolicyStructure(layers=layer), aggr_loss_dist_method=None,
            )

    def __call__(self, step: float, nodes: int) -> PeerRun:
        limit = self.terms.limit
        if math.isfinite(limit):
            n_sev = max(2, round(limit / step) + 1)
            used_step, extra = limit / (n_sev - 1), {}
            nodes = max(int(nodes), n_sev)  # gemact wants the grid to hold the whole severity
        else:
            n_sev = int(nodes)  # the severity on the whole aggregate grid
            used_step, extra = step, {"sev_discr_step": step}
        with _gemact_quiet():
            start = time.perf_counter()
            self.model.dist_calculate(aggr_loss_dist_method="fft", n_aggr_dist_nodes=int(nodes),
                                      sev_discr_method="localmoments", n_sev_discr_nodes=int(n_sev), **extra)
            x = np.asarray(self.model.dist[0].nodes, dtype=float)
            cdf = np.asarray(self.model.dist[0].cumprobs, dtype=float)
            estimates = estimates_from_cdf(x, cdf, self.portfolio.levels)
            seconds = time.perf_counter() - start
        return PeerRun(self.name, estimates, seconds, used_step, int(nodes), float(cdf[-1]))


def gemact_fft(portfolio: Portfolio, step: float, nodes: int) -> PeerRun:
    """:class:`GemactFFT` built and run once (the build is not timed).

    Raises:
        ValueError: gemact cannot represent the portfolio (see :func:`unsupported`).
    """
    return GemactFFT(portfolio)(step, nodes)


# --------------------------------------------------------------------------- aggregate


def _aggregate_frequency(freq: Poisson | NegativeBinomial | Binomial) -> dict[str, Any]:
    """aggregate's frequency keywords: the mean as ``exp_en``; its ``freq_a`` is the NB variance multiplier
    (1/p in scipy's convention) and the binomial's p."""
    if isinstance(freq, Poisson):
        return {"exp_en": freq.lam, "freq_name": "poisson"}
    if isinstance(freq, NegativeBinomial):
        return {"exp_en": freq.mean(), "freq_name": "negbin", "freq_a": 1.0 / freq.p}
    if isinstance(freq, Binomial):
        return {"exp_en": freq.mean(), "freq_name": "binomial", "freq_a": freq.p}
    raise TypeError(f"frequency must be a Poisson, NegativeBinomial or Binomial, got {type(freq).__name__}")


def _aggregate_severity(sev: Gamma | Lognormal | Pareto | Exponential | Weibull) -> dict[str, Any]:
    """aggregate's severity keywords (scipy.stats names, shape ``sev_a``, ``sev_scale``, ``sev_loc``)."""
    if isinstance(sev, Gamma):
        return {"sev_name": "gamma", "sev_a": sev.shape, "sev_scale": sev.scale}
    if isinstance(sev, Lognormal):
        return {"sev_name": "lognorm", "sev_a": sev.sigma, "sev_scale": math.exp(sev.mu)}
    if isinstance(sev, Pareto):
        # scipy's pareto(b, loc=-s, scale=s) has survival (s / (x + s))**b: the Lomax.
        return {"sev_name": "pareto", "sev_a": sev.shape, "sev_scale": sev.scale, "sev_loc": -sev.scale}
    if isinstance(sev, Exponential):
        return {"sev_name": "expon", "sev_scale": sev.scale}
    if isinstance(sev, Weibull):
        return {"sev_name": "weibull_min", "sev_a": sev.shape, "sev_scale": sev.scale}
    raise TypeError(f"severity must be a Gamma, Lognormal, Pareto, Exponential or Weibull, got {type(sev).__name__}")


def _aggregate_units(portfolio: Portfolio) -> list[Any]:
    agg = _import_peer("aggregate")
    units = []
    for i, group in enumerate(portfolio.groups):
        terms = group.terms
        freq = group.frequency.pooled(group.n_policies) if group.pooled else group.frequency
        spec: dict[str, Any] = {**_aggregate_frequency(freq), **_aggregate_severity(group.severity),
                                "exp_attachment": terms.deductible, "exp_limit": terms.limit,
                                "sev_conditional": False}
        if terms.has_aggregate_terms:
            spec.update(agg_reins=[(1.0, terms.aggregate_limit, terms.aggregate_deductible)], agg_kind="ceded to")
        for j in range(_needs_units(group)):
            units.append(agg.Aggregate(name=f"g{i}p{j}", **spec))
    return units


class AggregateFFT(Peer):
    """aggregate's FFT on ``nodes`` (a power of 2) buckets of size ``step``."""

    name = "aggregate"

    def _build(self) -> None:
        agg = _import_peer("aggregate")
        units = _aggregate_units(self.portfolio)
        self.model = units[0] if len(units) == 1 else agg.Portfolio("bench", units)

    def __call__(self, step: float, nodes: int) -> PeerRun:
        log2 = int(nodes).bit_length() - 1
        if nodes < 2 or 1 << log2 != nodes:
            raise ValueError(f"aggregate needs a power-of-2 number of nodes, got {nodes}")
        start = time.perf_counter()
        if isinstance(self.model, _import_peer("aggregate").Aggregate):
            self.model.update(log2=log2, bs=float(step), approximation="exact")
            pmf = np.asarray(self.model.agg_density, dtype=float)
        else:
            self.model.update(log2=log2, bs=float(step), approximation="exact", add_exa=False)
            pmf = self.model.density_df["p_total"].to_numpy(dtype=float)
        estimates = estimates_from_pmf(pmf, step, self.portfolio.levels)
        seconds = time.perf_counter() - start
        return PeerRun(self.name, estimates, seconds, float(step), int(nodes), float(pmf.sum()))


def aggregate_fft(portfolio: Portfolio, step: float, nodes: int) -> PeerRun:
    """:class:`AggregateFFT` built and run once (the build is not timed).

    Raises:
        ValueError: ``nodes`` is not a power of 2, or aggregate cannot represent the portfolio.
    """
    return AggregateFFT(portfolio)(step, nodes)


PEERS: dict[str, type[Peer]] = {"gemact": GemactFFT, "aggregate": AggregateFFT}


# --------------------------------------------------------------------------- choosing a grid


@dataclass
class Search:
    """A grid search to self-agreement: every grid tried, in order, and the whole search's time."""

    runs: list[PeerRun] = field(default_factory=list)
    seconds: float = 0.0  # every run of the search (not the peer's one-off setup)
    setup_s: float = 0.0  # the peer's one-off model build (Peer.setup_s), 0 for a plain function
    converged: bool = False
    estimate: str = ""
    rtol: float = 0.0

    @property
    def final(self) -> PeerRun:
        return self.runs[-1]

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "setup_s": self.setup_s, "converged": self.converged,
                "estimate": self.estimate, "rtol": self.rtol, "runs": [r.to_dict() for r in self.runs]}


def _agree(a: float, b: float, rtol: float) -> bool:
    return abs(a - b) <= rtol * max(abs(a), abs(b))


def refine(run: Callable[[float, int], PeerRun], portfolio: Portfolio, estimate: str, rtol: float, *,
           span: float | None = None, start_nodes: int = 1 << 8, max_nodes: int = 1 << 22) -> Search:
    """Refine the grid until halving the step and doubling the span each change ``estimate`` by at most ``rtol``.

    From ``start_nodes`` points over ``span`` (default :func:`default_span` with 8 standard deviations),
    each round runs the grid with half the step and the grid with twice the span (same step); a change
    beyond ``rtol`` halves the step or doubles the span (or both) of the current grid. The answer is
    the last current grid, the one both checks agreed with. ``seconds`` is the wall time of the
    whole search, every run included (a :class:`Peer`'s one-off build is its ``setup_s``, kept apart);
    ``converged`` is False when ``max_nodes`` came first.
    """
    span = default_span(portfolio, sds=8.0) if span is None else span
    nodes = start_nodes
    search = Search(estimate=estimate, rtol=rtol, setup_s=float(getattr(run, "setup_s", 0.0)))
    start = time.perf_counter()
    current = run(span / nodes, nodes)
    tried = [current]
    while 2 * nodes <= max_nodes:
        value = current.estimates[estimate]
        finer = run(span / (2 * nodes), 2 * nodes)
        wider = run(span / nodes, 2 * nodes)
        tried += [finer, wider]
        step_ok = _agree(finer.estimates[estimate], value, rtol)
        span_ok = _agree(wider.estimates[estimate], value, rtol)
        if step_ok and span_ok:
            search.converged = True
            break
        if not step_ok and not span_ok:
            if 4 * nodes > max_nodes:
                break
            span, nodes = 2 * span, 4 * nodes
            current = run(span / nodes, nodes)
            tried.append(current)
        elif not step_ok:
            nodes, current = 2 * nodes, finer
        else:
            span, nodes, current = 2 * span, 2 * nodes, wider
    search.seconds = time.perf_counter() - start
    search.runs = [*(r for r in tried if r is not current), current]
    return search
