"""What reproducibility costs: the fastest bit-identical config against the fastest config at all.

For each case, three sets of configs are timed side by side (``compare_configs``, interleaved
rounds, the same seed): the pinned reference (``Config()``, or numba), every config of its
reproducible class (same backend, precision, chunk size and estimator; executor, workers and
shared memory free), and a free space (numpy and numba, every executor and worker count, float64
and float32, automatic chunks, pseudo-random). The table gives the reference's median, the best
in-class config and its speed-up, and the best free config and its speed-up; the in-class best is
also checked to give results bit-identical to the reference (``np.array_equal`` on estimates and
standard errors).

    python -m experiments.bench_reproducible [--rounds 5] [--quick]

Writes ``experiments/results/bench_reproducible.{json,md}`` (``--quick``: smaller runs, writes nothing).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics

import numpy as np

from autotune.measure import compare_configs
from autotune.space import reproducible_with, search_space
from kernels import Config, EuropeanOption, Lognormal, Poisson, PolicyGroup, PolicyTerms, Portfolio, simulate

from .bench_kernels import RESULTS

CASES = {
    "european": (EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.03, sigma=0.2), 2_000_000),
    "portfolio": (Portfolio([PolicyGroup(500, Poisson(0.1), Lognormal(mu=8.0, sigma=1.2),
                                         PolicyTerms(deductible=500.0, limit=100_000.0))], levels=(0.99, 0.995)),
                  100_000),
}
REFERENCES = (Config(), Config(backend="numba"))


def _bits(result) -> tuple[np.ndarray, np.ndarray]:
    names = sorted(result.estimates)
    return np.array([result.estimates[k] for k in names]), np.array([result.standard_errors[k] for k in names])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a tenth of the simulations, 2 rounds; writes nothing")
    args = parser.parse_args()
    rounds = 2 if args.quick else args.rounds
    rows = []
    for name, (workload, n_sims) in CASES.items():
        n_sims = n_sims // 10 if args.quick else n_sims
        free = search_space(workload, n_sims, backends=("numpy", "numba"), qmc=(False,), chunk_sizes=(None,))
        free_configs = free.enumerate()
        for ref in REFERENCES:
            in_class = search_space(workload, n_sims, reference=ref).enumerate()
            configs = list(dict.fromkeys([ref, *in_class, *free_configs]))
            samples = compare_configs(workload, n_sims, configs, rounds=rounds, seed=7)
            median = {c: statistics.median(s) for c, s in samples.items() if s}
            best_class = min((c for c in median if reproducible_with(c, ref)), key=median.__getitem__)
            best_free = min(median, key=median.__getitem__)
            a, b = simulate(workload, n_sims, ref, seed=11), simulate(workload, n_sims, best_class, seed=11)
            identical = all(np.array_equal(x, y) for x, y in zip(_bits(a), _bits(b), strict=True))
            row = {"case": name, "n_sims": n_sims, "reference": ref.label(), "reference_s": median[ref],
                   "class_size": len(in_class), "best_in_class": best_class.label(),
                   "best_in_class_s": median[best_class],
                   "best_free": best_free.label(), "best_free_s": median[best_free], "free_size": len(free_configs),
                   "bit_identical": identical}
            rows.append(row)
            print(f"{name:10} n={n_sims:>9,} ref {row['reference']:30} {median[ref] * 1e3:8.1f} ms | in class "
                  f"{row['best_in_class']:34} {median[best_class] * 1e3:8.1f} ms "
                  f"({median[ref] / median[best_class]:.2f}x, identical={identical}) | free {row['best_free']:34} "
                  f"{median[best_free] * 1e3:8.1f} ms ({median[ref] / median[best_free]:.2f}x)", flush=True)
    if args.quick:
        return
    cores = len(os.sched_getaffinity(0))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "bench_reproducible.json").write_text(
        json.dumps({"rounds": rounds, "cores": cores, "rows": rows}, indent=2) + "\n")
    lines = ["| case | n_sims | reference | reference (ms) | best bit-identical | (ms) | speed-up | best free | (ms) | "
             "speed-up | bit-identical |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['n_sims']:,} | {r['reference']} | {r['reference_s'] * 1e3:.1f} | "
                     f"{r['best_in_class']} | {r['best_in_class_s'] * 1e3:.1f} | "
                     f"{r['reference_s'] / r['best_in_class_s']:.2f}x | {r['best_free']} | "
                     f"{r['best_free_s'] * 1e3:.1f} | "
                     f"{r['reference_s'] / r['best_free_s']:.2f}x | {'yes' if r['bit_identical'] else 'NO'} |")
    lines.append(f"\nMedians of {rounds} interleaved rounds (compare_configs) on {cores} cores; the in-class set is "
                 "every config of the reference's reproducible class, the free set every numpy/numba config with "
                 "automatic chunks, float64 or float32, pseudo-random.")
    (RESULTS / "bench_reproducible.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
