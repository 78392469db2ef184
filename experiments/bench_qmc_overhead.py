"""Per-run overhead of a quasi-random run to a loose target, side by side with qmcpy.

At ``atol=1e-2`` on the European ATM call of ``experiments/bench_accuracy.py`` a run needs
4,096-8,192 points: its time is overhead (a chunk per scramble, a pilot, the reduction), not simulation.
This measures, interleaved seed by seed and in CPU time of this thread (``time.thread_time``,
steadier than wall time on a shared machine), medians over ``--runs`` seeds:

* ``ours, scipy engine, 16 scrambles``: the Sobol points from one ``scipy.stats.qmc.Sobol`` per
  chunk, as before (``kernels._paths._engine_uniforms``, which the fast path is tested
  bit-identical to), the rest as in ``ours``;
* ``ours, 16 scrambles``: the points from scrambled direction numbers drawn once per scramble
  seed, the chunks that share a size valued in one vectorised pass
  (``kernels.backends.numpy_backend``), with 16 scrambles (the default until it became 32);
* ``ours, 32 scrambles (the default)``: the same with ``qmc_scrambles=32``;
* qmcpy ``CubQMCNetG`` to ``abs_tol=atol`` (its ``integrate()`` alone, built outside the timing).

Ours at 95% and 99% (the bench compares qmcpy with our 99%), with 16 and 32 scrambles. The config
is the one the tuner chose for this target in ``bench_accuracy`` (numpy, serial, float64, chunk
16384, QMC, control variate).

    python -m experiments.bench_qmc_overhead [--runs 60] [--atol 0.01]

Writes ``experiments/results/bench_qmc_overhead.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from collections.abc import Callable

import kernels._paths as paths
from kernels import Config, Target, simulate

from .bench_accuracy import EUROPEAN, _qmcpy
from .bench_kernels import RESULTS

CONFIG = Config(backend="numpy", qmc=True, control_variate=True, chunk_size=16384)


def _ours(atol: float, confidence: float, engine: bool, scrambles: int = 16) -> Callable[[int], tuple[float, int]]:
    fast = paths._scrambled_directions_many
    config = CONFIG.replace(qmc_scrambles=scrambles)

    def run(seed: int) -> tuple[float, int]:
        paths._scrambled_directions_many = (lambda keys, dim: None) if engine else fast
        try:
            if not engine:
                paths._clear_scramble_cache()  # every run pays for its own scrambles, as a fresh seed does
            t0 = time.thread_time()
            res = simulate(EUROPEAN, config=config, seed=seed, target=Target(atol=atol, confidence=confidence))
            return time.thread_time() - t0, res.n_sims
        finally:
            paths._scrambled_directions_many = fast

    return run


def _qmcpy_run(atol: float) -> Callable[[int], tuple[float, int]]:
    qp = _qmcpy()

    def run(seed: int) -> tuple[float, int]:
        integrand = qp.FinancialOption(
            qp.DigitalNetB2(1, seed=seed), option="EUROPEAN", call_put="CALL", volatility=EUROPEAN.sigma,
            start_price=EUROPEAN.S0, strike_price=EUROPEAN.K, interest_rate=EUROPEAN.r, t_final=EUROPEAN.T)
        stopping = qp.CubQMCNetG(integrand, abs_tol=atol, rel_tol=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.thread_time()
            _, data = stopping.integrate()
            return time.thread_time() - t0, int(data.n_total)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=60, help="seeds per method (default 60)")
    parser.add_argument("--atol", type=float, default=0.01)
    args = parser.parse_args(argv)
    if args.runs < 3:
        parser.error("--runs must be >= 3")
    methods = {
        "ours, scipy engine, 16 scrambles, 95%": _ours(args.atol, 0.95, engine=True),
        "ours, 16 scrambles, 95%": _ours(args.atol, 0.95, engine=False),
        "ours, scipy engine, 16 scrambles, 99%": _ours(args.atol, 0.99, engine=True),
        "ours, 16 scrambles, 99%": _ours(args.atol, 0.99, engine=False),
        "ours, 32 scrambles (the default), 95%": _ours(args.atol, 0.95, engine=False, scrambles=32),
        "ours, 32 scrambles (the default), 99%": _ours(args.atol, 0.99, engine=False, scrambles=32),
        "qmcpy CubQMCNetG": _qmcpy_run(args.atol),
    }
    for run in methods.values():  # warm-up: imports, first-call costs
        run(0)
    samples: dict[str, list[tuple[float, int]]] = {k: [] for k in methods}
    t0 = time.perf_counter()
    for seed in range(1, args.runs + 1):
        names = list(methods)
        shift = seed % len(names)
        for name in names[shift:] + names[:shift]:
            samples[name].append(methods[name](10_000 + seed))
    rows = [{"method": k, "median_ms": 1e3 * statistics.median(s for s, _ in v),
             "median_n": statistics.median(n for _, n in v)} for k, v in samples.items()]
    qmcpy_ms = rows[-1]["median_ms"]
    for r in rows:
        r["qmcpy_over_this"] = qmcpy_ms / r["median_ms"]
    summary = {"runs": args.runs, "atol": args.atol, "config": CONFIG.label(), "seconds": time.perf_counter() - t0,
               "load_average": list(os.getloadavg())}
    lines = [f"European ATM call to atol {args.atol:g}: CPU time of this thread, medians of {args.runs} "
             "interleaved seeds", "", "| method | median | median n | qmcpy / this |", "|---|---|---|---|"]
    lines += [f"| {r['method']} | {r['median_ms']:.2f} ms | {r['median_n']:,.0f} | {r['qmcpy_over_this']:.2f}x |"
              for r in rows]
    lines.append(f"\nConfig {summary['config']}; load average {summary['load_average'][0]:.1f} at the end; "
                 f"{summary['seconds']:.0f} s.")
    text = "\n".join(lines) + "\n"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_qmc_overhead.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    (RESULTS / "bench_qmc_overhead.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
