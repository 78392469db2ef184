"""What measuring each config in its own process (the default) costs, side by side with in-process measurement.

For each config of a small space, the same measurement is taken in-process and isolated, alternating
which goes first, over several rounds; the table gives medians of each mode's wall time per
measurement and the overhead (isolated minus in-process). Steady-state times from both modes are
also compared: isolation must not change what is measured.

    python -m experiments.bench_isolation [--rounds 5]

Writes ``experiments/results/bench_isolation.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time

from autotune.measure import MeasureOptions, measure
from kernels import Config, EuropeanOption, Lognormal, Poisson, PolicyGroup, PolicyTerms, Portfolio

from .bench_kernels import RESULTS

CASES = {
    "european 1e5": (EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.03, sigma=0.2), 100_000),
    "portfolio 1e4": (Portfolio([PolicyGroup(500, Poisson(0.1), Lognormal(mu=8.0, sigma=1.2),
                                             PolicyTerms(deductible=500.0, limit=100_000.0))]), 10_000),
}
CONFIGS = (
    Config(),
    Config(backend="numba"),
    Config(backend="numba", executor="threads", workers=2),
    Config(executor="processes", workers=2),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    base = dict(min_repeats=3, max_repeats=10, min_total_s=0.1)
    modes = {"in-process": MeasureOptions(isolate=False, **base), "isolated": MeasureOptions(isolate=True, **base)}
    rows = []
    for name, (workload, n_sims) in CASES.items():
        for config in CONFIGS:
            wall: dict[str, list[float]] = {m: [] for m in modes}
            steady: dict[str, list[float]] = {m: [] for m in modes}
            for r in range(args.rounds):
                order = list(modes) if r % 2 == 0 else list(reversed(modes))
                for mode in order:
                    t0 = time.perf_counter()
                    m = measure(workload, n_sims, config, options=modes[mode])
                    wall[mode].append(time.perf_counter() - t0)
                    if m.ok:
                        steady[mode].append(m.steady_s)
            row = {"case": name, "config": config.label(),
                   **{f"{m}_wall_s": statistics.median(wall[m]) for m in modes},
                   **{f"{m}_steady_s": statistics.median(steady[m]) if steady[m] else None for m in modes}}
            row["overhead_s"] = row["isolated_wall_s"] - row["in-process_wall_s"]
            rows.append(row)
            print(f"{name:14} {row['config']:34} in-process {row['in-process_wall_s']:6.3f} s  "
                  f"isolated {row['isolated_wall_s']:6.3f} s  overhead {row['overhead_s'] * 1e3:7.1f} ms  "
                  f"steady {row['in-process_steady_s'] or math.nan:.4g} / {row['isolated_steady_s'] or math.nan:.4g} s",
                  flush=True)
    overheads = [r["overhead_s"] for r in rows]
    summary = {"median_overhead_s": statistics.median(overheads), "max_overhead_s": max(overheads),
               "rounds": args.rounds, "cores": len(os.sched_getaffinity(0))}
    print(f"\nmedian overhead per measured config: {summary['median_overhead_s'] * 1e3:.0f} ms "
          f"(max {summary['max_overhead_s'] * 1e3:.0f} ms), {args.rounds} rounds")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_isolation.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=2) + "\n")
    lines = ["| case | config | in-process (s) | isolated (s) | overhead (ms) | steady in-process / isolated (ms) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        steady = "/".join("-" if r[f"{m}_steady_s"] is None else f"{r[f'{m}_steady_s'] * 1e3:.2f}" for m in modes)
        lines.append(f"| {r['case']} | {r['config']} | {r['in-process_wall_s']:.3f} | {r['isolated_wall_s']:.3f} | "
                     f"{r['overhead_s'] * 1e3:.0f} | {steady} |")
    lines.append(f"\nMedian overhead per measured config: {summary['median_overhead_s'] * 1e3:.0f} ms "
                 f"(max {summary['max_overhead_s'] * 1e3:.0f} ms); medians of {args.rounds} alternating rounds on "
                 f"{summary['cores']} cores.")
    (RESULTS / "bench_isolation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
