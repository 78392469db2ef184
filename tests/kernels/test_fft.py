"""Aggregate losses by FFT (``Config(method="fft")``): pgfs, discretisation, error control, agreement."""

from __future__ import annotations

import itertools
import math
import warnings
import zlib

import numpy as np
import pytest

import kernels as k
from kernels._analytic import layer_moments, portfolio_moments

FREQUENCIES = {"poisson": k.Poisson(2.5), "negative_binomial": k.NegativeBinomial(3.0, 0.55),
               "binomial": k.Binomial(6, 0.4)}
SEVERITIES = {"gamma": k.Gamma(2.0, 800.0), "lognormal": k.Lognormal(6.5, 1.1), "pareto": k.Pareto(2.5, 1500.0),
              "exponential": k.Exponential(900.0), "weibull": k.Weibull(0.8, 700.0)}
TERMS = {
    "none": k.PolicyTerms(),
    "layer": k.PolicyTerms(deductible=250.0, limit=4000.0),
    "aggregate": k.PolicyTerms(aggregate_deductible=300.0, aggregate_limit=6000.0),
    "both": k.PolicyTerms(deductible=100.0, limit=3000.0, aggregate_deductible=200.0, aggregate_limit=5000.0),
}
FFT = k.Config(method="fft")


def one_group(freq: k.Frequency, sev: k.Severity, terms: k.PolicyTerms, n: int = 3) -> k.Portfolio:
    return k.Portfolio([k.PolicyGroup(n, freq, sev, terms)])


# --------------------------------------------------------------------------- pgfs


@pytest.mark.parametrize("family", sorted(FREQUENCIES))
def test_pgf_is_the_series_of_the_probabilities(family: str) -> None:
    freq = FREQUENCIES[family]
    z = 0.97 * np.exp(2j * np.pi * np.arange(16) / 16)
    counts = np.arange(400)
    series = (freq.scipy().pmf(counts)[None, :] * z[:, None] ** counts).sum(axis=1)
    assert np.abs(freq.pgf(z) - series).max() < 1e-13
    assert freq.pgf(np.array([1.0 + 0j]))[0] == pytest.approx(1.0, abs=1e-15)
    # Pooling n copies multiplies transforms: pgf_pooled = pgf ** n.
    assert np.abs(freq.pooled(7).pgf(z) - freq.pgf(z) ** 7).max() < 1e-12


def test_pgf_keeps_its_digits_for_millions_of_policies() -> None:
    """Near z = 1 the log1p form matters: the phase of pgf(exp(i t)) is t times the mean count."""
    t = 1e-10
    for freq in (k.Binomial(2, 0.3).pooled(5_000_000), k.NegativeBinomial(1.5, 0.9).pooled(5_000_000)):
        value = freq.pgf(np.array([np.exp(1j * t)]))[0]
        assert np.angle(value) / t == pytest.approx(freq.mean(), rel=1e-6)
        u = 1e-5
        assert -2 * np.log(abs(freq.pgf(np.array([np.exp(1j * u)]))[0])) / u**2 == pytest.approx(freq.var(), rel=1e-3)


# --------------------------------------------------------------------------- discretisation


@pytest.mark.parametrize(("family", "terms"), list(itertools.product(sorted(SEVERITIES), ["none", "layer"])))
def test_moment_matching_keeps_mass_and_mean(family: str, terms: str) -> None:
    sev, t = SEVERITIES[family], TERMS[terms]
    step, points = 3.7, 2**15  # the grid reaches ~121,000: beyond every tail here
    f = k.discretise_layer(sev, t.deductible, t.limit, step, points, "moments")
    mean, _ = layer_moments(sev, t.deductible, t.limit)
    beyond = 0.0 if t.limit < step * (points - 1) else float(sev.scipy().sf(t.deductible + step * (points - 1)))
    assert f.min() >= 0
    assert f.sum() == pytest.approx(1 - beyond, abs=1e-12)
    x = step * np.arange(points)
    if beyond < 1e-12:
        assert f @ x == pytest.approx(mean, rel=1e-10)  # exactly preserved, unlike rounding
    # The atom at 0 (X <= deductible) plus part of the first cell.
    assert sev.scipy().cdf(t.deductible) - 1e-12 <= f[0] <= sev.scipy().cdf(t.deductible + step)


