"""Model quality: tune a training suite on two "machines", train, evaluate on held-out workloads.

Usage (the two machines are this one with all its cores, and the same one pinned to one core,
which has a different fingerprint)::

    python -m experiments.model_quality collect                  # all usable cores
    taskset -c 0 python -m experiments.model_quality collect     # one core
    python -m experiments.model_quality report

``collect`` measures every config of a restricted search space (no QMC, which never wins
on time; automatic chunks and two explicit sizes) for the 16 training workloads and the 5
held-out workloads, by brute force, into one results database (``--storage``, default
``sqlite:///model_quality.db``). ``report`` trains the random forest on the training
workloads of both machines and scores its choice for each held-out (machine, workload)
against the fastest measured config (the oracle), next to the baselines, and also runs the
library's grouped cross-validation over the training suite. It writes
``experiments/results/model_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from autotune import open_storage, tune, workload_features
from autotune.measure import MeasureOptions
from autotune.model import evaluate, training_set
from autotune.space import search_space
from kernels import (
    AsianOption,
    Binomial,
    EuropeanOption,
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

from .bench_kernels import RESULTS

DEFAULT_STORAGE = "sqlite:///model_quality.db"


def _euro(K: float, kind: str = "call", q: float = 0.0) -> EuropeanOption:
    return EuropeanOption(S0=100.0, K=K, T=1.0, r=0.03, sigma=0.25, q=q, kind=kind)


def _pf(*groups: PolicyGroup) -> Portfolio:
    return Portfolio(list(groups))


TRAINING = [
    (_euro(100.0), 2_000),
    (_euro(100.0), 10_000),
    (_euro(90.0, "put"), 50_000),
    (_euro(80.0, q=0.02), 200_000),
    (_euro(110.0), 1_000_000),
    (AsianOption(100.0, 100.0, 1.0, 0.03, 0.25, n_steps=12), 20_000),
    (AsianOption(100.0, 95.0, 1.0, 0.03, 0.25, n_steps=52, antithetic=True), 5_000),
    (AsianOption(100.0, 100.0, 1.0, 0.03, 0.25, n_steps=252), 20_000),
    (AsianOption(100.0, 105.0, 0.5, 0.03, 0.25, n_steps=24, control_variate=False), 100_000),
    (_pf(PolicyGroup(10, Poisson(2.0), Gamma(2.0, 500.0), PolicyTerms(250.0, 5_000.0))), 2_000),
    (_pf(PolicyGroup(100, NegativeBinomial(2.0, 0.5), Lognormal(7.0, 1.0), PolicyTerms(500.0, 20_000.0))), 20_000),
    (_pf(PolicyGroup(5_000, Poisson(0.02), Lognormal(8.0, 1.5), PolicyTerms(1_000.0, 250_000.0))), 20_000),
    (_pf(PolicyGroup(50, Poisson(1.0), Gamma(1.5, 800.0), PolicyTerms(100.0, 5_000.0, 200.0, 8_000.0)),
         PolicyGroup(5, Poisson(3.0), Exponential(300.0))), 10_000),
    (_pf(PolicyGroup(20, Binomial(5, 0.2), Pareto(2.5, 2_000.0), PolicyTerms(0.0, 50_000.0))), 50_000),
    (_pf(PolicyGroup(500, Poisson(0.2), Weibull(0.8, 1_000.0), PolicyTerms(200.0, 10_000.0))), 10_000),
    (_pf(PolicyGroup(2, Poisson(1.5), Exponential(1_000.0))), 100_000),
]

HELD_OUT = [
    (_euro(100.0, "put"), 3_000_000),
    (_euro(70.0, q=0.01), 400_000),
    (AsianOption(100.0, 100.0, 2.0, 0.02, 0.3, n_steps=100, antithetic=True), 40_000),
    (_pf(PolicyGroup(2_000, NegativeBinomial(1.0, 0.9), Gamma(2.0, 3_000.0), PolicyTerms(500.0, 50_000.0))), 5_000),
    (_pf(PolicyGroup(30, Poisson(0.8), Lognormal(7.5, 1.2), PolicyTerms(200.0, 30_000.0, 0.0, 60_000.0)),
         PolicyGroup(200, Binomial(2, 0.1), Weibull(1.5, 4_000.0), PolicyTerms(1_000.0, 20_000.0)),
         PolicyGroup(8, NegativeBinomial(3.0, 0.4), Pareto(3.0, 5_000.0))), 30_000),
]

OPTIONS = MeasureOptions(min_repeats=3, max_repeats=5, min_total_s=0.05)


def space_for(workload, n_sims: int):
    return search_space(workload, n_sims, qmc=(False,),
                        chunk_sizes=(None, *(c for c in (16_384, 262_144) if c < n_sims)))


def collect(storage: str) -> None:
    store = open_storage(storage)
    for i, (workload, n_sims) in enumerate(TRAINING + HELD_OUT):
        started = time.perf_counter()
        report = tune(workload, n_sims, storage=store, sampler="brute", space=space_for(workload, n_sims),
                      measure_options=OPTIONS, progress=False)
        print(f"[{i + 1}/{len(TRAINING) + len(HELD_OUT)}] {report.workload_key} n={n_sims:,}: "
              f"{report.trials} trials, best {report.best_config.label()} "
              f"({report.speedup_over_default or float('nan'):.2f}x default) in {time.perf_counter() - started:.0f} s",
              flush=True)


def report(storage: str, out: Path) -> None:
    store = open_storage(storage)
    data = training_set(store)
    held = sorted({workload_features(w, n).key for w, n in HELD_OUT})
    holdout = evaluate(data, holdout_workloads=held)
    cv = evaluate(data.subset(~_in(data.workload_ids, held)), group_by="both", n_splits=4)
    machines = sorted(set(data.machine_ids.tolist()))
    text = [
        "# Model quality", "",
        f"{len(data)} complete measurements, {len(machines)} machines, "
        f"{len(TRAINING)} training and {len(HELD_OUT)} held-out workloads.", "",
        "## Held-out workloads (different sizes and shapes; trained on the training suite of both machines)", "",
        "```", holdout.table(), "```", "",
        "## Grouped cross-validation over the training suite (machine and workload held out together)", "",
        "```", cv.table(), "```", "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_quality.md").write_text("\n".join(text))
    (out / "model_quality.json").write_text(json.dumps({"holdout": holdout.to_dict(), "cv": cv.to_dict(),
                                                        "machines": machines}, indent=1, default=str))
    print("\n".join(text))


def _in(values, allowed):
    import numpy as np

    return np.isin(values, list(allowed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["collect", "report"])
    parser.add_argument("--storage", default=DEFAULT_STORAGE)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.phase == "collect":
        collect(args.storage)
    else:
        report(args.storage, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
