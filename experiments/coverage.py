"""Do runs to a target report honest intervals? Coverage of the true value, measured.

For each family (a workload with a known answer and the estimate a :class:`kernels.Target`
is put on), each estimator (``pseudo``-random; quasi-random with 16 scrambles, ``qmc``, the default
until it became 32; and with 32, ``qmc32``) and each confidence level (0.9,
0.95, 0.99), ``--runs`` seeded runs go to the target at that confidence; a run covers when
its reported interval ``res.confidence_interval(name, confidence)`` holds the true value.
An honest interval covers with the claimed probability; the binomial standard error
``sqrt(c (1 - c) / runs)`` says how far chance alone moves the observed share.

Families and their true values:

* ``european``: a call's price, Black–Scholes (:func:`kernels.european_reference`);
* ``asian``: the geometric-average price of an 8-date Asian, in closed form
  (:func:`kernels.geometric_asian_reference`);
* ``portfolio-mean``: the mean annual loss of one Poisson(2) x Gamma group with a
  deductible and limit, analytic (:func:`kernels._analytic.portfolio_moments`);
* ``portfolio-tvar``: its TVaR at 0.99, from the aggregate distribution by FFT with
  ``gemact`` (``LossModel(aggr_loss_dist_method="fft")``, a fine grid; its mean agrees
  with the analytic one to ~1e-12 relative).

    python -m experiments.coverage [--runs 1000] [--jobs 2] [--families european asian]
    python -m experiments.coverage --runs 500 --families european --estimators qmc --merge

Writes ``experiments/results/coverage.{json,md}``. The numpy backend, one serial worker;
BLAS is held to one thread (coverage does not depend on it, and on a loaded machine
OpenBLAS's threaded dot products make the reductions many times slower).
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import multiprocessing as mp
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    Gamma,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    european_reference,
    geometric_asian_reference,
    simulate,
)
from kernels._analytic import portfolio_moments

from .bench_kernels import RESULTS

OPTION = EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.03, sigma=0.2)
ASIAN = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2, n_steps=8)
BOOK = Portfolio([PolicyGroup(1, Poisson(2.0), Gamma(shape=2.0, scale=500.0),
                              PolicyTerms(deductible=200.0, limit=3000.0))], levels=(0.99,))
CONFIDENCES = (0.9, 0.95, 0.99)
ESTIMATORS = {"pseudo": Config(backend="numpy"), "qmc": Config(backend="numpy", qmc=True, qmc_scrambles=16),
              "qmc32": Config(backend="numpy", qmc=True, qmc_scrambles=32)}


def gemact_tvar(portfolio: Portfolio, level: float, step: float = 0.5) -> tuple[float, float]:
    """TVaR at ``level`` (and the mean) of a one-group, Poisson, pooled portfolio, by gemact's FFT.

    The severity is discretized by local moments with span ``step`` (a divisor of the limit);
    the aggregate grid (a power of two of nodes) reaches the group's loss ceiling, so the
    FFT's wrap-around carries no visible mass. TVaR is ``VaR + E[(L - VaR)^+] / (1 - level)``,
    the definition the kernels estimate.
    """
    from gemact.lossmodel import Frequency, Layer, LossModel, PolicyStructure, Severity

    (group,) = portfolio.groups
    if not isinstance(group.frequency, Poisson) or not isinstance(group.severity, Gamma) or not group.pooled:
        raise ValueError("gemact_tvar handles one pooled group of Poisson x Gamma")
    terms = group.terms
    nodes = 1 << math.ceil(math.log2(group.loss_ceiling() / step))
    model = LossModel(
        frequency=Frequency(dist="poisson", par={"mu": group.expected_claims()}),
        severity=Severity(dist="gamma", par={"a": group.severity.shape, "scale": group.severity.scale}),
        policystructure=PolicyStructure(layers=Layer(cover=terms.limit, deductible=terms.deductible)),
        aggr_loss_dist_method="fft", n_sev_discr_nodes=round(terms.limit / step) + 1, n_aggr_dist_nodes=nodes,
        sev_discr_method="localmoments",
    )
    dist = model.dist[0]
    x, cdf = np.asarray(dist.nodes, dtype=float), np.asarray(dist.cumprobs, dtype=float)
    pmf = np.diff(cdf, prepend=0.0)
    var = x[np.searchsorted(cdf, level - 1e-12)]
    return float(var + pmf @ np.maximum(x - var, 0.0) / (1 - level)), float(pmf @ x)


@dataclass(frozen=True)
class Family:
    workload: object
    estimate: str
    truth: float
    source: str
    tolerances: dict[str, dict[str, float]]  # estimator -> Target(atol/rtol); the estimators measured


@functools.cache
def families() -> dict[str, Family]:
    tvar, fft_mean = gemact_tvar(BOOK, 0.99)
    mean = portfolio_moments(BOOK)[0]
    if abs(fft_mean - mean) > 1e-9 * mean:
        raise RuntimeError(f"gemact's FFT mean {fft_mean!r} disagrees with the analytic {mean!r}")
    return {
        "european": Family(OPTION, "price", european_reference(OPTION)["price"], "Black-Scholes",
                           {"pseudo": {"atol": 0.05}, "qmc": {"atol": 0.005}, "qmc32": {"atol": 0.005}}),
        "asian": Family(ASIAN, "geometric_price", geometric_asian_reference(ASIAN), "closed form",
                        {"pseudo": {"atol": 0.05}, "qmc": {"atol": 0.005}, "qmc32": {"atol": 0.005}}),
        "portfolio-mean": Family(BOOK, "mean", mean, "analytic",
                                 {"pseudo": {"rtol": 0.01}, "qmc": {"rtol": 0.02}, "qmc32": {"rtol": 0.01}}),
        "portfolio-tvar": Family(BOOK, "TVaR_0.99", tvar, "gemact FFT",
                                 {"pseudo": {"rtol": 0.02}, "qmc": {"rtol": 0.02}, "qmc32": {"rtol": 0.02}}),
    }


def _runs(family: str, estimator: str, confidence: float, seeds: range) -> list[tuple[int, int, int, bool]]:
    """Per seed: where the truth fell (-1 below the interval, 0 inside, 1 above), n_sims, rounds, target met."""
    fam = families()[family]
    target = Target(**fam.tolerances[estimator], estimate=fam.estimate, confidence=confidence)
    out = []
    with threadpool_limits(1):
        for seed in seeds:
            res = simulate(fam.workload, config=ESTIMATORS[estimator], seed=seed, target=target)
            lo, hi = res.confidence_interval(fam.estimate, confidence)
            where = -1 if fam.truth < lo else (1 if fam.truth > hi else 0)
            out.append((where, res.n_sims, res.rounds, bool(res.target_met)))
    return out


def coverage(family: str, estimator: str, confidence: float, runs: int, jobs: int = 1) -> dict:
    """Seeds ``0 .. runs - 1`` to the family's target at ``confidence``: how often the interval holds the truth."""
    t0 = time.perf_counter()
    if jobs > 1:
        blocks = [range(i, runs, jobs) for i in range(jobs)]
        with ProcessPoolExecutor(jobs, mp_context=mp.get_context("spawn")) as pool:
            parts = pool.map(_runs, *zip(*[(family, estimator, confidence, b) for b in blocks], strict=True))
            per_seed = [r for part in parts for r in part]
    else:
        per_seed = _runs(family, estimator, confidence, range(runs))
    where, n_sims, rounds, met = zip(*per_seed, strict=True)
    fam = families()[family]
    too_low, too_high = where.count(1), where.count(-1)  # intervals wholly below / above the truth
    observed = 1 - (too_low + too_high) / runs
    se = math.sqrt(confidence * (1 - confidence) / runs)
    target = Target(**fam.tolerances[estimator], estimate=fam.estimate, confidence=confidence)
    return {"target": target.label(), "claimed": confidence, "observed": observed, "binomial_se": se,
            "z": (observed - confidence) / se, "interval_low": too_low, "interval_high": too_high, "runs": runs,
            "met": sum(met), "mean_n_sims": float(np.mean(n_sims)), "mean_rounds": float(np.mean(rounds)),
            "max_rounds": int(max(rounds)), "seconds": time.perf_counter() - t0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--families", nargs="+", default=None, help="default: all")
    parser.add_argument("--estimators", nargs="+", default=list(ESTIMATORS), choices=list(ESTIMATORS))
    parser.add_argument("--confidences", nargs="+", type=float, default=list(CONFIDENCES))
    parser.add_argument("--jobs", type=int, default=1, help="processes sharing the seeds of each row")
    parser.add_argument("--merge", action="store_true",
                        help="replace only the rows run in the existing coverage.json (same family, estimator and "
                             "confidence; same --runs), keeping the others")
    args = parser.parse_args()
    fams = families()
    names = args.families or list(fams)
    rows = []
    t0 = time.perf_counter()
    for name in names:
        fam = fams[name]
        for estimator in [e for e in args.estimators if e in fam.tolerances]:
            for conf in args.confidences:
                row = {"family": name, "estimator": estimator, "estimate": fam.estimate, "truth": fam.truth,
                       "truth_source": fam.source, **coverage(name, estimator, conf, args.runs, args.jobs)}
                rows.append(row)
                print(f"{name:15} {estimator:6} {conf:.2f}: observed {row['observed']:.3f} "
                      f"(binomial SE {row['binomial_se']:.3f}, z {row['z']:+.1f}; intervals too low/high "
                      f"{row['interval_low']}/{row['interval_high']}), mean n_sims {row['mean_n_sims']:.0f}, "
                      f"mean rounds {row['mean_rounds']:.2f}, {row['seconds']:.0f} s", flush=True)
    summary = {"runs": args.runs, "seeds": f"0..{args.runs - 1}", "total_s": time.perf_counter() - t0,
               "cores": len(os.sched_getaffinity(0)), "machine": platform.processor() or platform.machine(),
               "jobs": args.jobs, "backend": "numpy",
               "qmc_scrambles": {k: c.qmc_scrambles for k, c in ESTIMATORS.items() if c.qmc}}
    if args.merge:
        summary, rows = merge(summary, rows)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "coverage.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    text = markdown(summary, rows)
    (RESULTS / "coverage.md").write_text(text)
    print("\n" + text)


def merge(summary: dict, rows: list[dict]) -> tuple[dict, list[dict]]:
    """The existing results with ``rows`` in place of those of the same family, estimator and confidence."""
    old = json.loads((RESULTS / "coverage.json").read_text())
    if old["summary"]["runs"] != summary["runs"]:
        raise SystemExit(f"--merge: coverage.json has {old['summary']['runs']} runs per row, this run "
                         f"{summary['runs']}; rerun every row instead")
    key = lambda r: (r["family"], r["estimator"], r["claimed"])  # noqa: E731
    new = {key(r): r for r in rows}
    merged = [new.pop(key(r), r) for r in old["rows"]] + list(new.values())
    rerun = ", ".join(f"{r['family']} {r['estimator']} {r['claimed']:g}" for r in rows)
    again = {"rows": rerun, "total_s": summary["total_s"], "jobs": summary["jobs"]}
    merged_summary = {**old["summary"], "rerun": again}
    return merged_summary, merged


def markdown(summary: dict, rows: list[dict]) -> str:
    """The table of ``coverage.md`` (from the rows of ``coverage.json``)."""
    lines = ["| family | estimator | target | claimed | observed | binomial SE | z | intervals too low/high "
             "| mean n_sims | mean rounds |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['family']} | {r['estimator']} | {r['target']} | {r['claimed']:.2f} | {r['observed']:.3f} "
                     f"| {r['binomial_se']:.3f} | {r['z']:+.1f} | {r['interval_low']}/{r['interval_high']} "
                     f"| {r['mean_n_sims']:.0f} | {r['mean_rounds']:.2f} |")
    truths = {r["family"]: f"{r['family']}: {r['estimate']} = {r['truth']:.10g} ({r['truth_source']})" for r in rows}
    scrambles = ", ".join(f"{k} {v}" for k, v in summary["qmc_scrambles"].items())
    lines.append(f"\n{summary['runs']} seeded runs (seeds {summary['seeds']}) per row, each to its target at the "
                 "claimed confidence; observed = share of runs whose reported interval at that confidence holds the "
                 "true value; z = (observed - claimed) / binomial SE; intervals too low/high: misses with the interval "
                 f"wholly below / above the truth. Scrambles: {scrambles}; Student-t intervals for scramble-based "
                 f"errors (prices, the mean), normal for TVaR. True values: {'; '.join(truths.values())}. numpy "
                 f"backend, {summary['total_s']:.0f} s in all ({summary['jobs']} job(s) on {summary['cores']} cores).")
    if "rerun" in summary:
        lines.append(f"Rerun later (`--merge`) with the code of the day: {summary['rerun']['rows']}, "
                     f"{summary['rerun']['total_s']:.0f} s ({summary['rerun']['jobs']} job(s)).")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
