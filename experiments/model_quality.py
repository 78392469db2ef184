"""Model quality: tune a training suite on two "machines", train, evaluate on held-out workloads.

Usage (the two machines are this one with all its cores, and the same one pinned to one core,
which has a different fingerprint)::

    python -m experiments.model_quality collect                  # all usable cores
    taskset -c 0 python -m experiments.model_quality collect     # one core
    python -m experiments.model_quality report

``collect`` measures every config of a restricted search space (no QMC, which never wins
on time; automatic chunks and two explicit sizes) for the 30 training workloads (suite
``standard`` of :mod:`autotune.suites`) and the 5 held-out workloads (suite ``held-out``), by
brute force (JAX only on the first 7 training portfolios, see ``JAX_PORTFOLIOS``), into one
results database (``--storage``, default ``sqlite:///model_quality.db``). ``report`` trains the
random forest on the training workloads of both machines and scores its choice for each held-out (machine, workload)
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
from autotune.suites import get_suite
from kernels import Portfolio

from .bench_kernels import RESULTS

DEFAULT_STORAGE = "sqlite:///model_quality.db"


TRAINING = [(e.workload, e.n_sims) for e in get_suite("standard").entries]
HELD_OUT = [(e.workload, e.n_sims) for e in get_suite("held-out").entries]

#: Workloads measured with the JAX backend on portfolios too (the first suite, collected first).
#: JAX on a CPU is 20-60x slower than numpy on portfolios (its samplers of counts and claims do not
#: vectorise well there); measuring it on every later portfolio would triple the collection time,
#: and these 7 portfolios already teach the model that it loses.
JAX_PORTFOLIOS = 7
_FIRST_PORTFOLIOS = [(w, n) for w, n in TRAINING if isinstance(w, Portfolio)][:JAX_PORTFOLIOS] + \
    [(w, n) for w, n in HELD_OUT if isinstance(w, Portfolio)]

OPTIONS = MeasureOptions(min_repeats=3, max_repeats=5, min_total_s=0.05)


def space_for(workload, n_sims: int):
    backends = None
    if isinstance(workload, Portfolio) and (workload, n_sims) not in _FIRST_PORTFOLIOS:
        backends = ("numpy", "numba")
    return search_space(workload, n_sims, qmc=(False,), backends=backends,
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
    training = data.subset(~_in(data.workload_ids, held))
    cv = evaluate(training, group_by="workload", n_splits=5)
    both = evaluate(training, group_by="both", n_splits=4)
    machines = sorted(set(data.machine_ids.tolist()))
    text = [
        "# Model quality", "",
        f"{len(data)} complete measurements, {len(machines)} machines, "
        f"{len(TRAINING)} training and {len(HELD_OUT)} held-out workloads.", "",
        "## Held-out workloads (different sizes and shapes; trained on the training suite of both machines)", "",
        "```", holdout.table(), "```", "",
        "## Grouped cross-validation over the training suite (whole workloads held out, 5 folds)", "",
        "```", cv.table(), "```", "",
        "## Grouped cross-validation over the training suite (machine and workload held out together)", "",
        "With two machines, each fold trains on one machine and predicts the other: nothing in the training",
        "data shows how a machine feature changes the timings, so this mostly measures extrapolation.", "",
        "```", both.table(), "```", "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_quality.md").write_text("\n".join(text))
    summary = {"holdout": holdout.to_dict(), "cv": cv.to_dict(), "cv_both": both.to_dict(), "machines": machines}
    (out / "model_quality.json").write_text(json.dumps(summary, indent=1, default=str))
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
