"""``autotune demo``: the main job, end to end on this machine in about three minutes.

1. tunes the ``demo`` suite (8 small workloads) into the results database;
2. trains the random-forest model on everything the database holds;
3. runs ``tuned_simulate`` on the ``demo-unseen`` workloads, which were never tuned, and times
   the default config on them side by side;
4. prints default time against tuned time, the decision's source and the speed-up;
5. runs the same unseen workloads to a precision target (``TARGETS``): the default config
   against ``tuned_simulate(target=...)``, which picks the estimator (quasi-random points,
   antithetic pairs, control variates) and the simulation count; time to the target is what
   users want;
6. writes the HTML report.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from typing import Any

from kernels import Config, Portfolio, Target, Workload, simulate

from ..suites import get_suite
from ._output import emit, fmt_seconds, table

__all__ = ["run_demo"]

#: Timed calls per config on the unseen workloads (after one warm-up call).
REPEATS = 3
#: The calls tuned_simulate is told to expect: a workload run many times, whose steady state the
#: comparison measures (a one-shot call would weigh compile and pool start-up costs instead).
EXPECTED_CALLS = 1000
#: Relative precision of the time-to-target comparison: the price of an option, TVaR at the
#: portfolio's highest level.
OPTION_RTOL, PORTFOLIO_RTOL = 5e-3, 1e-2


def demo_target(workload: Workload) -> Target:
    """The precision the demo asks of an unseen workload."""
    if isinstance(workload, Portfolio):
        return Target(rtol=PORTFOLIO_RTOL, estimate=f"TVaR_{max(workload.levels):g}")
    return Target(rtol=OPTION_RTOL, estimate="price")


def _say(text: str, quiet: bool) -> None:
    if not quiet:
        print(text, file=sys.stderr, flush=True)


def run_demo(args: argparse.Namespace) -> int:
    from ..api import flush, tuned_simulate
    from ..model import train
    from ..report import write_report
    from ..storage import open_storage
    from ._commands import _tune_entries, _tune_table

    quiet = bool(args.json)
    started = time.perf_counter()
    suite, unseen = get_suite("demo"), get_suite("demo-unseen")
    with open_storage(args.storage) as store:
        _say(f"autotune demo: results database {store.url}", quiet)
        _say(f"\n[1/5] tuning the '{suite.name}' suite: {len(suite.entries)} workloads", quiet)
        reports = _tune_entries(store, suite, [(e, None) for e in suite.entries], budget_trials=args.budget_trials,
                                budget_seconds=None, total_seconds=None, sampler=None, seed=0,
                                progress=not quiet and sys.stderr.isatty())
        _say(_tune_table(reports), quiet)
        tuned_s = time.perf_counter() - started

        _say("\n[2/5] training the model on every measurement in the database", quiet)
        model = train(store)
        _say(f"model {model.model_id_}: {model.n_rows_} measurements", quiet)

        _say(f"\n[3/5] tuned_simulate on {len(unseen.entries)} workloads it never saw (vs the default config)",
             quiet)
        rows = [_compare(tuned_simulate, e, args.storage) for e in unseen.entries]
        flush(args.storage)

        _say("\n[4/5] the same workloads to a precision target: default config vs tuned_simulate(target=...)",
             quiet)
        target_rows = [_compare_target(tuned_simulate, e, args.storage) for e in unseen.entries]
        flush(args.storage)

        _say("\n[5/5] writing the report", quiet)
        report = write_report(store, args.out, model=None)
    text = table([(r["name"], f"{r['n_sims']:,}", fmt_seconds(r["default_s"]), fmt_seconds(r["tuned_s"]),
                   r["source"], r["config"], f"{r['speedup']:.2f}x") for r in rows],
                 ("unseen workload", "n_sims", "default", "tuned", "source", "config", "speedup"))
    target_text = table([(r["name"], r["target"], fmt_seconds(r["default_s"]), f"{r['default_n']:,}",
                          fmt_seconds(r["tuned_s"]), f"{r['tuned_n']:,}", r["config"], f"{r['speedup']:.1f}x")
                         for r in target_rows],
                        ("unseen workload", "target", "default", "n", "tuned", "n", "config", "speedup"))
    total = time.perf_counter() - started
    summary = {
        "storage": store.url, "tuning": reports, "model_id": model.model_id_, "model_rows": model.n_rows_,
        "unseen": rows, "report": str(report.path), "seconds": total, "tuning_seconds": tuned_s,
        "geomean_speedup": statistics.geometric_mean([r["speedup"] for r in rows]),
        "time_to_target": target_rows,
        "geomean_target_speedup": statistics.geometric_mean([r["speedup"] for r in target_rows]),
    }
    emit(summary, as_json=args.json, text="\n".join([
        "", text, "",
        f"geometric-mean speed-up on unseen workloads: {summary['geomean_speedup']:.2f}x "
        f"(steady-state time per call, median of {REPEATS})",
        "", "time to a precision target (whole runs, median of "
        f"{REPEATS}; tuned_simulate picks estimator, config and n):", target_text,
        f"geometric-mean speed-up to the target: {summary['geomean_target_speedup']:.1f}x",
        f"report: {report.path}   (open it in a browser)",
        f"studies: optuna-dashboard {store.url}",
        f"done in {total:.0f} s",
    ]))
    return 0


def _compare(tuned_simulate: Any, entry: Any, storage: str | None) -> dict[str, Any]:
    """Median steady-state time of the default config and of tuned_simulate's choice, one after the other."""
    default = Config()
    simulate(entry.workload, entry.n_sims, default, seed=1)  # warm-up: compile, pools
    default_s = [simulate(entry.workload, entry.n_sims, default, seed=2 + i).timing.compute_s for i in range(REPEATS)]
    first = tuned_simulate(entry.workload, entry.n_sims, seed=1, storage=storage, policy="exploit",
                           calls=EXPECTED_CALLS)
    tuned = [tuned_simulate(entry.workload, entry.n_sims, seed=2 + i, storage=storage, policy="exploit",
                            calls=EXPECTED_CALLS) for i in range(REPEATS)]
    tuned_s = [r.decision.measured_s for r in tuned]
    d = tuned[-1].decision
    return {"name": entry.name, "n_sims": entry.n_sims, "default_s": statistics.median(default_s),
            "tuned_s": statistics.median(tuned_s), "source": d.source, "config": d.config.label(),
            "predicted_s": d.predicted_s, "first_call_overhead_s": first.timing.overhead_s,
            "decision_ms": statistics.median(r.decision.overhead_s for r in tuned) * 1e3,
            "speedup": statistics.median(default_s) / statistics.median(tuned_s)}