@pytest.mark.parametrize("family", sorted(SEVERITIES))
def test_rounding_keeps_mass_and_converges_to_the_mean(family: str) -> None:
    sev, t = SEVERITIES[family], TERMS["layer"]
    mean, _ = layer_moments(sev, t.deductible, t.limit)
    errors = []
    for step in (40.0, 20.0):
        f = k.discretise_layer(sev, t.deductible, t.limit, step, 4096, "rounding")
        assert f.sum() == pytest.approx(1.0, abs=1e-12)
        errors.append(abs(f @ (step * np.arange(4096)) - mean))
    assert errors[1] < 0.75 * errors[0]


def test_the_atom_at_the_limit_is_split_around_it() -> None:
    sev = k.Exponential(1000.0)
    f = k.discretise_layer(sev, 0.0, 1050.0, 100.0, 64, "moments")
    at_limit = math.exp(-1.05)
    assert f[12:].sum() == 0.0  # nothing beyond the limit's right neighbour
    assert f[11] >= 0.5 * at_limit  # half the atom, plus the cell [1000, 1050]'s share
    assert f @ (100.0 * np.arange(64)) == pytest.approx(layer_moments(sev, 0.0, 1050.0)[0], rel=1e-12)


# --------------------------------------------------------------------------- config and errors


@pytest.mark.parametrize("changes", [{"backend": "numba"}, {"precision": "float32"}, {"qmc": True},
                                     {"workers": 2, "executor": "threads"}, {"chunk_size": 1024},
                                     {"antithetic": True}])
def test_fft_rejects_monte_carlo_knobs(changes: dict) -> None:
    with pytest.raises(ValueError, match="Config"):
        k.Config(method="fft", **changes)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match=r"Config\.method"):
        k.Config(method="panjer")
    with pytest.raises(ValueError, match=r"discretisation.*applies to method='fft'"):
        k.Config(discretisation="rounding")
    with pytest.raises(ValueError, match="Portfolio"):
        k.simulate(k.EuropeanOption(100, 100, 1, 0.01, 0.2), config=FFT, target=k.Target(atol=0.01))
    book = one_group(k.Poisson(1.0), k.Gamma(2, 100), k.PolicyTerms())
    with pytest.raises(ValueError, match="n_sims does not apply"):
        k.simulate(book, 10_000, config=FFT)
    with pytest.raises(ValueError, match=r"Target\.estimate"):
        k.simulate(book, config=FFT, target=k.Target(rtol=1e-3, estimate="price"))
    with pytest.raises(ValueError, match="max_sims"):
        k.simulate(book, config=FFT, max_sims=3)
    assert FFT.label() == "fft/numpy"
    assert k.Config.from_dict(FFT.to_dict()) == FFT


def test_a_target_out_of_reach_names_what_is_too_large() -> None:
    """A tight VaR (its step) over a tail reaching 1e10 (the extent) is more than 64 MiB can hold."""
    heavy = one_group(k.Poisson(2.0), k.Pareto(0.6, 100.0), k.PolicyTerms(limit=1e10), n=1)
    k.set_memory_limit(64 * 2**20)
    try:
        with pytest.raises(k.GridTooLargeError, match=r"Portfolio.groups\[0\].*Pareto.*method='mc'"):
            k.simulate(heavy, config=FFT, target=k.Target(rtol=1e-5, estimate="VaR_0.95"))
    finally:
        k.set_memory_limit(None)


def test_a_cap_stops_the_grid_with_a_warning() -> None:
    book = one_group(k.Poisson(3.0), k.Lognormal(7.0, 1.0), k.PolicyTerms(limit=50_000.0))
    target = k.Target(rtol=1e-6, estimate="TVaR_0.99")
    with pytest.warns(k.TargetNotMetWarning, match="max_sims"):
        res = k.simulate(book, config=FFT, target=target, max_sims=4096)
    assert res.target_met is False and res.n_sims <= 4096
    assert res.half_widths["TVaR_0.99"] > target.tolerance("TVaR_0.99", res["TVaR_0.99"])


# --------------------------------------------------------------------------- error control


def reference(portfolio: k.Portfolio, step: float, points: int) -> dict[str, float]:
    return k.aggregate_distribution(portfolio, step, points).estimates(portfolio.levels)


