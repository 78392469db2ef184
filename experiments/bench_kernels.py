"""Time every valid kernel config on the benchmark workloads, and two peers at equal sample counts.

Usage::

    python -m experiments.bench_kernels --size small   # about a minute: the README's main job for now
    python -m experiments.bench_kernels --size full    # the published table (tens of minutes on 2 cores)

For each workload it runs every valid :class:`kernels.Config` on this machine
(backend x executor/workers x precision x qmc x chunk size), each first once as
a warm-up (its overhead, e.g. JIT compilation, is recorded apart), then
repeatedly until 0.5 s have been spent (at least 2, at most 5 repeats). It prints
a table with the median steady-state time and the speedup over the default
config measured in the same run, and writes JSON and Markdown under
``experiments/results/``. The peers (QuantLib's ``MCEuropeanEngine`` for the
European, gemact's Monte Carlo ``LossModel`` for the portfolios) are timed in
the same run at the same number of samples.

Every case also reports how close its best config comes to this machine's
random-number limit: the rate at which numpy draws standard normals on one core
(measured in the same run) times the usable cores, applied to the case's random
draws (:func:`kernels._chunks.draws_per_sim`: one per European path, one per Asian
step, one per policy count and claim of a portfolio; a portfolio's claim sizes are
not normals, so its figure is a rough guide). 100% would be a kernel that does
nothing but draw numpy's normals on every core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import platform
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import kernels
from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    Gamma,
    Lognormal,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    _chunks,
    simulate,
)
from kernels._estimators import chunk_view, output_shape

from . import peers

RESULTS = Path(__file__).resolve().parent / "results"
log = logging.getLogger("bench_kernels")


@dataclass(frozen=True)
class Case:
    name: str
    workload: kernels.Workload
    n_sims: int


def cases(size: str) -> list[Case]:
    """The benchmark workloads; ``small`` divides every sample count by 10 (a quick check)."""
    scale = 1 if size == "full" else 10
    european = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.03, q=0.01, sigma=0.2)
    asian = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, q=0.01, sigma=0.2, n_steps=252)
    small_pf = Portfolio([PolicyGroup(10, Poisson(2.0), Gamma(2.0, 500.0), PolicyTerms(250.0, 5_000.0))])
    large_pf = Portfolio([PolicyGroup(5_000, Poisson(0.02), Lognormal(8.0, 1.5), PolicyTerms(1_000.0, 250_000.0))])
    return [
        Case("european_1e5", european, 100_000 // scale),
        Case("european_1e6", european, 1_000_000),  # the size the README's European figures quote
        Case("european_1e7", european, 10_000_000 // scale),
        Case("asian_1e5x252", asian, 100_000 // scale),
        Case("portfolio_10", small_pf, 100_000 // scale),
        Case("portfolio_5000", large_pf, 100_000 // scale),
    ]


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def valid_configs(
    n_sims: int, cores: int, chunk_sizes: list[int | None], backends: tuple[str, ...] | None = None
) -> list[Config]:
    """Every config that makes sense for ``n_sims`` on ``cores`` cores (the default config always included)."""
    configs = []
    parallel = [("serial", 1, False)]
    for w in range(2, cores + 1):
        parallel += [("threads", w, False), ("processes", w, False), ("processes", w, True)]
    for backend, (executor, workers, shm), precision, qmc, chunk in itertools.product(
        backends or ("numpy", "numba", "jax"), parallel, ["float64", "float32"], [False, True], chunk_sizes
    ):
        if chunk is not None and chunk >= n_sims:
            continue
        if qmc and n_sims < 2 * Config().qmc_scrambles:
            continue
        configs.append(Config(backend=backend, executor=executor, workers=workers, shared_memory=shm,
                              precision=precision, qmc=qmc, chunk_size=chunk))
    if Config() not in configs:
        configs.insert(0, Config())
    return configs


@dataclass
class Timing:
    config: Config
    first_call_s: float = float("nan")
    overhead_s: float = float("nan")
    samples: list[float] = field(default_factory=list)
    error: str | None = None
    estimate: float = float("nan")
    stderr: float = float("nan")

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("inf")


def measure(case: Case, config: Config, *, min_total: float = 0.5, max_repeats: int = 5) -> Timing:
    """Warm-up once, then time steady-state calls until ``min_total`` seconds or ``max_repeats``."""
    t = Timing(config)
    try:
        first = simulate(case.workload, case.n_sims, config, seed=0)
        t.first_call_s, t.overhead_s = first.timing.total_s, first.timing.overhead_s
        spent = 0.0
        for rep in range(max_repeats):
            start = time.perf_counter()
            r = simulate(case.workload, case.n_sims, config, seed=rep + 1)
            t.samples.append(time.perf_counter() - start)
            spent += t.samples[-1]
            if rep >= 1 and spent >= min_total:
                break
        key = "price" if "price" in r.estimates else "mean"
        t.estimate, t.stderr = r.estimates[key], r.standard_errors[key]
    except Exception as exc:  # a failing config is a result of the benchmark, not its end
        t.error = f"{type(exc).__name__}: {exc}"
    return t


def run_peers(case: Case) -> dict[str, Any] | None:
    """Time the peer that computes the same quantity at the same sample count, if any."""
    w = case.workload
    try:
        if isinstance(w, EuropeanOption):
            times, out = [], {}
            for rep in range(3):
                out = peers.quantlib_european(w.S0, w.K, w.T, w.r, w.sigma, w.q, w.kind, n_paths=case.n_sims,
                                              seed=rep)
                times.append(out["seconds"])
            return {"peer": "QuantLib MCEuropeanEngine", "median_s": statistics.median(times),
                    "estimate": out["price"], "stderr": out["stderr"]}
        if isinstance(w, Portfolio) and len(w.groups) == 1:
            g = w.groups[0]
            times = []
            for rep in range(2):
                out = peers.gemact_aggregate(g.frequency, g.severity, n_policies=g.n_policies,
                                             deductible=g.terms.deductible, limit=g.terms.limit,
                                             n_sims=case.n_sims, seed=rep)
                times.append(out["seconds"])
            return {"peer": "gemact LossModel (mc)", "median_s": statistics.median(times),
                    "estimate": out["mean"], "stderr": out["mean_stderr"]}
    except ImportError as exc:
        log.warning("peer skipped for %s: %s", case.name, exc)
        return {"peer": "unavailable", "error": str(exc)}
    return None


def _devices(backends: tuple[str, ...] | None) -> list[str]:
    if backends is not None and "jax" not in backends:
        return []
    try:
        kernels.backends.get_backend("jax")  # sets jax's process-wide options before jax initialises
        import jax

        return [str(d) for d in jax.devices()]
    except Exception as exc:  # the benchmark still runs; jax configs will report their own failure
        return [f"jax unavailable: {exc}"]


def normals_per_core_s(n: int = 2**20, repeats: int = 7) -> float:
    """Standard normals numpy draws per second on one core (median of ``repeats``)."""
    rng = np.random.default_rng(0)
    rng.standard_normal(n)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        rng.standard_normal(n)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def rng_limit_s(case: Case, per_core: float, cores: int) -> float:
    """Seconds the case's random draws take at the random-number limit of ``cores`` cores."""
    return kernels.draws_per_sim(case.workload) * case.n_sims / (per_core * cores)


