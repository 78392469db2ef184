"""Scale-out on Dask: a 1e8-path European and a large portfolio on a LocalCluster of 1 and 2 workers.

Usage::

    python -m experiments.bench_scaleout           # 1e8 paths, 2e6 portfolio years: a few minutes on 2 cores
    python -m experiments.bench_scaleout --quick   # 1e7 paths, 2e5 years: well under a minute

For each case it times (median of ``--repeats`` runs, after a warm-up run) the serial executor
(one core), the threads executor on every usable core, and ``executor="dask"`` on a
``distributed.LocalCluster`` (single-threaded worker processes on 127.0.0.1) of 1 worker and of
as many workers as usable cores, each with ``workers`` = the cluster's workers. Every run checks
that its estimates are bit-identical to the serial run's. Efficiency is
``serial time / (workers x time)``.

The per-task overhead is measured directly, with runs of ``TINY_CHUNKS`` chunks of ``TINY_CHUNK``
paths each (compute negligible; medians over repeats): with one chunk in flight, the wall time
per chunk less the serial executor's is a chunk's round trip (submit, run, result back); with
``MANY_IN_FLIGHT`` chunks in flight it is what the client and scheduler spend per chunk when
they are the bottleneck; a one-chunk run gives a run's fixed cost. From these,
:func:`model_time` estimates on paper what a cluster of ``W`` workers would take, and
:func:`break_even_serial_s` from which problem size the dask executor beats the threads executor
on this machine (taken at perfect efficiency, which favours the threads). Writes
``experiments/results/bench_scaleout[_quick].json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import kernels
from kernels import (
    Config,
    EuropeanOption,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    simulate,
    use_dask,
)

from ._ratios import fmt_ratio, ratio

RESULTS = Path(__file__).resolve().parent / "results"
log = logging.getLogger("bench_scaleout")

BACKEND = "numba"
TINY_CHUNK = 64
TINY_CHUNKS = 200
MANY_IN_FLIGHT = 64
CHUNKS_PER_WORKER = 2
"""Chunks per worker the paper estimate assumes (a run of ``W`` workers wants ``>= W`` chunks: set
``chunk_size`` so; automatic chunks cut a run into about 64)."""
CLUSTER_SIZES = (10, 100, 1000)

CALL = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2)
BOOK = Portfolio([
    PolicyGroup(500, Poisson(0.05), Lognormal(8.0, 1.2), PolicyTerms(deductible=500.0, limit=100_000.0)),
    PolicyGroup(50, Poisson(0.4), Gamma(2.0, 3000.0), PolicyTerms(deductible=1000.0, limit=50_000.0)),
    PolicyGroup(5, NegativeBinomial(2.0, 0.5), Pareto(2.5, 10_000.0), PolicyTerms(limit=1_000_000.0)),
])


@dataclass(frozen=True)
class Case:
    name: str
    workload: kernels.Workload
    n_sims: int


def cases(quick: bool) -> list[Case]:
    return [Case("european", CALL, 10_000_000 if quick else 100_000_000),
            Case("portfolio", BOOK, 200_000 if quick else 2_000_000)]


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def model_time(serial_s: float, workers: int, chunks: int, round_trip_s: float, task_s: float,
               fixed_s: float) -> float:
    """Paper estimate of a dask run of ``chunks`` chunks, ``workers`` in flight on as many workers.

    Each worker slot computes its share of the serial time and waits one round trip between its
    chunks (the next chunk is submitted when one returns); the client and scheduler spend
    ``task_s`` per chunk one after another, so the run takes at least ``chunks x task_s``; plus the
    run's fixed cost. Neither bound overlaps with the other beyond the ``max``.
    """
    return fixed_s + max((serial_s + chunks * round_trip_s) / workers, chunks * task_s)


def break_even_serial_s(local_cores: int, local_efficiency: float, workers: int, chunks: int, round_trip_s: float,
                        task_s: float, fixed_s: float) -> float | None:
    """The serial compute time above which ``workers`` dask workers beat the threads executor on this machine.

    The least ``T`` with ``model_time(T, workers, ...) < T / (local_cores x local_efficiency)``; None
    when the cluster never wins (it has no more effective cores than this machine).
    """
    local = 1.0 / (local_cores * local_efficiency)
    gain = local - 1.0 / workers
    if gain <= 0:
        return None
    compute_bound = (fixed_s + chunks * round_trip_s / workers) / gain
    scheduler_bound = (fixed_s + chunks * task_s) / local
    return max(compute_bound, scheduler_bound)


def _timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    result = fn()  # warm-up: compilation, pool or cluster start, worker preparation
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples), samples, result


def _cluster(n_workers: int) -> tuple[Any, Any, float]:
    import distributed

    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                                       silence_logs=logging.WARNING)
    client = distributed.Client(cluster, set_as_default=False)
    return cluster, client, time.perf_counter() - t0


def _tiny(config: Config, repeats: int) -> dict[str, float]:
    """Per-chunk wall time of runs of tiny chunks, and the wall time of a one-chunk run (medians)."""
    many = TINY_CHUNK * TINY_CHUNKS
    cfg = config.replace(chunk_size=TINY_CHUNK)
    per_chunk, _, _ = _timed(lambda: simulate(CALL, many, cfg, seed=1), repeats)
    one, _, _ = _timed(lambda: simulate(CALL, TINY_CHUNK * max(config.workers, 2), cfg.replace(
        chunk_size=TINY_CHUNK * max(config.workers, 2)), seed=1), repeats)
    out = {"per_chunk_s": per_chunk / TINY_CHUNKS, "one_chunk_run_s": one}
    if config.executor == "dask":  # many chunks in flight: the client's and scheduler's cost per chunk
        busy = cfg.replace(workers=MANY_IN_FLIGHT)
        flooded, _, _ = _timed(lambda: simulate(CALL, many, busy, seed=1), repeats)
        out["per_chunk_many_in_flight_s"] = flooded / TINY_CHUNKS
    return out


def _noop(x: int) -> int:
    return x


def _raw_round_trip(client: Any, repeats: int) -> float:
    """Median time of ``client.submit(no-op).result()``: what Dask itself costs per task, without kernels."""
    samples = []
    for i in range(max(50, 10 * repeats)):
        t0 = time.perf_counter()
        client.submit(_noop, i, pure=False).result()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def run(quick: bool, repeats: int) -> dict[str, Any]:
    cores = usable_cores()
    configs: dict[str, Config] = {
        "serial x1": Config(backend=BACKEND),
        f"threads x{cores}": Config(backend=BACKEND, executor="threads", workers=cores),
    }
    report: dict[str, Any] = {
        "quick": quick, "backend": BACKEND, "repeats": repeats,
        "machine": {"cores": cores, "platform": platform.platform(), "python": sys.version.split()[0],
                    "processor": platform.processor(), "load_before": os.getloadavg()[0]},
        "versions": {"numpy": np.__version__, "distributed": _distributed_version()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "cases": [], "clusters": {}, "overhead": {},
    }
    timings: dict[tuple[str, str], dict[str, Any]] = {}

    def time_all(label: str, config: Config) -> None:
        for case in cases(quick):
            median, samples, result = _timed(lambda c=case: simulate(c.workload, c.n_sims, config, seed=7), repeats)
            timings[(case.name, label)] = {"label": label, "config": config.to_dict(), "median_s": median,
                                           "samples_s": samples, "workers": config.workers,
                                           "chunks": -(-case.n_sims // result.config.chunk_size),
                                           "estimates": dict(result.estimates)}
            print(f"  {case.name:10} {label:16} {median:8.3f} s", flush=True)
        report["overhead"][label] = _tiny(config, repeats)
        print(f"  tiny chunks  {label:16} {report['overhead'][label]['per_chunk_s'] * 1e3:8.3f} ms/chunk", flush=True)

    print(f"== {cores} usable cores, backend {BACKEND}", flush=True)
    for label, config in configs.items():
        time_all(label, config)
    for n_workers in sorted({1, cores}):
        cluster, client, start_s = _cluster(n_workers)
        label = f"dask {n_workers}w"
        report["clusters"][label] = {"workers": n_workers, "start_s": start_s}
        print(f"  LocalCluster of {n_workers} worker(s) started in {start_s:.2f} s", flush=True)
        try:
            with use_dask(client):
                time_all(label, Config(backend=BACKEND, executor="dask", workers=n_workers))
            report["clusters"][label]["raw_round_trip_s"] = _raw_round_trip(client, repeats)
            print(f"  raw Dask round trip (submit + result of a no-op) {label}: "
                  f"{report['clusters'][label]['raw_round_trip_s'] * 1e3:.3f} ms", flush=True)
        finally:
            client.close()
            cluster.close()
    kernels.shutdown_pools()
    report["machine"]["load_after"] = os.getloadavg()[0]
    serial_label = "serial x1"
    for case in cases(quick):
        base = timings[(case.name, serial_label)]
        rows = []
        for (name, _label), t in timings.items():
            if name != case.name:
                continue
            speedup = ratio(base["median_s"], t["median_s"])
            rows.append({**t, "speedup_vs_serial": speedup,
                         "efficiency": speedup / t["workers"] if speedup else None,
                         "identical_to_serial": t["estimates"] == base["estimates"]})
        report["cases"].append({"name": case.name, "n_sims": case.n_sims, "workload": repr(case.workload),
                                "serial_s": base["median_s"], "rows": rows})
    report["model"] = _model(report, cores)
    return report


def _distributed_version() -> str | None:
    try:
        import distributed
    except ImportError:
        return None
    return distributed.__version__


def _model(report: dict[str, Any], cores: int) -> dict[str, Any]:
    """The paper estimates: per-task and fixed costs, clusters of CLUSTER_SIZES workers, break-even sizes."""
    overhead = report["overhead"]
    serial_chunk = overhead["serial x1"]["per_chunk_s"]
    dask_label = f"dask {cores}w"
    task_s = overhead[dask_label]["per_chunk_many_in_flight_s"]
    latency_s = max(overhead["dask 1w"]["per_chunk_s"] - serial_chunk, 0.0)
    fixed_s = max(overhead[dask_label]["one_chunk_run_s"] - overhead["serial x1"]["one_chunk_run_s"], 0.0)
    out: dict[str, Any] = {"task_s": task_s, "round_trip_s": latency_s, "fixed_s": fixed_s,
                           "chunks_per_worker": CHUNKS_PER_WORKER, "cases": []}
    for case in report["cases"]:
        ideal_threads = case["serial_s"] / cores  # perfect efficiency: the comparison favours the threads
        per_sim = case["serial_s"] / case["n_sims"]
        rows = []
        for w in CLUSTER_SIZES:
            chunks = CHUNKS_PER_WORKER * w
            t = model_time(case["serial_s"], w, chunks, latency_s, task_s, fixed_s)
            even = break_even_serial_s(cores, 1.0, w, chunks, latency_s, task_s, fixed_s)
            rows.append({"workers": w, "chunks": chunks, "time_s": t, "efficiency": case["serial_s"] / (w * t),
                         "speedup_vs_ideal_threads": ideal_threads / t,
                         "break_even_serial_s": even,
                         "break_even_n_sims": None if even is None else math.ceil(even / per_sim)})
        out["cases"].append({"name": case["name"], "n_sims": case["n_sims"], "serial_s": case["serial_s"],
                             "rows": rows})
    return out


def _fmt_n(n: float | None) -> str:
    if n is None:
        return "never"
    exp = math.floor(math.log10(n)) if n > 0 else 0
    return f"{n / 10**exp:.1f}e{exp}"


def write(report: dict[str, Any], out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = "bench_scaleout" + ("_quick" if report["quick"] else "")
    (out_dir / f"{stem}.json").write_text(json.dumps(report, indent=1, default=str))
    m, model = report["machine"], report["model"]
    lines = [f"# Scale-out on Dask ({'quick' if report['quick'] else 'full'}), {report['started']}", "",
             f"{m['cores']} usable cores (load average {m['load_before']:.1f} before, {m['load_after']:.1f} after: "
             f"the machine was shared); backend {report['backend']}; distributed {report['versions']['distributed']}; "
             f"median of {report['repeats']} runs after a warm-up", "",
             "| workload | n_sims | executor | chunks | median | speedup vs serial | efficiency | identical |",
             "|---|---|---|---|---|---|---|---|"]
    for c in report["cases"]:
        for r in c["rows"]:
            lines.append(f"| {c['name']} | {c['n_sims']:,} | {r['label']} | {r['chunks']} | {r['median_s']:.3f} s | "
                         f"{fmt_ratio(r['speedup_vs_serial'])} | {r['efficiency']:.2f} | "
                         f"{'yes' if r['identical_to_serial'] else 'NO'} |")
    lines += ["", f"Per-chunk cost, runs of {TINY_CHUNKS} chunks of {TINY_CHUNK} paths (median):", "",
              f"| executor | wall per chunk | ... with {MANY_IN_FLIGHT} in flight | one-chunk run |",
              "|---|---|---|---|"]
    for label, o in report["overhead"].items():
        many = o.get("per_chunk_many_in_flight_s")
        lines.append(f"| {label} | {o['per_chunk_s'] * 1e3:.3f} ms | "
                     f"{'-' if many is None else f'{many * 1e3:.3f} ms'} | {o['one_chunk_run_s'] * 1e3:.2f} ms |")
    for label, c in report["clusters"].items():
        lines.append(f"\nLocalCluster ({label}): start {c['start_s']:.2f} s (one-off, kept for later calls); "
                     f"Dask's own round trip (submit + result of a no-op, median) {c['raw_round_trip_s'] * 1e3:.2f} ms")
    lines += ["", f"Paper estimate (round trip per chunk {model['round_trip_s'] * 1e3:.2f} ms, client and scheduler "
                  f"{model['task_s'] * 1e3:.2f} ms per chunk with {MANY_IN_FLIGHT} in flight, fixed cost per run "
                  f"{model['fixed_s'] * 1e3:.1f} ms; {model['chunks_per_worker']} chunks per worker; threads here "
                  "taken at perfect efficiency):", "",
              "| workload | n_sims | workers | estimated time | efficiency | vs threads here | dask pays off from |",
              "|---|---|---|---|---|---|---|"]
    for c in model["cases"]:
        for r in c["rows"]:
            lines.append(f"| {c['name']} | {c['n_sims']:,} | {r['workers']} | {r['time_s']:.3f} s | "
                         f"{r['efficiency']:.2f} | {fmt_ratio(r['speedup_vs_ideal_threads'])} | "
                         f"{_fmt_n(r['break_even_n_sims'])} sims |")
    (out_dir / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print(f"\nwrote {out_dir / (stem + '.json')} and {stem}.md")
    return out_dir / f"{stem}.md"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e7 paths and 2e5 portfolio years")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per config (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    logging.basicConfig(level=logging.WARNING)
    report = run(args.quick, args.repeats)
    md = write(report, args.out)
    print(md.read_text())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