@pytest.mark.parametrize("rtol", [1e-2, 1e-3, 1e-4])
@pytest.mark.parametrize("shape", ["light", "aggregate", "pareto"])
def test_the_reported_error_covers_the_true_error(shape: str, rtol: float) -> None:
    book = {
        "light": one_group(k.Poisson(3.0), k.Gamma(2.0, 1000.0), k.PolicyTerms(deductible=500, limit=5000), n=1),
        "aggregate": one_group(k.NegativeBinomial(2.0, 0.5), k.Lognormal(6.0, 1.0), TERMS["both"], n=4),
        "pareto": one_group(k.Poisson(4.0), k.Pareto(1.3, 1000.0), k.PolicyTerms(limit=200_000.0), n=1),
    }[shape]
    target = k.Target(rtol=rtol, estimate=("mean", "TVaR_0.99", "VaR_0.99"))
    res = k.simulate(book, config=FFT, target=target)
    assert res.target_met is True
    assert res.standard_errors == {} and res.grid is not None and res.grid.points == res.n_sims
    # A grid 16x finer and 4x wider than anything the run used.
    ref = reference(book, res.grid.step / 16, 64 * res.grid.points)
    for name in target.names(book):
        assert abs(res[name] - ref[name]) <= res.error_bounds[name], name
        assert res.half_width(name) == res.error_bounds[name] <= target.tolerance(name, res[name])


@pytest.mark.parametrize("family", sorted(SEVERITIES))
@pytest.mark.parametrize("terms", [(0.0, math.inf, 300.0, 6000.0), (100.0, 3333.3, 210.0, 5100.7)])
def test_error_estimates_cover_every_statistic(family: str, terms: tuple) -> None:
    """Off-grid atoms (odd limits), aggregate terms and unlimited tails: no statistic's error exceeds its estimate."""
    d, u, ad, au = terms
    if family == "pareto" and u == math.inf:
        u = 1e6  # a Pareto tail beyond 1e6 would fail the workload's loss ceiling
    book = one_group(k.NegativeBinomial(3.0, 0.55), SEVERITIES[family], k.PolicyTerms(d, u, ad, au))
    names = k._estimators.estimate_names(book)
    res = k.simulate(book, config=FFT, target=k.Target(rtol=1e-2, estimate=names))
    ref = reference(book, res.grid.step / 16, 64 * res.grid.points)
    for name in names:
        assert abs(res[name] - ref[name]) <= res.error_bounds[name], name


def test_the_default_accuracy_and_tighter_targets_take_more_points() -> None:
    book = one_group(k.Poisson(3.0), k.Weibull(0.9, 1000.0), k.PolicyTerms(limit=20_000.0))
    sizes = [k.simulate(book, config=FFT, target=k.Target(rtol=r, estimate="TVaR_0.99")).n_sims
             for r in (1e-2, 1e-5)]
    assert sizes[0] < sizes[1]
    default = k.simulate(book, config=FFT)
    assert default.target is None and default.target_met is None
    for name, value in default.estimates.items():
        assert default.error_bounds[name] <= k.DEFAULT_FFT_RTOL * max(abs(value), default["mean"])


def test_the_mean_is_exact_without_aggregate_terms() -> None:
    book = k.Portfolio([k.PolicyGroup(10, FREQUENCIES[f], SEVERITIES[s], TERMS["layer"])
                        for f, s in (("poisson", "gamma"), ("binomial", "pareto"), ("negative_binomial", "weibull"))])
    mean, var = portfolio_moments(book)
    res = k.simulate(book, config=FFT, target=k.Target(rtol=1e-6, estimate=("mean", "std")))
    assert res["mean"] == pytest.approx(mean, rel=1e-6)
    assert res["std"] == pytest.approx(math.sqrt(var), rel=1e-6)


def test_jax_computes_the_same_distribution() -> None:
    book = k.Portfolio([k.PolicyGroup(3, k.NegativeBinomial(2.0, 0.5), k.Lognormal(6.0, 1.0), TERMS["both"]),
                        k.PolicyGroup(20, k.Poisson(0.3), k.Gamma(2.0, 500.0), TERMS["layer"])])
    a = k.aggregate_distribution(book, 25.0, 2**12)
    b = k.aggregate_distribution(book, 25.0, 2**12, backend="jax")
    assert np.abs(a.pmf - b.pmf).max() < 1e-12
    res = k.simulate(book, config=k.Config(method="fft", backend="jax"), target=k.Target(rtol=1e-3))
    assert res.target_met and res.config.backend == "jax"


# --------------------------------------------------------------------------- against Monte Carlo


CASES = [(f, s, t) for (f, s), t in zip(itertools.product(sorted(FREQUENCIES), sorted(SEVERITIES)),
                                        itertools.cycle(sorted(TERMS)), strict=False)]
CASES += [("poisson", "lognormal", t) for t in sorted(TERMS)]