def overheads(case: Case, configs: list[Config], repeats: int = 21) -> list[dict[str, Any]]:
    """Each config's cost beyond the work of its chunks: planning, dispatch, waiting and reduction.

    Three times per config, medians of ``repeats``, side by side:

    * ``work``: calling the backend on every chunk of the plan in this thread, with nothing else;
    * ``bare``: the same calls on ``workers`` plain threads of a pool started beforehand, each taking
      a contiguous share of the chunks: the parallel work alone, as fast as this machine runs it
      (``work`` itself for one worker);
    * ``run``: ``simulate`` with the config.

    ``work`` and ``bare`` take a fresh plan each call, made beforehand (a chunk spawns its seed when
    it first runs, as part of its work; a reused plan would skip that).

    ``bare`` and ``run`` are timed interleaved; ``work`` on its own (after a stretch in one thread, the
    next parallel run starts with its threads on one CPU for a while, whichever of the two it is).

    ``overhead_pct`` is the share of ``run`` above ``bare``: what the library adds (chunk planning,
    pool dispatch, waiting for the last chunk, reduction). ``scaling`` is ``work / bare``, what the
    cores give on the chunks alone (``workers`` at best).
    """
    out = []
    for config in configs:
        backend = kernels.backends.get_backend(config.backend)
        size = config.chunk_size or kernels.auto_chunk_size(case.workload, case.n_sims)
        root = np.random.SeedSequence(0)
        plans = iter([_chunks.plan_chunks(case.n_sims, size, root) for _ in range(3 * repeats + 3)])  # see above
        chunks = _chunks.plan_chunks(case.n_sims, size, root)
        backend.prepare(case.workload, config, size)
        buffer = np.empty(output_shape(case.workload, case.n_sims, len(chunks)))
        workers = config.workers if config.executor in ("threads", "processes", "dask") else 1

        def work(share=None, buffer=buffer, backend=backend, config=config, plans=plans) -> None:
            for c in next(plans) if share is None else share:
                backend.run_chunk(case.workload, config, c, chunk_view(buffer, case.workload, c))

        def run(config=config) -> None:
            simulate(case.workload, case.n_sims, config, seed=0)

        with ThreadPoolExecutor(workers) as pool:
            def bare(work=work, pool=pool, plans=plans, workers=workers) -> None:
                plan = next(plans)
                shares = [plan[len(plan) * i // workers: len(plan) * (i + 1) // workers] for i in range(workers)]
                for f in [pool.submit(work, share) for share in shares]:
                    f.result()

            # work apart: right after 10 ms in one thread, a run on 2 threads went at one thread's speed on
            # this VM (the woken threads start on the waker's CPU), which would charge the scheduler to the run
            (work_s,) = _median_times((work,), repeats)
            bare_s, total_s = _median_times((bare, run), repeats)
        out.append({"label": config.label(), "chunks": len(chunks), "workers": workers, "work_s": work_s,
                    "bare_s": bare_s, "median_s": total_s, "scaling": work_s / bare_s,
                    "overhead_pct": 100 * max(total_s - bare_s, 0.0) / total_s,
                    "over_ideal_pct": 100 * max(total_s - work_s / workers, 0.0) / total_s})
    return out


def _median_times(fns: tuple[Any, ...], repeats: int) -> tuple[float, ...]:
    """Medians of ``fns`` timed interleaved (one of each per round, after one warm-up round)."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, out in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            out.append(time.perf_counter() - start)
    return tuple(statistics.median(t) for t in times)


def fmt_s(x: float) -> str:
    return f"{x * 1e3:9.1f} ms" if x < 10 else f"{x:9.2f} s "


def run(
    size: str, chunk_sizes: list[int | None], only: list[str] | None, backends: tuple[str, ...] | None = None,
    max_workers: int | None = None,
) -> dict[str, Any]:
    cores = min(usable_cores(), max_workers or usable_cores())
    report: dict[str, Any] = {
        "size": size,
        "machine": {"cores": usable_cores(), "max_workers": cores, "platform": platform.platform(),
                    "python": sys.version.split()[0], "processor": platform.processor()},
        "versions": {"numpy": np.__version__, **peers.peer_versions()},
        "devices": _devices(backends),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "cases": [],
    }
    per_core = normals_per_core_s()
    report["normals_per_core_s"] = per_core
    print(f"random-number limit: numpy draws {per_core / 1e6:.0f}M normals/s on one core, x {cores} cores")
    for case in cases(size):
        if only and case.name not in only:
            continue
        configs = valid_configs(case.n_sims, cores, chunk_sizes, backends)
        print(f"\n== {case.name}: n_sims={case.n_sims:,}, {len(configs)} configs", flush=True)
        timings = [measure(case, c) for c in configs]
        default = next(t for t in timings if t.config == Config())
        peer = run_peers(case)
        limit_s = rng_limit_s(case, per_core, cores)
        rows = []
        for t in sorted(timings, key=lambda t: t.median):
            rows.append({
                "config": t.config.to_dict(), "label": t.config.label(), "median_s": t.median,
                "samples_s": t.samples, "first_call_s": t.first_call_s, "overhead_s": t.overhead_s,
                "speedup_vs_default": default.median / t.median if t.samples else None,
                "pct_of_rng_limit": 100 * limit_s / t.median if t.samples else None,
                "estimate": t.estimate, "stderr": t.stderr, "error": t.error,
            })
        print(f"{'config':48} {'median':>12} {'first call':>12} {'x default':>9} {'% of RNG limit':>15}")
        for row in rows:
            if row["error"]:
                print(f"{row['label']:48} FAILED: {row['error']}")
                continue
            print(f"{row['label']:48} {fmt_s(row['median_s'])} {fmt_s(row['first_call_s'])} "
                  f"{row['speedup_vs_default']:8.2f}x {row['pct_of_rng_limit']:14.0f}%")
        if peer and "median_s" in peer:
            peer["ratio_to_our_default"] = peer["median_s"] / default.median
            peer["ratio_to_our_best"] = peer["median_s"] / rows[0]["median_s"]
            print(f"peer {peer['peer']}: {fmt_s(peer['median_s'])} = {peer['ratio_to_our_default']:.2f}x our default,"
                  f" {peer['ratio_to_our_best']:.2f}x our best ({rows[0]['label']})")
        if case.name == "european_1e6":
            best = [Config.from_dict(r["config"]) for r in rows if not r["error"]][:1]
            report["overheads"] = overheads(case, [Config(), Config(backend="numba"), *best])
            print(f"\n{'overheads at 1e6 paths':48} {'chunks':>6} {'work':>12} {'bare threads':>12} "
                  f"{'scaling':>7} {'run':>12} {'overhead':>9}")
            for o in report["overheads"]:
                print(f"{o['label']:48} {o['chunks']:6d} {fmt_s(o['work_s'])} {fmt_s(o['bare_s'])} "
                      f"{o['scaling']:6.2f}x {fmt_s(o['median_s'])} {o['overhead_pct']:8.0f}%")
        report["cases"].append({"name": case.name, "n_sims": case.n_sims, "workload": repr(case.workload),
                                "default_median_s": default.median, "rng_limit_s": limit_s, "rows": rows,
                                "peer": peer})
    kernels.shutdown_pools()
    return report


def write(report: dict[str, Any], out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"bench_kernels_{report['size']}" + (f"_{report['tag']}" if report.get("tag") else "")
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str))
    m = report["machine"]
    devices = ", ".join(report.get("devices") or []) or "no JAX devices listed"
    lines = [f"# Kernel benchmark ({report['size']}), {report['started']}", "",
             f"{m['cores']} usable cores, workers up to {m['max_workers']}; JAX devices: {devices}", "",
             f"Random-number limit: {report['normals_per_core_s'] / 1e6:.0f}M numpy normals/s per core"
             f" x {m['max_workers']} cores.", "",
             "| workload | n_sims | default | best config | best | % of RNG limit | speedup | worst | peer "
             "| peer time | peer / best |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for c in report["cases"]:
        ok = [r for r in c["rows"] if not r["error"]]
        best, worst = ok[0], ok[-1]
        peer = c["peer"] or {}
        peer_cols = (f"{peer['peer']} | {peer['median_s']:.4f} s | {peer['ratio_to_our_best']:.1f}x"
                     if "median_s" in peer else "- | - | -")
        lines.append(
            f"| {c['name']} | {c['n_sims']:,} | {c['default_median_s']:.4f} s | {best['label']} | "
            f"{best['median_s']:.4f} s | {best['pct_of_rng_limit']:.0f}% | {best['speedup_vs_default']:.2f}x | "
            f"{worst['median_s']:.4f} s | {peer_cols} |"
        )
    if report.get("overheads"):
        lines += ["", "Overheads at 1e6 European paths: the chunks' work in one thread, the same on the config's "
                  "workers as bare threads (the cores' scaling), and the run; overhead = run above bare threads:",
                  "", "| config | chunks | work | bare threads | scaling | run | overhead |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| {o['label']} | {o['chunks']} | {o['work_s'] * 1e3:.1f} ms | {o['bare_s'] * 1e3:.1f} ms | "
                  f"{o['scaling']:.2f}x | {o['median_s'] * 1e3:.1f} ms | {o['overhead_pct']:.0f}% |"
                  for o in report["overheads"]]
    (out_dir / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out_dir / (stem + '.json')} and {stem}.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "full"], default="small")
    parser.add_argument("--chunks", default=None,
                        help="comma-separated chunk sizes to try; 'auto' is Config.chunk_size=None "
                             "(default: 'auto' for --size small, 'auto,16384,262144' for --size full)")
    parser.add_argument("--only", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--backends", default="", help="comma-separated backends (default: all)")
    parser.add_argument("--max-workers", type=int, default=None, help="cap on parallel workers (default: all usable)")
    parser.add_argument("--tag", default="", help="suffix of the output files (e.g. the machine)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    chunks = args.chunks or ("auto" if args.size == "small" else "auto,16384,262144")
    chunk_sizes = [None if c == "auto" else int(c) for c in chunks.split(",") if c]
    logging.basicConfig(level=logging.WARNING)
    backends = tuple(b for b in args.backends.split(",") if b) or None
    report = run(args.size, chunk_sizes, [s for s in args.only.split(",") if s] or None, backends, args.max_workers)
    report["tag"] = args.tag
    write(report, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
