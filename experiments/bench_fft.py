"""Aggregate losses by FFT: ours against gemact's and the ``aggregate`` package's FFT, and against our Monte Carlo.

Five portfolio shapes, from one light-tailed group to several groups with per-policy aggregate terms
and a Pareto tail (:data:`SHAPES`). For each, at a relative tolerance on TVaR 99% (1e-3 and 1e-4):

* *ours, target*: ``simulate(portfolio, config=Config(method="fft"), target=Target(rtol, estimate="TVaR_0.99"))``,
  our FFT choosing its own grid from its error bound; the time is the whole call;
* *search*: ours (``aggregate_distribution``), gemact and aggregate each refined by the same grid search
  (:func:`experiments.fft_peers.refine`: halve the step and double the span until neither moves TVaR 99% by
  more than the tolerance), the time being the whole search; and *single*: one run at the grid that
  search chose, the time a user pays once the grid is known;
* every answer's error against a fine-grid reference: ours at :data:`REFERENCE_POINTS` points over a span
  of 8 x (mean + 12 sd), checked against ours at half the points (its own convergence) and against both
  peers on a grid a quarter as fine;
* our fastest Monte Carlo config (single-group shapes): candidates (numpy, numba threads x2, pseudo-random
  and QMC) each run to rtol 1e-2 and 3.3e-3; their time at rtol 1e-3 is predicted by the law time ~ tol^-p
  fitted to the two (p in [1, 2]); the two fastest predicted under ``--mc-max-seconds`` run to rtol 1e-3
  and the faster measured is reported; when none is, the best prediction is, marked "~" (extrapolated).

Aims (from the issue): ours no slower than gemact's FFT at equal accuracy; ours >= 30x faster than our
fastest Monte Carlo at rtol 1e-3 on TVaR 99% for the single-group shapes. Ratios are within one run;
times are medians of interleaved repeats.

    python -m experiments.bench_fft [--repeats 5] [--mc-max-seconds 60] [--backend numpy]
    python -m experiments.bench_fft --quick      # rtol 1e-3 only, 1 repeat, coarser reference, loose MC

Writes ``experiments/results/bench_fft.{json,md}`` (``--quick`` writes nothing unless ``--out`` is given).
"""

from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import kernels
from kernels import (
    Binomial,
    Config,
    Exponential,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    TargetNotMetWarning,
    Weibull,
)
from kernels._analytic import portfolio_moments

from . import fft_peers
from ._ratios import fmt_ratio, ratio, verdict
from .bench_kernels import RESULTS
from .fft_peers import PeerRun, Search

ESTIMATE = "TVaR_0.99"
TOLERANCES = (1e-3, 1e-4)
AIMS = {"gemact": 1.0, "mc": 30.0}
MC_TOLERANCE = 1e-3
MC_PROBE_TOLERANCE = 1e-2
REFERENCE_POINTS = 1 << 21
QUICK_REFERENCE_POINTS = 1 << 18
REFERENCE_SPAN_FACTOR = 8.0
METHODS = ("ours", "gemact", "aggregate")
STATISTICS_POINTS = 1 << 16


@dataclass(frozen=True)
class Shape:
    key: str
    label: str
    portfolio: Portfolio

    @property
    def single_group(self) -> bool:
        return len(self.portfolio.groups) == 1


SHAPES: tuple[Shape, ...] = (
    Shape("issue", "1 group: Poisson(3) x Gamma(2, 1000), 5,000 xs 500 (the issue's example)",
          Portfolio([PolicyGroup(1, Poisson(3.0), Gamma(2.0, 1000.0), PolicyTerms(500.0, 5000.0))])),
    Shape("nb_lognormal", "1 group: 50 policies NegBin(0.2, 0.4) x Lognormal(7, 1.5), 50,000 xs 1,000",
          Portfolio([PolicyGroup(50, NegativeBinomial(0.2, 0.4), Lognormal(7.0, 1.5), PolicyTerms(1000.0, 50_000.0))])),
    Shape("pareto", "1 group: Poisson(4) x Pareto(2, 5000), 250,000 xs 1,000",
          Portfolio([PolicyGroup(1, Poisson(4.0), Pareto(2.0, 5000.0), PolicyTerms(1000.0, 250_000.0))])),
    Shape("groups", "3 groups: 200 x Poisson(0.1) x Gamma(2, 1500) 20,000 xs 0; 30 x NegBin(0.5, 0.6) x "
          "Lognormal(8, 1) 100,000 xs 2,000; 5 x Binomial(2, 0.1) x Weibull(0.8, 20,000) 200,000 xs 0",
          Portfolio([PolicyGroup(200, Poisson(0.1), Gamma(2.0, 1500.0), PolicyTerms(0.0, 20_000.0)),
                     PolicyGroup(30, NegativeBinomial(0.5, 0.6), Lognormal(8.0, 1.0), PolicyTerms(2000.0, 100_000.0)),
                     PolicyGroup(5, Binomial(2, 0.1), Weibull(0.8, 20_000.0), PolicyTerms(0.0, 200_000.0))])),
    Shape("groups_agg", "2 groups: 10 x Poisson(1.5) x Pareto(2.5, 3000) 100,000 xs 500 with a per-policy "
          "aggregate 150,000 xs 2,000; 100 x Poisson(0.2) x Exponential(2000) 10,000 xs 0",
          Portfolio([PolicyGroup(10, Poisson(1.5), Pareto(2.5, 3000.0),
                                 PolicyTerms(500.0, 100_000.0, 2000.0, 150_000.0)),
                     PolicyGroup(100, Poisson(0.2), Exponential(2000.0), PolicyTerms(0.0, 10_000.0))])),
)


