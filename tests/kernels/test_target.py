"""Runs to a precision: ``simulate(..., target=Target(...))``.

Validation names the field; a run that stops meets the target it reports; runs are
reproducible; pseudo-random runs extend their sample chunk by chunk and quasi-random
runs by nested Sobol points; caps (``max_sims``, the memory limit) stop a run with a
warning rather than an error; intervals use Student-t for scramble-based errors.
Everything uses the numpy backend and fixed seeds.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import warnings

import pytest
from scipy.special import ndtri
from scipy.stats import t as student_t

import kernels
from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    Gamma,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    SimulationResult,
    Target,
    TargetNotMetWarning,
    estimate_memory,
    set_memory_limit,
    simulate,
)
from kernels._sequential import PILOT_POINTS, PILOT_SIMS

NUMPY = Config(backend="numpy")
QMC = Config(backend="numpy", qmc=True)
OPTION = EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.03, sigma=0.2)
ASIAN = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2, n_steps=8)
# Deep out of the money with almost no volatility: every simulated payoff is exactly 0.
WORTHLESS = EuropeanOption(S0=100.0, K=200.0, T=0.1, r=0.0, sigma=0.01)
BOOK = Portfolio([PolicyGroup(1, Poisson(2.0), Gamma(shape=2.0, scale=500.0),
                              PolicyTerms(deductible=200.0, limit=3000.0))])


def tolerance(target: Target, value: float) -> float:
    return max(target.atol or 0.0, (target.rtol or 0.0) * abs(value))


def assert_met(res: SimulationResult, target: Target, names: tuple[str, ...]) -> None:
    assert res.target == target
    assert res.target_met is True
    assert set(res.half_widths) == set(names)
    for name in names:
        assert 0 < res.half_widths[name] <= tolerance(target, res[name]), name
        # The reported half-width is the result's own interval at the target's confidence.
        assert res.half_widths[name] == pytest.approx(res.half_width(name, target.confidence), rel=1e-12)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize("kwargs", [{}, {"confidence": 0.9}, {"estimate": "price"}])
def test_a_target_needs_a_tolerance(kwargs: dict) -> None:
    with pytest.raises(ValueError, match="atol or rtol"):
        Target(**kwargs)


@pytest.mark.parametrize("field", ["atol", "rtol"])
@pytest.mark.parametrize("value", [0, 0.0, -1e-3, math.nan, math.inf, -math.inf, True, "0.1", None])
def test_tolerances_must_be_positive_finite_reals(field: str, value: object) -> None:
    if value is None:  # the other tolerance is missing too
        with pytest.raises(ValueError, match="atol or rtol"):
            Target(**{field: value})
        return
    with pytest.raises(ValueError, match=rf"Target\.{field}"):
        Target(**{field: value})
    with pytest.raises(ValueError, match=rf"Target\.{field}"):  # also beside a valid other tolerance
        Target(**{field: value, ("rtol" if field == "atol" else "atol"): 0.1})


@pytest.mark.parametrize("confidence", [0, 0.0, 1, 1.0, -0.5, 1.5, math.nan, math.inf, True, "0.95"])
def test_confidence_must_be_inside_zero_one(confidence: object) -> None:
    with pytest.raises(ValueError, match=r"Target\.confidence"):
        Target(atol=0.1, confidence=confidence)


@pytest.mark.parametrize("estimate", ["", (), [], ("price", ""), ("price", 3), 3, {"price"}])
def test_estimate_must_be_a_name_or_names(estimate: object) -> None:
    with pytest.raises(ValueError, match=r"Target\.estimate"):
        Target(atol=0.1, estimate=estimate)


def test_estimate_names_are_normalized() -> None:
    assert Target(atol=0.1, estimate=("price",)).estimate == "price"
    assert Target(atol=0.1, estimate=["price", "delta", "price"]).estimate == ("price", "delta")
    t = Target(atol=0.1, rtol=0.01, estimate=("price", "vega"), confidence=0.9)
    assert Target(**t.to_dict()) == t
    assert json.loads(json.dumps(t.to_dict())) == t.to_dict()


@pytest.mark.parametrize(
    ("workload", "estimate", "known"),
    [
        (OPTION, "mean", "['price', 'delta', 'vega']"),
        (OPTION, ("price", "gamma"), "['price', 'delta', 'vega']"),
        (ASIAN, "delta", "['price', 'geometric_price']"),
        (BOOK, "TVaR_0.9", "TVaR_0.99"),
    ],
)
def test_an_unknown_estimate_is_refused_with_the_known_ones(workload, estimate, known: str) -> None:
    with pytest.raises(ValueError, match=r"Target\.estimate") as info:
        simulate(workload, config=NUMPY, seed=0, target=Target(atol=0.1, estimate=estimate))
    assert known in str(info.value)


def test_rtol_alone_cannot_apply_to_an_estimate_of_zero() -> None:
    fixed = simulate(WORTHLESS, 4096, NUMPY, seed=0)
    assert fixed["price"] == 0.0 and fixed.standard_errors["price"] == 0.0  # the premise
    with pytest.raises(ValueError, match=r"Target\.rtol.*'price'.*atol"):
        simulate(WORTHLESS, config=NUMPY, seed=0, target=Target(rtol=0.01))
    # An atol makes the target reachable: a zero estimate with a zero error meets it at once.
    res = simulate(WORTHLESS, config=NUMPY, seed=0, target=Target(atol=1e-6, rtol=0.01))
    assert res.target_met is True and res.rounds == 1 and res["price"] == 0.0


def test_simulate_checks_its_target_arguments() -> None:
    target = Target(atol=0.05)
    with pytest.raises(ValueError, match="n_sims or max_sims, not both"):
        simulate(OPTION, 100_000, NUMPY, seed=0, target=target, max_sims=100_000)
    with pytest.raises(ValueError, match="n_sims is required without a target"):
        simulate(OPTION, config=NUMPY, seed=0)
    with pytest.raises(ValueError, match="max_sims applies to a run to a target"):
        simulate(OPTION, config=NUMPY, seed=0, max_sims=100_000)
    with pytest.raises(ValueError, match=r"target must be a kernels\.Target, got dict"):
        simulate(OPTION, config=NUMPY, seed=0, target={"atol": 0.05})
    for bad in (0, 1, -5, 2.5, True, "100"):
        with pytest.raises(ValueError, match="max_sims"):
            simulate(OPTION, config=NUMPY, seed=0, target=target, max_sims=bad)
    with pytest.raises(ValueError, match="n_sims"):
        simulate(OPTION, 1.5, NUMPY, seed=0, target=target)


def test_a_cap_below_the_pilot_is_refused_before_running() -> None:
    target = Target(atol=0.05)
    with pytest.raises(ValueError, match=f"max_sims={PILOT_SIMS - 1} is below the pilot of {PILOT_SIMS}"):
        simulate(OPTION, config=NUMPY, seed=0, target=target, max_sims=PILOT_SIMS - 1)
    qmc_pilot = PILOT_POINTS * QMC.qmc_scrambles
    with pytest.raises(ValueError, match=f"below the pilot of {qmc_pilot}"):
        simulate(OPTION, config=QMC, seed=0, target=target, max_sims=qmc_pilot - 1)
    with pytest.raises(ValueError, match="n_sims=1000 is below the pilot"):  # n_sims is the cap too, and named
        simulate(OPTION, 1000, NUMPY, seed=0, target=target)


# --------------------------------------------------------------------------- meeting the target


@pytest.mark.parametrize("config", [NUMPY, QMC], ids=["pseudo", "qmc"])
@pytest.mark.parametrize(
    ("workload", "target"),
    [
        (OPTION, Target(atol=0.02)),
        (OPTION, Target(rtol=0.004, estimate="price", confidence=0.99)),
        (OPTION, Target(atol=0.05, rtol=0.01, estimate=("price", "delta", "vega"), confidence=0.9)),
        (ASIAN, Target(atol=0.02, estimate=("price", "geometric_price"))),
        (BOOK, Target(rtol=0.01)),
    ],
    ids=["european-atol", "european-rtol", "european-tuple", "asian-tuple", "portfolio-mean"],
)
def test_a_run_meets_its_target(config: Config, workload, target: Target) -> None:
    res = simulate(workload, config=config, seed=11, target=target)
    names = target.names(workload)
    assert_met(res, target, names)
    assert res.n_sims >= (PILOT_POINTS * config.qmc_scrambles if config.qmc else PILOT_SIMS)
    assert res.rounds >= 1
    d = res.to_dict()
    assert d["target"] == target.to_dict() and d["target_met"] is True and d["rounds"] == res.rounds
    assert d["n_sims"] == res.n_sims and set(d["half_widths"]) == set(names)
    json.dumps(d)


def test_the_headline_is_the_default_estimate() -> None:
    assert Target(atol=1.0).names(OPTION) == ("price",)
    assert Target(atol=1.0).names(ASIAN) == ("price",)
    assert Target(atol=1.0).names(BOOK) == ("mean",)


def test_every_named_estimate_must_meet_the_target() -> None:
    """Vega needs far more paths than the price for the same relative precision; a tuple waits for it."""
    price = simulate(OPTION, config=NUMPY, seed=5, target=Target(rtol=0.004, estimate="price"))
    both = simulate(OPTION, config=NUMPY, seed=5, target=Target(rtol=0.004, estimate=("price", "vega")))
    assert_met(both, both.target, ("price", "vega"))
    # At the price-only run's size vega had not met the tolerance: the pair needed more paths.
    assert price.standard_errors["vega"] * ndtri(0.975) > 0.004 * price["vega"]
    assert both.n_sims > price.n_sims


def test_a_loose_target_is_met_by_the_pilot_alone() -> None:
    res = simulate(OPTION, config=NUMPY, seed=1, target=Target(atol=1.0))
    assert (res.n_sims, res.rounds, res.target_met) == (PILOT_SIMS, 1, True)
    res = simulate(OPTION, config=QMC, seed=1, target=Target(atol=1.0))
    assert (res.n_sims, res.rounds, res.target_met) == (PILOT_POINTS * QMC.qmc_scrambles, 1, True)


@pytest.mark.parametrize("config", [NUMPY, QMC], ids=["pseudo", "qmc"])
def test_a_tail_target_starts_with_enough_tail_samples(config: Config) -> None:
    target = Target(rtol=5e-2, estimate="TVaR_0.99")
    res = simulate(BOOK, config=config, seed=2, target=target)
    assert_met(res, target, ("TVaR_0.99",))
    assert res.n_sims * (1 - 0.99) >= 100
    # TVaR_0.995 needs 100 / 0.005 = 20000 sims in its pilot: more than the default 16384.
    deep = simulate(BOOK, config=config, seed=2, target=Target(rtol=0.5, estimate="TVaR_0.995"))
    assert deep.n_sims * (1 - 0.995) >= 100 and deep.rounds == 1 and deep.target_met


@pytest.mark.parametrize("config", [NUMPY, QMC], ids=["pseudo", "qmc"])
def test_a_controlled_asian_price_meets_its_target(config: Config) -> None:
    """Variance reduction options combine with a target: fewer sims for the same precision."""
    target = Target(atol=0.01 if config.qmc else 0.02)  # quasi-random meets 0.02 with its pilot alone
    plain = simulate(ASIAN, config=config, seed=4, target=target)
    controlled = simulate(ASIAN, config=config.replace(control_variate=True), seed=4, target=target)
    assert_met(controlled, target, ("price",))
    assert controlled.n_sims < plain.n_sims
    assert controlled["price"] == pytest.approx(plain["price"], abs=2 * target.atol)


# --------------------------------------------------------------------------- reproducibility


@pytest.mark.parametrize("config", [NUMPY, QMC, NUMPY.replace(chunk_size=4096)], ids=["pseudo", "qmc", "chunked"])
@pytest.mark.parametrize("workload", [OPTION, BOOK], ids=["european", "portfolio"])
def test_the_same_seed_repeats_the_run(config: Config, workload) -> None:
    # Tight enough that every run takes more than its pilot.
    target = Target(rtol=(0.0005 if config.qmc else 0.004) if workload is OPTION else 0.01)
    a = simulate(workload, config=config, seed=123, target=target)
    b = simulate(workload, config=config, seed=123, target=target)
    c = simulate(workload, config=config, seed=124, target=target)
    assert a.rounds > 1
    assert dict(a.estimates) == dict(b.estimates) and dict(a.standard_errors) == dict(b.standard_errors)
    assert (a.n_sims, a.rounds, dict(a.half_widths)) == (b.n_sims, b.rounds, dict(b.half_widths))
    assert a.estimates[target.names(workload)[0]] != c.estimates[target.names(workload)[0]]


def test_a_run_without_a_seed_reports_the_entropy_that_repeats_it() -> None:
    target = Target(atol=0.03)
    a = simulate(OPTION, config=NUMPY, target=target)
    b = simulate(OPTION, config=NUMPY, target=target, seed=a.seed_entropy)
    assert (dict(a.estimates), a.n_sims, a.rounds) == (dict(b.estimates), b.n_sims, b.rounds)


def test_threads_give_the_same_run_as_serial() -> None:
    target = Target(rtol=0.004)
    serial = simulate(OPTION, config=NUMPY, seed=9, target=target)
    threads = simulate(OPTION, config=NUMPY.replace(executor="threads", workers=2), seed=9, target=target)
    assert (dict(serial.estimates), serial.n_sims, serial.rounds) == (
        dict(threads.estimates), threads.n_sims, threads.rounds)


# --------------------------------------------------------------------------- how runs grow


def _round_sizes(caplog) -> list[int]:
    return [int(m) for m in re.findall(r"round \d+: n=(\d+)", caplog.text)]


def test_pseudo_random_batches_extend_the_sample_chunk_by_chunk(caplog) -> None:
    """Chunk i draws from the stream spawned by i, as in a fixed-size run with the same chunk size.

    With an explicit chunk size every batch but one at the cap is whole chunks, so a run to a
    target is the fixed run of its final size, however many rounds it takes.
    """
    config = NUMPY.replace(chunk_size=4096)
    capped = pytest.warns(TargetNotMetWarning)
    with capped:  # the pilot alone: 4 whole chunks
        pilot = simulate(OPTION, config=config, seed=7, target=Target(atol=1e-4), max_sims=PILOT_SIMS)
    assert (pilot.n_sims, pilot.rounds) == (PILOT_SIMS, 1)
    assert dict(pilot.estimates) == dict(simulate(OPTION, PILOT_SIMS, config, seed=7).estimates)

    caplog.set_level(logging.DEBUG, logger="kernels._sequential")
    res = simulate(OPTION, config=config, seed=7, target=Target(atol=0.03))
    assert res.rounds == 2 and _round_sizes(caplog) == [PILOT_SIMS, res.n_sims]
    assert res.n_sims % 4096 == 0  # whole chunks
    fixed = simulate(OPTION, res.n_sims, config, seed=7)
    assert dict(res.estimates) == dict(fixed.estimates)
    assert dict(res.standard_errors) == dict(fixed.standard_errors)

    # Three rounds too (growth per batch is capped at 64x, so a far out-of-the-money call takes three).
    otm = EuropeanOption(S0=100.0, K=160.0, T=1.0, r=0.05, sigma=0.2)
    caplog.clear()
    many = simulate(otm, config=config, seed=0, target=Target(rtol=0.02))
    assert many.rounds >= 3 and all(n % 4096 == 0 for n in _round_sizes(caplog))
    assert dict(many.estimates) == dict(simulate(otm, many.n_sims, config, seed=0).estimates)


@pytest.mark.parametrize("workload", [OPTION, ASIAN], ids=["european", "asian"])
def test_qmc_runs_double_nested_sobol_points(workload, caplog) -> None:
    caplog.set_level(logging.DEBUG, logger="kernels._sequential")
    res = simulate(workload, config=QMC, seed=3, target=Target(atol=0.002))
    sizes = _round_sizes(caplog)
    assert res.rounds == len(sizes) > 1 and sizes[-1] == res.n_sims
    for n in sizes:  # points per scramble: the pilot's times a power of two
        points, rest = divmod(n, QMC.qmc_scrambles)
        ratio = points // PILOT_POINTS
        assert rest == 0 and points % PILOT_POINTS == 0 and ratio & (ratio - 1) == 0, sizes
    assert all(b >= 2 * a for a, b in itertools.pairwise(sizes))
    # Nested: every scramble's points are the first n / scrambles of its sequence, as in a fixed run.
    fixed = simulate(workload, res.n_sims, QMC, seed=3)
    for name in res.estimates:
        assert res[name] == pytest.approx(fixed[name], rel=1e-12, abs=1e-12), name
        assert res.standard_errors[name] == pytest.approx(fixed.standard_errors[name], rel=1e-9, abs=1e-12), name


# --------------------------------------------------------------------------- caps


@pytest.mark.parametrize(
    ("config", "max_sims"), [(NUMPY, 50_000), (QMC, 10_000), (NUMPY, PILOT_SIMS)], ids=["pseudo", "qmc", "pilot"])
def test_a_cap_stops_the_run_with_a_warning(config: Config, max_sims: int) -> None:
    target = Target(atol=1e-4)
    with pytest.warns(TargetNotMetWarning, match=f"max_sims={max_sims}") as record:
        res = simulate(OPTION, config=config, seed=0, target=target, max_sims=max_sims)
    assert len(record) == 1 and "price=" in str(record[0].message)
    assert res.target_met is False
    assert res.n_sims <= max_sims
    assert res.half_widths["price"] > target.atol
    if config.qmc:
        assert res.n_sims % config.qmc_scrambles == 0
    else:
        assert res.n_sims == max_sims  # the last batch is clamped to the cap, not dropped


def test_n_sims_is_the_cap_with_a_target() -> None:
    with pytest.warns(TargetNotMetWarning):
        res = simulate(OPTION, 40_000, NUMPY, seed=0, target=Target(atol=1e-4))
    assert res.n_sims == 40_000 and res.target_met is False


def test_a_met_target_does_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = simulate(OPTION, config=NUMPY, seed=0, target=Target(atol=0.05), max_sims=10**7)
    assert res.target_met is True


@pytest.fixture
def restore_memory_limit():
    before = kernels._resources._limit
    yield
    set_memory_limit(before)


def test_the_memory_limit_stops_a_run_that_started(restore_memory_limit) -> None:
    pilot_bytes = estimate_memory(BOOK, PILOT_SIMS, NUMPY)
    set_memory_limit(4 * pilot_bytes)
    with pytest.warns(TargetNotMetWarning, match="the memory limit") as record:
        res = simulate(BOOK, config=NUMPY, seed=1, target=Target(rtol=1e-4))
    assert "set_memory_limit" in str(record[0].message)
    assert res.target_met is False and res.n_sims >= PILOT_SIMS
    assert estimate_memory(BOOK, res.n_sims, NUMPY) <= 4 * pilot_bytes


def test_a_memory_capped_run_grows_as_far_as_the_limit_allows(restore_memory_limit) -> None:
    """Reaching the memory limit is like reaching max_sims: the last batch shrinks to fit, it is not dropped."""
    pilot_bytes = estimate_memory(BOOK, PILOT_SIMS, NUMPY)
    limit = 4 * pilot_bytes
    set_memory_limit(limit)
    with pytest.warns(TargetNotMetWarning, match="the memory limit"):
        res = simulate(BOOK, config=NUMPY, seed=1, target=Target(rtol=1e-4))
    # What a fixed run may hold under this limit, and what the capped run reached.
    assert estimate_memory(BOOK, 2 * PILOT_SIMS, NUMPY) <= limit
    assert res.n_sims >= 2 * PILOT_SIMS and res.rounds >= 2
    qmc_pilot = estimate_memory(BOOK, PILOT_POINTS * 16, QMC)
    set_memory_limit(4 * qmc_pilot)
    with pytest.warns(TargetNotMetWarning, match="the memory limit"):
        res = simulate(BOOK, config=QMC, seed=1, target=Target(rtol=1e-4))
    assert res.n_sims >= 2 * PILOT_POINTS * 16 and (res.n_sims // 16) % PILOT_POINTS == 0
    assert estimate_memory(BOOK, res.n_sims, QMC) <= 4 * qmc_pilot


def test_a_pilot_over_the_memory_limit_is_refused(restore_memory_limit) -> None:
    set_memory_limit(estimate_memory(BOOK, PILOT_SIMS, NUMPY) - 1)
    with pytest.raises(ValueError, match="over the limit"):
        simulate(BOOK, config=NUMPY, seed=1, target=Target(rtol=1e-2))


# --------------------------------------------------------------------------- intervals


def test_qmc_intervals_use_student_t_and_pseudo_random_the_normal() -> None:
    z = float(ndtri(0.975))
    dof = QMC.qmc_scrambles - 1
    t_q = float(student_t.ppf(0.975, dof))
    pseudo = simulate(OPTION, config=NUMPY, seed=0, target=Target(atol=0.05))
    qmc = simulate(OPTION, config=QMC, seed=0, target=Target(atol=0.005))
    for res, q in ((pseudo, z), (qmc, t_q)):
        se = res.standard_errors["price"]
        lo, hi = res.confidence_interval("price", 0.95)
        assert (hi - lo) / 2 == pytest.approx(q * se, rel=1e-12)
        assert res.half_widths["price"] == pytest.approx(q * se, rel=1e-12)
    assert t_q > z * 1.03  # wider than normal at the same standard error
    assert pseudo.degrees_of_freedom("price") is None and qmc.degrees_of_freedom("price") == dof
    # A portfolio's QMC mean comes from its scrambles; its TVaR error is i.i.d. (normal).
    book = simulate(BOOK, config=QMC.replace(qmc_scrambles=8), seed=0, target=Target(rtol=0.05))
    assert book.degrees_of_freedom("mean") == 7 and book.degrees_of_freedom("TVaR_0.99") is None
    lo, hi = book.confidence_interval("mean", 0.9)
    assert (hi - lo) / 2 == pytest.approx(student_t.ppf(0.95, 7) * book.standard_errors["mean"], rel=1e-12)
    lo, hi = book.confidence_interval("TVaR_0.99", 0.9)
    assert (hi - lo) / 2 == pytest.approx(ndtri(0.95) * book.standard_errors["TVaR_0.99"], rel=1e-12)
