"""Decision overhead of ``tuned_simulate`` (excluding the kernel): cache hit and model path.

Usage::

    python -m experiments.bench_overhead              # 300 calls per path
    python -m experiments.bench_overhead --calls 50   # quicker

It builds a temporary results database, tunes one workload briefly (so the cache tier has
an entry), trains the model on that session's rows, and then times ``decision.overhead_s``
of repeated ``tuned_simulate`` calls on the cache path (the tuned workload) and on the model
path (an untuned workload, ``policy="exploit"``). The first call of each path, which loads
the fingerprint, the store and the model once per process, is reported apart. Targets: under
1 ms median on a cache hit, under 5 ms on the model path.

Cold starts are timed in fresh processes (median of ``--cold`` runs, 5 by default), against the
same warm database and model: ``import autotune``, the import of the API on first use
(``autotune.tuned_simulate``: SQLAlchemy and the store), the first call's decision
(``overhead_s``: fingerprint, store and model loaded, the kernel excluded) on the cache and the
model path, and the wall time of ``autotune --help``. Each is timed twice: with compiled bytecode
(as after a pip install or any first run) and without (a source tree under
``PYTHONDONTWRITEBYTECODE=1``, which compiles every module it imports). Targets: a first-call
decision under 50 ms, ``--help`` under 0.5 s. Writes ``experiments/results/bench_overhead.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from autotune import open_storage, tune, tuned_simulate
from autotune.measure import MeasureOptions
from autotune.model import train
from autotune.space import search_space
from kernels import EuropeanOption

from .bench_kernels import RESULTS

TARGETS = {"cache": 1e-3, "model": 5e-3}
COLD_TARGETS = {"first_decision_s": 0.05, "help_s": 0.5}

_COLD_CALL = """
import json, sys, time
t0 = time.perf_counter()
import autotune
from kernels import EuropeanOption
imported = time.perf_counter() - t0
tuned_simulate = autotune.tuned_simulate  # imports the API (SQLAlchemy, the store) on first use
api = time.perf_counter() - t0 - imported
workload = {workload}
r = autotune.tuned_simulate(workload, 20_000, storage={url!r}, policy={policy!r}, record=False, calls=10**9)
print(json.dumps({{"import_s": imported, "api_import_s": api, "decision_s": r.decision.overhead_s,
                  "source": r.decision.source}}))
"""

#: How the fresh processes find Python's bytecode: "cached" as after any first run or a pip install
#: (compiled files in a temporary PYTHONPYCACHEPREFIX, written by an unrecorded first run); "none" as a
#: source checkout run under PYTHONDONTWRITEBYTECODE=1 (this VM's environment): autotune's and kernels'
#: modules compile in every process (installed dependencies keep the bytecode pip wrote).
BYTECODE = ("cached", "none")


def _child_env(bytecode: str, prefix: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
    if bytecode == "cached":
        env["PYTHONPYCACHEPREFIX"] = prefix
    else:  # installed packages keep the bytecode pip compiled; the source tree's modules compile every run
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def cold(url: str, runs: int) -> dict:
    """Fresh-process figures (medians of ``runs``) against the warm database and model at ``url``,
    with and without compiled bytecode (:data:`BYTECODE`)."""
    import subprocess
    import sys
    import time

    prefix = tempfile.mkdtemp(prefix="autotune-pycache-")
    out: dict = {"runs": runs}
    for bytecode in BYTECODE:
        env = _child_env(bytecode, prefix)
        figures: dict = {}
        for path, workload, policy in (("cache", "EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)", "auto"),
                                       ("model", "EuropeanOption(100.0, 120.0, 2.0, 0.01, 0.3, kind='put')",
                                        "exploit")):
            code = _COLD_CALL.format(workload=workload, url=url, policy=policy)
            rows = []
            for i in range(runs + 1):  # the first run writes the bytecode (cached) and is not counted
                done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                      env=env)
                if i:
                    rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            assert all(r["source"] == path for r in rows), rows
            figures[path] = {"import_s": statistics.median(r["import_s"] for r in rows),
                             "api_import_s": statistics.median(r["api_import_s"] for r in rows),
                             "first_decision_s": statistics.median(r["decision_s"] for r in rows)}
        helps = []
        for i in range(runs + 1):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "autotune", "--help"], capture_output=True, check=True, env=env)
            if i:
                helps.append(time.perf_counter() - start)
        figures["help_s"] = statistics.median(helps)
        out[bytecode] = figures
    out["targets"] = COLD_TARGETS
    return out


def run(calls: int, cold_runs: int = 0) -> dict:
    url = f"sqlite:///{tempfile.mkdtemp(prefix='autotune-overhead-')}/results.db"
    tuned = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)
    untuned = EuropeanOption(100.0, 120.0, 2.0, 0.01, 0.3, kind="put")
    space = search_space(tuned, 20_000, backends=("numpy", "numba"), qmc=(False,))
    tune(tuned, 20_000, storage=url, space=space, sampler="brute", progress=False,
         measure_options=MeasureOptions(min_repeats=2, max_repeats=3, min_total_s=0.0, isolate=False))
    with open_storage(url) as store:
        train(store)
    out = {}
    for path, workload, policy in (("cache", tuned, "auto"), ("model", untuned, "exploit")):
        # A long-running service: its one-off costs count as repaid, so the tuned config is what runs.
        first = tuned_simulate(workload, 20_000, storage=url, policy=policy, record=False, calls=10**9)
        assert first.decision.source == path, first.decision
        samples = [tuned_simulate(workload, 20_000, storage=url, policy=policy, record=False,
                                  calls=10**9).decision.overhead_s for _ in range(calls)]
        out[path] = {"first_call_s": first.decision.overhead_s, "median_s": statistics.median(samples),
                     "p90_s": sorted(samples)[int(0.9 * (len(samples) - 1))], "calls": calls,
                     "target_s": TARGETS[path], "meets_target": statistics.median(samples) < TARGETS[path]}
    if cold_runs:
        out["cold"] = cold(url, cold_runs)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--cold", type=int, default=5, help="fresh processes per cold figure (0: none)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = run(args.calls, args.cold)
    print(f"{'path':8} {'median':>10} {'p90':>10} {'first call':>11} {'target':>8}  ok")
    for path, r in result.items():
        if path == "cold":
            continue
        print(f"{path:8} {r['median_s'] * 1e3:8.3f}ms {r['p90_s'] * 1e3:8.3f}ms {r['first_call_s'] * 1e3:9.1f}ms "
              f"{r['target_s'] * 1e3:6.1f}ms  {'yes' if r['meets_target'] else 'NO'}")
    if "cold" in result:
        c = result["cold"]
        print(f"\ncold, fresh processes (median of {c['runs']}); targets: first decision 50 ms, --help 0.5 s")
        print(f"{'bytecode':9} {'import autotune':>16} {'+ API on first use':>19} {'decision (cache)':>17} "
              f"{'decision (model)':>17} {'--help':>8}")
        for bytecode in BYTECODE:
            b = c[bytecode]
            print(f"{bytecode:9} {b['cache']['import_s'] * 1e3:14.0f}ms {b['cache']['api_import_s'] * 1e3:17.0f}ms "
                  f"{b['cache']['first_decision_s'] * 1e3:15.0f}ms {b['model']['first_decision_s'] * 1e3:15.0f}ms "
                  f"{b['help_s']:7.2f}s")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_overhead.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