# --------------------------------------------------------------------------- pure helpers


def rel_error(value: float | None, reference: float) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return abs(value - reference) / abs(reference)


def fmt_seconds(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    if x < 1e-3:
        return f"{x * 1e6:.0f} us"
    if x < 1:
        return f"{x * 1e3:.3g} ms"
    return f"{x:.3g} s" if x < 100 else f"{x:,.0f} s"


def fmt_err(x: float | None) -> str:
    return "-" if x is None else f"{x:.1e}"


def scale_mc(seconds: float, n: float, tol_from: float, tol_to: float) -> tuple[float, float]:
    """Seconds and sims at ``tol_to`` from a run to ``tol_from`` by the Monte Carlo law (n ~ tol^-2)."""
    factor = (tol_from / tol_to) ** 2
    return seconds * factor, n * factor


def reference_span(portfolio: Portfolio) -> float:
    """The reference grid's span: ``REFERENCE_SPAN_FACTOR`` x (mean + 12 sd) without aggregate terms, capped."""
    ceiling = sum(g.loss_ceiling() for g in portfolio.groups)
    return min(REFERENCE_SPAN_FACTOR * fft_peers.default_span(portfolio, sds=12.0), ceiling)


def analytic_mean(portfolio: Portfolio) -> float | None:
    try:
        return portfolio_moments(portfolio)[0]
    except ValueError:  # aggregate terms: no closed form
        return None


def machine_info() -> dict[str, Any]:
    import importlib.metadata

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions: dict[str, str | None] = {"numpy": np.__version__}
    for dist in ("gemact", "aggregate", "numba", "scipy"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = None
    return {"cores": len(os.sched_getaffinity(0)), "cpu": cpu, "load_average": list(os.getloadavg()),
            "platform": platform.platform(), "python": sys.version.split()[0],
            "date": datetime.datetime.now().isoformat(timespec="seconds"), "versions": versions,
            "blas_threads_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}}


# --------------------------------------------------------------------------- ours


class OursGrid:
    """Our FFT on a fixed grid (``kernels.aggregate_distribution``), callable like a :class:`fft_peers.Peer`."""

    name = "ours"
    setup_s = 0.0

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio

    def __call__(self, step: float, nodes: int) -> PeerRun:
        start = time.perf_counter()
        dist = kernels.aggregate_distribution(self.portfolio, step, int(nodes))
        estimates = {k: float(v) for k, v in dist.estimates(self.portfolio.levels).items()}
        seconds = time.perf_counter() - start
        return PeerRun(self.name, estimates, seconds, float(dist.step), int(nodes), float(np.sum(dist.pmf)))


def make_method(method: str, portfolio: Portfolio) -> Callable[[float, int], PeerRun]:
    return OursGrid(portfolio) if method == "ours" else fft_peers.PEERS[method](portfolio)


@dataclass
class TargetRun:
    """One ``simulate(..., target=...)`` call."""

    seconds: float
    estimate: float
    error_bound: float | None
    met: bool | None
    n: int
    config: str

    def to_dict(self) -> dict[str, Any]:
        return {"seconds": self.seconds, "estimate": self.estimate, "error_bound": self.error_bound,
                "met": self.met, "n": self.n, "config": self.config}


def run_target(portfolio: Portfolio, config: Config, rtol: float, seed: int = 1, **kwargs: Any) -> TargetRun:
    target = Target(rtol=rtol, estimate=ESTIMATE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TargetNotMetWarning)
        start = time.perf_counter()
        result = kernels.simulate(portfolio, config=config, target=target, seed=seed, **kwargs)
        seconds = time.perf_counter() - start
    bounds = getattr(result, "error_bounds", None) or getattr(result, "half_widths", None) or {}
    bound = bounds.get(ESTIMATE)
    return TargetRun(seconds, float(result.estimates[ESTIMATE]), None if bound is None else float(bound),
                     result.target_met, int(result.n_sims), config.label())


def fft_config(backend: str) -> Config:
    return Config(method="fft", backend=backend)


# --------------------------------------------------------------------------- the reference


def reference(portfolio: Portfolio, points: int) -> dict[str, Any]:
    """Ours on ``points`` nodes over :func:`reference_span`; checked at half the points and against the peers.

    The peers run on a quarter of the points over the same span (where they can represent the portfolio).
    """
    span = reference_span(portfolio)
    ours = OursGrid(portfolio)
    fine = ours(span / points, points)
    half = ours(span / (points // 2), points // 2)
    value = fine.estimates[ESTIMATE]
    out: dict[str, Any] = {"value": value, "estimates": fine.estimates, "span": span, "points": points,
                           "step": span / points, "self_check": rel_error(half.estimates[ESTIMATE], value),
                           "mass": fine.mass, "analytic_mean": analytic_mean(portfolio), "peers": {}}
    if out["analytic_mean"] is not None:
        out["mean_error"] = rel_error(fine.estimates["mean"], out["analytic_mean"])
    out["statistics_cost"] = statistics_cost(portfolio, span)
    for name, peer in fft_peers.PEERS.items():
        why = fft_peers.unsupported(name, portfolio)
        if why:
            out["peers"][name] = {"status": "n/a", "why": why}
            continue
        run = peer(portfolio)(span / (points // 4), points // 4)
        out["peers"][name] = {"status": "ok", "estimates": run.estimates, "step": run.step,
                              "error": rel_error(run.estimates[ESTIMATE], value),
                              "mean_error": rel_error(run.estimates["mean"], fine.estimates["mean"])}
    return out


def statistics_cost(portfolio: Portfolio, span: float, points: int = STATISTICS_POINTS,
                    repeats: int = 5) -> dict[str, float]:
    """Median seconds to read the statistics off one ``points``-point distribution: the kernels'
    ``AggregateDistribution.estimates`` (einsum, no BLAS) against :func:`fft_peers.estimates_from_pmf`
    (sums of products), and the FFT itself (``aggregate_distribution``) for scale."""
    dist = kernels.aggregate_distribution(portfolio, span / points, points)

    def median_time(f: Callable[[], object]) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            f()
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    return {"points": points,
            "kernels_estimates_s": median_time(lambda: dist.estimates(portfolio.levels)),
            "sum_of_products_s": median_time(lambda: fft_peers.estimates_from_pmf(dist.pmf, dist.step,
                                                                                  portfolio.levels)),
            "fft_s": median_time(lambda: kernels.aggregate_distribution(portfolio, span / points, points))}


# --------------------------------------------------------------------------- Monte Carlo


def mc_candidates() -> list[Config]:
    """numpy default, numpy QMC, numba threads x2 pseudo-random and QMC (those whose backend is installed)."""
    out = [Config(), Config(qmc=True)]
    if "numba" in kernels.backend_names():
        out += [Config(backend="numba", executor="threads", workers=2),
                Config(backend="numba", executor="threads", workers=2, qmc=True)]
    return out


def time_power(t_loose: float, t_tight: float, tol_loose: float, tol_tight: float) -> float:
    """``p`` in time ~ tol^-p from two runs, clamped to [1, 2] (QMC at best, Monte Carlo)."""
    if not (t_loose > 0 and t_tight > 0):
        return 2.0
    return min(2.0, max(1.0, math.log(t_tight / t_loose) / math.log(tol_loose / tol_tight)))


def rank_mc(portfolio: Portfolio, candidates: Sequence[Config], probe_tol: float,
            tol: float) -> list[dict[str, Any]]:
    """Each candidate run to ``probe_tol`` and ``probe_tol / 3`` (after a small warm-up), its time to ``tol``
    predicted by the law time ~ tol^-p fitted to the two (p clamped to [1, 2]); fastest predicted first."""
    measured = []
    for config in candidates:
        kernels.simulate(portfolio, 4096, config=config, seed=0)  # compile / warm up
        loose = run_target(portfolio, config, probe_tol, seed=2)
        tight = run_target(portfolio, config, probe_tol / 3, seed=3)
        power = time_power(loose.seconds, tight.seconds, probe_tol, probe_tol / 3)
        factor = (probe_tol / 3 / tol) ** power
        measured.append({"config": config.label(), "probe": loose.to_dict(), "probe_tight": tight.to_dict(),
                         "power": power, "predicted_s": tight.seconds * factor, "predicted_n": tight.n * factor,
                         "_config": config})
    return sorted(measured, key=lambda m: m["predicted_s"])


def fastest_mc(portfolio: Portfolio, candidates: Sequence[Config], probe_tol: float, tol: float,
               max_seconds: float, finalists: int = 2) -> dict[str, Any]:
    """Our fastest Monte Carlo time to ``tol`` on the estimate.

    The ``finalists`` fastest predicted (:func:`rank_mc`) that are predicted under ``max_seconds`` run to ``tol``
    once each and the faster measured wins; when none is, the best prediction is reported, marked extrapolated.
    """
    ranked = rank_mc(portfolio, candidates, probe_tol, tol)
    out: dict[str, Any] = {"tol": tol, "candidates": [{k: v for k, v in m.items() if k != "_config"} for m in ranked]}
    runs = []
    for m in ranked[:finalists]:
        if m["predicted_s"] <= max_seconds:
            runs.append(run_target(portfolio, m["_config"], tol, seed=7, max_sims=kernels.MAX_SIMS))
    if runs:
        best = min(runs, key=lambda r: r.seconds)
        out.update(config=best.config, seconds=best.seconds, n=best.n, extrapolated=False, met=best.met,
                   estimate=best.estimate, finalists=[r.to_dict() for r in runs])
    else:
        best_m = ranked[0]
        out.update(config=best_m["config"], seconds=best_m["predicted_s"], n=best_m["predicted_n"], extrapolated=True,
                   met=None, estimate=None, finalists=[])
    return out


# --------------------------------------------------------------------------- cells


@dataclass
class Cell:
    """One method at one shape and tolerance: its runs, and what the table shows."""

    shape: str
    tol: float
    method: str  # "ours_target", or "<method>" for the search + single run at its grid
    status: str = "measured"  # or "n/a", "failed"
    note: str = ""
    searches: list[Search] = field(default_factory=list)
    singles: list[float] = field(default_factory=list)
    oracle: PeerRun | None = None  # the coarsest grid (span of the search's answer) within tol of the reference
    oracle_singles: list[float] = field(default_factory=list)
    targets: list[TargetRun] = field(default_factory=list)
    estimate: float | None = None
    error: float | None = None
    oracle_error: float | None = None

    @property
    def seconds(self) -> float | None:
        """Median time to the answer: the whole search, or the whole ``simulate`` call."""
        if self.targets:
            return statistics.median(r.seconds for r in self.targets)
        if self.searches:
            return statistics.median(s.seconds for s in self.searches)
        return None

    @property
    def single_s(self) -> float | None:
        return statistics.median(self.singles) if self.singles else None

    @property
    def oracle_s(self) -> float | None:
        return statistics.median(self.oracle_singles) if self.oracle_singles else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"shape": self.shape, "tol": self.tol, "method": self.method, "status": self.status,
                               "note": self.note, "median_s": self.seconds, "single_s": self.single_s,
                               "estimate": self.estimate, "rel_error": self.error, "oracle_s": self.oracle_s}
        if self.oracle is not None:
            out.update(oracle_step=self.oracle.step, oracle_nodes=self.oracle.nodes,
                       oracle_error=self.oracle_error)
        if self.searches:
            last = self.searches[-1]
            out.update(grid_step=last.final.step, grid_nodes=last.final.nodes, converged=last.converged,
                       grids_tried=len(last.runs), setup_s=last.setup_s, search=last.to_dict(),
                       search_s=[s.seconds for s in self.searches])
        if self.targets:
            last_t = self.targets[-1]
            out.update(n=last_t.n, error_bound=last_t.error_bound, met=last_t.met,
                       runs=[r.to_dict() for r in self.targets])
        return out


def oracle_grid(run: Callable[[float, int], PeerRun], span: float, reference: float, estimate: str, tol: float, *,
                start_nodes: int = 1 << 8, max_nodes: int = 1 << 22) -> tuple[PeerRun | None, float | None]:
    """The coarsest grid over ``span`` (nodes doubling from ``start_nodes``) whose ``estimate`` is within ``tol``
    (relative) of ``reference``: what a user who knew the answer would run. ``(None, None)`` if none is."""
    nodes = start_nodes
    while nodes <= max_nodes:
        result = run(span / nodes, nodes)
        error = rel_error(result.estimates[estimate], reference)
        if error is not None and error <= tol:
            return result, error
        nodes *= 2
    return None, None


def run_cell_round(cell: Cell, shape: Shape, args: argparse.Namespace, models: dict[str, Any], seed: int,
                   reference_value: float) -> None:
    """One repeat of one cell (a failing method is a result, not the end of the benchmark)."""
    pf = shape.portfolio
    try:
        if cell.method == "ours_target":
            cell.targets.append(run_target(pf, fft_config(args.backend), cell.tol, seed=seed))
            cell.estimate = cell.targets[-1].estimate
        else:
            run = models[cell.method]
            search = fft_peers.refine(run, pf, ESTIMATE, cell.tol)
            cell.searches.append(search)
            final = search.final
            cell.singles.append(run(final.step, final.nodes).seconds)
            cell.estimate = final.estimates[ESTIMATE]
            if cell.oracle is None and not cell.oracle_singles:
                cell.oracle, cell.oracle_error = oracle_grid(run, final.step * final.nodes, reference_value,
                                                             ESTIMATE, cell.tol)
            if cell.oracle is not None:
                cell.oracle_singles.append(run(cell.oracle.step, cell.oracle.nodes).seconds)
    except Exception as exc:
        cell.status, cell.note = "failed", f"{type(exc).__name__}: {exc}"


def run_benchmark(args: argparse.Namespace, log: Callable[[str], None] = print) -> dict[str, Any]:
    t_start = time.perf_counter()
    tolerances = args.tolerances
    shapes = [s for s in SHAPES if not args.shapes or s.key in args.shapes]
    report: dict[str, Any] = {"machine": machine_info(), "estimate": ESTIMATE, "aims": AIMS,
                              "args": {k: v for k, v in vars(args).items() if k != "out"},
                              "shapes": {s.key: s.label for s in shapes}, "references": {}, "cells": [],
                              "mc": {}, "ratios": []}
    for shape in shapes:
        pf = shape.portfolio
        log(f"[{shape.key}] reference ...")
        ref = reference(pf, args.reference_points)
        report["references"][shape.key] = ref
        log(f"[{shape.key}] reference {ESTIMATE} {ref['value']:.8g} (self-check {fmt_err(ref['self_check'])}, peers "
            + ", ".join(f"{k} {fmt_err(v.get('error'))}" for k, v in ref["peers"].items()) + ")")
        models: dict[str, Any] = {}
        cells: dict[tuple[float, str], Cell] = {}
        for method in METHODS:
            why = fft_peers.unsupported(method, pf) if method != "ours" else None
            if why is None:
                try:
                    models[method] = make_method(method, pf)
                    models[method](reference_span(pf) / 1024, 1024)  # warm-up
                except Exception as exc:
                    why = f"failed: {type(exc).__name__}: {exc}"
            for tol in tolerances:
                cells[tol, method] = Cell(shape.key, tol, method)
                if why is not None:
                    cells[tol, method].status, cells[tol, method].note = ("failed" if why.startswith("failed")
                                                                          else "n/a"), why
        for tol in tolerances:
            cells[tol, "ours_target"] = Cell(shape.key, tol, "ours_target")
        run_target(pf, fft_config(args.backend), max(tolerances))  # warm-up
        order = ["ours_target", *METHODS]
        for rnd in range(args.repeats):
            rotated = order[rnd % len(order):] + order[:rnd % len(order)]
            for tol in tolerances:
                for method in rotated:
                    cell = cells[tol, method]
                    if cell.status == "measured":
                        run_cell_round(cell, shape, args, models, seed=1000 + rnd, reference_value=ref["value"])
        for cell in cells.values():
            if cell.estimate is not None:
                cell.error = rel_error(cell.estimate, ref["value"])
            log(f"[{shape.key}] rtol={cell.tol:g} {cell.method:12} {cell.status:9} {fmt_seconds(cell.seconds):>10} "
                f"single {fmt_seconds(cell.single_s):>10}  err {fmt_err(cell.error)}  {cell.note[:60]}")
        report["cells"] += [c.to_dict() for c in cells.values()]

        if shape.single_group and args.mc:
            log(f"[{shape.key}] Monte Carlo candidates to rtol {args.mc_probe_tol:g} ...")
            mc = fastest_mc(pf, mc_candidates(), args.mc_probe_tol, args.mc_tol, args.mc_max_seconds)
            mc["error"] = rel_error(mc["estimate"], ref["value"])
            fft_cell = cells.get((args.mc_tol, "ours_target"))
            fft_s = fft_cell.seconds if fft_cell is not None else None
            if fft_s is None:  # the FFT at the MC tolerance was not among the tolerances: time it here
                fft_s = statistics.median(run_target(pf, fft_config(args.backend), args.mc_tol).seconds
                                          for _ in range(args.repeats))
            mc["fft_seconds"] = fft_s
            mc["speedup"] = ratio(mc["seconds"], fft_s)
            mc["verdict"] = verdict(mc["speedup"], AIMS["mc"])
            report["mc"][shape.key] = mc
            log(f"[{shape.key}] fastest MC {mc['config']}: {'~' if mc['extrapolated'] else ''}"
                f"{fmt_seconds(mc['seconds'])} vs FFT {fmt_seconds(fft_s)}: {fmt_ratio(mc['speedup'])}")
        for tol in tolerances:
            ours = cells[tol, "ours_target"]
            row: dict[str, Any] = {"shape": shape.key, "tol": tol}
            for peer in ("gemact", "aggregate"):
                c = cells[tol, peer]
                value = ratio(c.seconds, ours.seconds)
                single = ratio(c.single_s, cells[tol, "ours"].single_s)
                oracle = ratio(c.oracle_s, cells[tol, "ours"].oracle_s)
                row[peer] = {"search_over_ours_target": value, "single_over_ours_single": single,
                             "oracle_over_ours_oracle": oracle,
                             "oracle_verdict": verdict(oracle, AIMS["gemact"]) if peer == "gemact" else None,
                             "status": c.status, "verdict": verdict(value, AIMS["gemact"]) if peer == "gemact"
                             else None,
                             "equal_accuracy": _within(c.error, tol) and _within(ours.error, tol)}
            report["ratios"].append(row)
    if args.mc:
        report["time_to_accuracy"] = time_to_accuracy_portfolio(args.repeats, log)
    report["wall_s"] = time.perf_counter() - t_start
    return report


def time_to_accuracy_portfolio(repeats: int, log: Callable[[str], None] = print) -> dict[str, Any]:
    """bench_accuracy's portfolio and target (TVaR_0.99 to 1%): ``autotune.tuned_simulate`` with a fresh
    database (no session, no model: its FFT tier) against the default ``Config()`` run to the target,
    interleaved; medians of ``repeats`` after a warm-up of each."""
    import tempfile

    import autotune
    from experiments.bench_accuracy import PORTFOLIO, PORTFOLIO_TARGET

    runs: dict[str, list[tuple[float, int, str]]] = {"tuned": [], "default": []}
    with tempfile.TemporaryDirectory(prefix="bench_fft_") as tmp:
        url = f"sqlite:///{Path(tmp) / 'results.db'}"

        def tuned(seed: int) -> tuple[float, int, str]:
            start = time.perf_counter()
            res = autotune.tuned_simulate(PORTFOLIO, target=PORTFOLIO_TARGET, storage=url, seed=seed, record=False)
            return time.perf_counter() - start, res.n_sims, f"{res.decision.source}: {res.config.label()}"

        def default(seed: int) -> tuple[float, int, str]:
            start = time.perf_counter()
            res = kernels.simulate(PORTFOLIO, config=Config(), target=PORTFOLIO_TARGET, seed=seed)
            return time.perf_counter() - start, res.n_sims, res.config.label()

        tuned(0), default(0)  # warm-ups (the first tuned call opens the database and fingerprints the machine)
        for rnd in range(repeats):
            for key, fn in (("tuned", tuned), ("default", default))[:: 1 if rnd % 2 == 0 else -1]:
                runs[key].append(fn(1 + rnd))
    out: dict[str, Any] = {"target": PORTFOLIO_TARGET.label(), "portfolio": repr(PORTFOLIO)}
    for key, rs in runs.items():
        out[key] = {"median_s": statistics.median(r[0] for r in rs), "median_n": statistics.median(r[1] for r in rs),
                    "config": rs[-1][2]}
    out["speedup"] = ratio(out["default"]["median_s"], out["tuned"]["median_s"])
    log(f"[time to accuracy] tuned {fmt_seconds(out['tuned']['median_s'])} ({out['tuned']['config']}) vs default "
        f"{fmt_seconds(out['default']['median_s'])}: {fmt_ratio(out['speedup'])}")
    return out


def _within(error: float | None, tol: float) -> bool | None:
    return None if error is None else error <= tol


# --------------------------------------------------------------------------- output


METHOD_LABELS = {"ours_target": "ours, simulate(target)", "ours": "ours, search", "gemact": "gemact FFT, search",
                 "aggregate": "aggregate FFT, search"}


def summary(report: dict[str, Any]) -> list[str]:
    out = ["## Aims", ""]
    rows = [r for r in report["ratios"] if r["gemact"]["status"] == "measured"]
    met = [r for r in rows if r["gemact"]["verdict"] == "met"]
    missed = [f"{r['shape']} {r['tol']:g} ({fmt_ratio(r['gemact']['search_over_ours_target'])})"
              for r in rows if r["gemact"]["verdict"] != "met"]
    na = sorted({r["shape"] for r in report["ratios"] if r["gemact"]["status"] != "measured"})
    out.append(f"- Ours (simulate to the target) no slower than gemact's FFT (its grid search) at equal tolerance: "
               f"met in {len(met)} of {len(rows)} cells" + (f"; missed: {', '.join(missed)}" if missed else "")
               + (f"; gemact n/a on {', '.join(na)}" if na else "") + ".")
    met_o = [r for r in rows if r["gemact"]["oracle_verdict"] == "met"]
    missed_o = [f"{r['shape']} {r['tol']:g} ({fmt_ratio(r['gemact']['oracle_over_ours_oracle'])})"
                for r in rows if r["gemact"]["oracle_verdict"] != "met"]
    out.append(f"- The same at equal accuracy on one grid each (the coarsest grid within rtol of the reference, ours "
               f"by `aggregate_distribution`): met in {len(met_o)} of {len(rows)} cells"
               + (f"; missed: {', '.join(missed_o)}" if missed_o else "") + ".")
    unequal = [f"{r['shape']} {r['tol']:g}" for r in rows if r["gemact"]["equal_accuracy"] is False]
    if unequal:
        out.append("  Cells where ours or gemact missed the tolerance against the reference (not equal accuracy): "
                   + ", ".join(unequal) + ".")
    mc = report["mc"]
    if mc:
        met_mc = [k for k, v in mc.items() if v["verdict"] == "met"]
        out.append(f"- Ours >= {AIMS['mc']:g}x faster than our fastest Monte Carlo at rtol "
                   f"{report['args']['mc_tol']:g} on {ESTIMATE} (single-group shapes): met on {len(met_mc)} "
                   f"of {len(mc)} ("
                   + "; ".join(f"{k} {fmt_ratio(v['speedup'], v['extrapolated'])}" for k, v in mc.items()) + ").")
    return out


def tables(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    args = report["args"]
    lines = [
        "# Aggregate losses by FFT: ours vs gemact vs aggregate, and vs Monte Carlo (bench_fft)",
        "",
        f"{m['date']}, {m['cores']} usable cores ({m['cpu']}), Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + "; load average at start "
        + ", ".join(f"{x:.2f}" for x in m["load_average"]) + ".",
        f"Medians over {args['repeats']} interleaved repeats; backend {args['backend']}; total wall time "
        f"{fmt_seconds(report.get('wall_s'))}.",
        "",
        "What is compared:",
        "",
        "- *ours, simulate(target)*: `simulate(portfolio, config=Config(method=\"fft\"), target=Target(rtol, "
        f"estimate=\"{ESTIMATE}\"))`, the whole call; the FFT chooses its grid from its own error bound.",
        "- *search*: the same grid search for ours (`aggregate_distribution`), gemact and aggregate: from 256 points "
        "over mean + 8 sd, halve the step and double the span until neither moves "
        f"{ESTIMATE} by more than rtol (`experiments/fft_peers.refine`). *time* is the whole search (every grid "
        "tried; a peer's one-off model build, e.g. aggregate's severity statistics, is apart, in the JSON as "
        "setup_s); *single* is one run at the grid the search chose.",
        "- *equal-accuracy single*: one run at the coarsest grid (256 points doubling, over the span of the search's "
        "answer) whose answer is within rtol of the reference: the time at equal accuracy of a user who knew the "
        "grid.",
        "- *rel err* is |answer - reference| / reference for " + ESTIMATE + "; a method meets the tolerance when "
        "rel err <= rtol. gemact discretises by local moments (mean exact), aggregate by rounding.",
        "- gemact's step is rounded to divide the occurrence limit, and its grid is lengthened to hold the limit.",
        "",
        *summary(report),
        "",
        "## References",
        "",
        f"| shape | {ESTIMATE} | grid | self-check (half the points) | gemact (1/4 points) | aggregate (1/4 points) "
        "| mean vs analytic |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, ref in report["references"].items():
        peers = [fmt_err(p.get("error")) if p["status"] == "ok" else "n/a" for p in ref["peers"].values()]
        mean = fmt_err(ref.get("mean_error")) if ref.get("analytic_mean") is not None else "n/a (aggregate terms)"
        lines.append(f"| {key} | {ref['value']:,.2f} | {ref['points']:,} x {ref['step']:.3g} | "
                     f"{fmt_err(ref['self_check'])} | {' | '.join(peers)} | {mean} |")
    lines += ["", f"Reading the statistics off one {STATISTICS_POINTS:,}-point distribution (medians of 5): the "
              "kernels' `AggregateDistribution.estimates` (einsum; BLAS dots cost 40 ms under load) against "
              "sums of products (`fft_peers.estimates_from_pmf`, what the peers' rows use), and the FFT that made "
              "the distribution (`aggregate_distribution`, which includes no statistics):", "",
              "| shape | kernels estimates() | sums of products | aggregate_distribution |", "|---|---|---|---|"]
    for key, ref in report["references"].items():
        c = ref.get("statistics_cost")
        if c:
            lines.append(f"| {key} | {fmt_seconds(c['kernels_estimates_s'])} | {fmt_seconds(c['sum_of_products_s'])} "
                         f"| {fmt_seconds(c['fft_s'])} |")
    lines += ["", "Shapes:", ""] + [f"- **{k}**: {v}" for k, v in report["shapes"].items()]
    lines += ["", f"## Time and error at equal tolerance on {ESTIMATE}", "",
              "| shape | rtol | method | time | single | grid (points x step) | rel err | met | equal-accuracy single "
              "(grid, rel err) | note |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for c in report["cells"]:
        if c["status"] != "measured":
            lines.append(f"| {c['shape']} | {c['tol']:g} | {METHOD_LABELS[c['method']]} | {c['status']} | - | - | - "
                         f"| - | - | {c['note']} |")
            continue
        oracle = "-"
        if c.get("oracle_nodes"):
            oracle = (f"{fmt_seconds(c['oracle_s'])} ({c['oracle_nodes']:,} x {c['oracle_step']:.3g}, "
                      f"{fmt_err(c['oracle_error'])})")
        elif c["method"] != "ours_target":
            oracle = "none within rtol"
        if c["method"] == "ours_target":
            grid = f"{c['n']:,} (n_sims)"
            note = f"error bound {fmt_err(c['error_bound'] / abs(c['estimate']) if c['error_bound'] else None)}"
        else:
            grid = f"{c['grid_nodes']:,} x {c['grid_step']:.3g}"
            note = f"{c['grids_tried']} grids" + ("" if c["converged"] else ", not converged")
        met = "-" if c["rel_error"] is None else ("yes" if c["rel_error"] <= c["tol"] else "**no**")
        lines.append(f"| {c['shape']} | {c['tol']:g} | {METHOD_LABELS[c['method']]} | {fmt_seconds(c['median_s'])} | "
                     f"{fmt_seconds(c['single_s'])} | {grid} | {fmt_err(c['rel_error'])} | {met} | {oracle} | {note} |")
    lines += ["", "## Ratios (peer time / ours)", "",
              "| shape | rtol | gemact search / ours target (aim >= 1) | gemact / ours, equal-accuracy single "
              "(aim >= 1) | gemact single / ours single | aggregate search / ours target | aggregate / ours, "
              "equal-accuracy single | aggregate single / ours single |", "|---|---|---|---|---|---|---|---|"]
    for r in report["ratios"]:
        g, a = r["gemact"], r["aggregate"]
        if g["status"] != "measured":
            gv = go = "n/a"
        else:
            gv = f"{fmt_ratio(g['search_over_ours_target'])} ({g['verdict']})"
            go = f"{fmt_ratio(g['oracle_over_ours_oracle'])} ({g['oracle_verdict']})"
        lines.append(f"| {r['shape']} | {r['tol']:g} | {gv} | {go} | {fmt_ratio(g['single_over_ours_single'])} | "
                     f"{fmt_ratio(a['search_over_ours_target'])} | {fmt_ratio(a['oracle_over_ours_oracle'])} | "
                     f"{fmt_ratio(a['single_over_ours_single'])} |")
    if report["mc"]:
        lines += ["", f"## FFT vs our fastest Monte Carlo at rtol {args['mc_tol']:g} on {ESTIMATE}", "",
                  "| shape | fastest MC config | MC time | MC sims | MC rel err | FFT time | "
                  f"FFT speedup (aim >= 30x) | candidates (time to rtol {args['mc_probe_tol']:g} / "
                  f"{args['mc_probe_tol'] / 3:.2g}) |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, mc in report["mc"].items():
            approx = mc["extrapolated"]
            cands = "; ".join(f"{c['config']} {fmt_seconds(c['probe']['seconds'])} / "
                              f"{fmt_seconds(c['probe_tight']['seconds'])}" for c in mc["candidates"])
            lines.append(f"| {key} | {mc['config']} | {'~' if approx else ''}{fmt_seconds(mc['seconds'])}"
                         f"{' (extrapolated)' if approx else ''} | {'~' if approx else ''}{mc['n']:.3g} | "
                         f"{fmt_err(mc['error'])} | {fmt_seconds(mc['fft_seconds'])} | "
                         f"{fmt_ratio(mc['speedup'], approx)} ({mc['verdict']}) | {cands} |")
    tta = report.get("time_to_accuracy")
    if tta:
        lines += ["", f"## Time to accuracy: bench_accuracy's portfolio, {tta['target']}", "",
                  "`autotune.tuned_simulate(portfolio, target=...)` with a fresh database (no tuning session, no "
                  "model: the FFT tier) against the default `Config()` run to the same target, interleaved "
                  "(the aim of the time-to-accuracy issue: >= 3x).", "",
                  "| run | median time | median n (sims or grid points) | config |", "|---|---|---|---|"]
        for key in ("tuned", "default"):
            r = tta[key]
            lines.append(f"| {key} | {fmt_seconds(r['median_s'])} | {r['median_n']:,.0f} | {r['config']} |")
        lines += ["", f"Tuned over default: {fmt_ratio(tta['speedup'])} ({verdict(tta['speedup'], 3.0)})."]
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    parser.add_argument("--backend", default="numpy", help="backend of our FFT (numpy or jax; default numpy)")
    parser.add_argument("--mc-max-seconds", type=float, default=60.0,
                        help="a Monte Carlo run predicted over this is extrapolated instead (default 60)")
    parser.add_argument("--no-mc", dest="mc", action="store_false", help="skip the Monte Carlo comparison")
    parser.add_argument("--shapes", nargs="*", choices=[s.key for s in SHAPES], help="only these shapes")
    parser.add_argument("--out", type=Path, default=None, help="results directory (default experiments/results)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run (< 60 s): rtol 1e-3 only, 1 repeat, reference on 2^18 points, MC to rtol 3e-2 "
                             "(probes 1e-1) within 5 s; writes nothing unless --out is given")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    args.tolerances = TOLERANCES
    args.reference_points = REFERENCE_POINTS
    args.mc_tol, args.mc_probe_tol = MC_TOLERANCE, MC_PROBE_TOLERANCE
    if args.quick:
        args.tolerances = (1e-3,)
        args.repeats = 1
        args.reference_points = QUICK_REFERENCE_POINTS
        args.mc_tol, args.mc_probe_tol = 3e-2, 1e-1
        args.mc_max_seconds = min(args.mc_max_seconds, 5.0)
    report = run_benchmark(args)
    lines = tables(report)
    print("\n" + "\n".join(lines))
    out = args.out if args.out is not None else (None if args.quick else RESULTS)
    if out is None:
        print("\n--quick: results not written")
        return 0
    import json

    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_fft.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    (out / "bench_fft.md").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out / 'bench_fft.json'} and bench_fft.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