def _compare_target(tuned_simulate: Any, entry: Any, storage: str | None) -> dict[str, Any]:
    """Median time to :func:`demo_target` of the default config and of ``tuned_simulate(target=...)``."""
    target = demo_target(entry.workload)

    def default_run(seed: int) -> Any:
        start = time.perf_counter()
        result = simulate(entry.workload, config=Config(), seed=seed, target=target)
        return result, time.perf_counter() - start

    default_run(1)  # warm-up, as for the tuned side's first call below
    default = [default_run(2 + i) for i in range(REPEATS)]
    tuned_simulate(entry.workload, target=target, seed=1, storage=storage, policy="exploit")
    tuned = [tuned_simulate(entry.workload, target=target, seed=2 + i, storage=storage, policy="exploit")
             for i in range(REPEATS)]
    default_s = statistics.median(t for _, t in default)
    tuned_s = statistics.median(r.decision.measured_s for r in tuned)
    return {"name": entry.name, "target": target.label(), "default_s": default_s,
            "default_n": int(statistics.median(r.n_sims for r, _ in default)), "tuned_s": tuned_s,
            "tuned_n": int(statistics.median(r.n_sims for r in tuned)), "source": tuned[-1].decision.source,
            "config": tuned[-1].config.label(), "met": all(r.target_met for r in tuned)
            and all(r.target_met for r, _ in default), "speedup": default_s / tuned_s}