@pytest.mark.parametrize(("freq", "sev", "terms"), CASES)
def test_fft_agrees_with_monte_carlo(freq: str, sev: str, terms: str) -> None:
    """Every frequency x severity family and every combination of terms, within 4 SE (plus the FFT's error)."""
    book = one_group(FREQUENCIES[freq], SEVERITIES[sev], TERMS[terms])
    if TERMS[terms].limit == math.inf and sev == "pareto":
        # A limit keeps Monte Carlo's standard errors (of the std, by the delta method) trustworthy.
        book = one_group(FREQUENCIES[freq], SEVERITIES[sev], k.PolicyTerms(limit=1e5))
    fft = k.simulate(book, config=FFT, target=k.Target(rtol=1e-4, estimate=k._estimators.estimate_names(book)))
    mc = k.simulate(book, 200_000, seed=zlib.crc32(f"{freq}-{sev}-{terms}".encode()))  # fixed, unlike hash()
    for name, value in fft.estimates.items():
        assert abs(value - mc[name]) <= 4 * mc.standard_errors[name] + fft.error_bounds[name], name


def test_several_groups_multiply_their_transforms() -> None:
    groups = [k.PolicyGroup(5, k.Poisson(0.5), k.Gamma(2.0, 700.0), TERMS["both"]),
              k.PolicyGroup(40, k.Binomial(3, 0.1), k.Pareto(2.2, 1200.0), TERMS["layer"]),
              k.PolicyGroup(2, k.NegativeBinomial(1.0, 0.4), k.Exponential(400.0))]
    book = k.Portfolio(groups)
    fft = k.simulate(book, config=FFT)
    mc = k.simulate(book, 200_000, seed=7)
    for name, value in fft.estimates.items():
        assert abs(value - mc[name]) <= 4 * mc.standard_errors[name] + fft.error_bounds[name], name


# --------------------------------------------------------------------------- against gemact


def test_fft_agrees_with_gemact() -> None:
    lossmodel = pytest.importorskip("gemact.lossmodel")
    group = k.PolicyGroup(1, k.Poisson(3.0), k.Gamma(2.0, 1000.0), k.PolicyTerms(deductible=500.0, limit=5000.0))
    book = k.Portfolio([group])
    step = 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = lossmodel.LossModel(
            frequency=lossmodel.Frequency(dist="poisson", par={"mu": 3.0}),
            severity=lossmodel.Severity(dist="gamma", par={"a": 2.0, "scale": 1000.0}),
            policystructure=lossmodel.PolicyStructure(layers=lossmodel.Layer(cover=5000.0, deductible=500.0)),
            aggr_loss_dist_method="fft", n_sev_discr_nodes=round(5000.0 / step) + 1, n_aggr_dist_nodes=2**16,
            sev_discr_method="localmoments",
        )
    x = np.asarray(model.dist[0].nodes, dtype=float)
    pmf = np.diff(np.asarray(model.dist[0].cumprobs, dtype=float), prepend=0.0)
    ours = k.aggregate_distribution(book, step, 2**16)
    assert np.allclose(ours.losses[: x.size], x)
    assert np.abs(ours.pmf[: x.size] - pmf).max() < 1e-9


def test_fft_agrees_with_the_aggregate_package() -> None:
    """Two groups, one with aggregate terms: with the same discretisation (rounding) and grid, the
    ``aggregate`` package's FFT and ours give the same statistics to 1e-9."""
    pytest.importorskip("aggregate")
    from experiments import fft_peers

    book = k.Portfolio([k.PolicyGroup(4, k.NegativeBinomial(2.0, 0.5), k.Lognormal(6.0, 1.0), TERMS["both"]),
                        k.PolicyGroup(20, k.Poisson(0.3), k.Gamma(2.0, 500.0), TERMS["layer"])])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = fft_peers.aggregate_fft(book, 5.0, 2**13).estimates
    ours = k.aggregate_distribution(book, 5.0, 2**13, discretisation="rounding").estimates(book.levels)
    for name, value in ours.items():
        assert theirs[name] == pytest.approx(value, rel=1e-9), name


def test_tolerances_below_float64_resolution_are_refused_and_tiny_caps_still_run() -> None:
    book = one_group(k.Poisson(3.0), k.Gamma(2.0, 1000.0), TERMS["layer"])
    with pytest.raises(ValueError, match=r"Target\.rtol=1e-12 is below"):
        k.simulate(book, config=FFT, target=k.Target(rtol=1e-12))
    with pytest.warns(k.TargetNotMetWarning):
        res = k.simulate(book, config=FFT, target=k.Target(rtol=1e-6), max_sims=18)
    assert res.n_sims <= 18 and res.target_met is False
