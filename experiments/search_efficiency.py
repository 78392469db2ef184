"""How fast does each search strategy find a near-best config? (random vs TPE vs brute force)

Usage::

    python -m experiments.search_efficiency --size small    # ~10 minutes on 2 cores
    python -m experiments.search_efficiency --size full     # the benchmark sizes (hours on 2 cores)

For each benchmark workload it runs a brute-force tuning session (every valid
config measured once, stored in the results database), which gives the ground
truth: the best time and what each config costs to measure. Random search and
TPE are then replayed on that measured landscape (the method of Kernel Tuner's
cached runs), over several sampler seeds, with the same search space and
constraints as ``autotune.tune``: for each strategy, the trials and the
measurement seconds until a config within 5% of the brute-force best is found.
Brute force's own figure is the position of the first such config in its
enumeration order. The final column is the tuned speedup over the default config
from the brute-force session's interleaved re-measurement.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import optuna

from autotune import open_storage, tune
from autotune.measure import MeasureOptions
from autotune.space import search_space
from autotune.storage import config_id
from kernels import Config

from .bench_kernels import RESULTS, cases

WITHIN = 1.05


def landscape(store, report) -> dict[str, tuple[float | None, float]]:
    """config id -> (median time or None if not complete, seconds it took to measure)."""
    table: dict[str, tuple[float | None, float]] = {}
    for row in store.measurements(session_id=report.session_id, source="tune"):
        if row.config_id in table:  # the final re-measurement repeats some configs
            continue
        cost = (row.first_call_s or 0.0) + sum(row.samples)
        table[row.config_id] = (row.steady_s if row.ok else None, cost)
    return table


def replay(space, table, best: float, sampler: optuna.samplers.BaseSampler, max_trials: int) -> tuple[int, float]:
    """Trials and seconds until a config within 5% of ``best``, sampling on the measured landscape."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler)
    if not isinstance(sampler, optuna.samplers.RandomSampler):
        study.enqueue_trial(space.params_of(Config()))  # the tuner warm-starts TPE with the default
    seconds, seen = 0.0, set()
    for trial_no in range(1, max_trials + 1):
        trial = study.ask()
        try:
            cfg = space.suggest(trial)
        except optuna.TrialPruned:
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        value, cost = table.get(config_id(cfg.to_dict()), (None, 0.0))
        if config_id(cfg.to_dict()) not in seen:
            seconds += cost
            seen.add(config_id(cfg.to_dict()))
        if value is None:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        study.tell(trial, value)
        if value <= best * WITHIN:
            return trial_no, seconds
    return max_trials, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=["small", "full"], default="small")
    parser.add_argument("--seeds", type=int, default=10, help="sampler seeds per strategy")
    parser.add_argument("--storage", default=None,
                        help="results database for the brute-force sessions (default: a new temporary SQLite file, "
                             "so that every config is measured afresh)")
    parser.add_argument("--only", default="")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    store = open_storage(args.storage or f"sqlite:///{tempfile.mkdtemp(prefix='autotune-search-')}/search.db")
    options = MeasureOptions(min_repeats=3, max_repeats=10, min_total_s=0.2, isolate=False)
    rows: list[dict[str, Any]] = []
    print(f"{'workload':16} {'configs':>7} {'strategy':>8} {'trials to 5%':>13} {'seconds to 5%':>14} "
          f"{'speedup vs default':>19}")
    for case in cases(args.size):
        if args.only and case.name not in args.only.split(","):
            continue
        space = search_space(case.workload, case.n_sims)
        started = time.perf_counter()
        report = tune(case.workload, case.n_sims, storage=store, sampler="brute", measure_options=options,
                      progress=False)
        table = landscape(store, report)
        complete = {cid: v for cid, (v, _) in table.items() if v is not None}
        best = min(complete.values())
        n = len(space.enumerate())
        order = [config_id(c.to_dict()) for c in space.search_order()]  # the order brute force measures
        bf_trials, bf_seconds = n, 0.0
        for i, cid in enumerate(order, 1):
            bf_seconds += table.get(cid, (None, 0.0))[1]
            if cid in complete and complete[cid] <= best * WITHIN:
                bf_trials = i
                break
        result = {"workload": case.name, "n_sims": case.n_sims, "configs": n, "best_s": best,
                  "speedup_over_default": report.speedup_over_default, "best_config": report.best_config.label(),
                  "brute_force_session_s": time.perf_counter() - started,
                  "brute": {"trials": bf_trials, "seconds": bf_seconds}}
        for name, make in (("random", lambda s: optuna.samplers.RandomSampler(seed=s)),
                           ("tpe", lambda s: optuna.samplers.TPESampler(multivariate=True, seed=s,
                                                                        n_startup_trials=8))):
            runs = [replay(space, table, best, make(seed), max_trials=4 * n) for seed in range(args.seeds)]
            result[name] = {"trials": statistics.median(r[0] for r in runs),
                            "seconds": statistics.median(r[1] for r in runs), "runs": runs}
        rows.append(result)
        for strategy in ("brute", "random", "tpe"):
            r = result[strategy]
            print(f"{case.name:16} {n:7d} {strategy:>8} {r['trials']:13.1f} {r['seconds']:14.2f} "
                  f"{report.speedup_over_default:18.2f}x", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"search_efficiency_{args.size}.json"
    path.write_text(json.dumps({"size": args.size, "seeds": args.seeds, "rows": rows}, indent=1, default=str))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
