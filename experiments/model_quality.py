"""Model quality: tune a training suite on two "machines", train, evaluate on held-out workloads.

Usage (the two machines are this one with all its cores, and the same one pinned to one core,
which has a different fingerprint)::

    python -m experiments.model_quality collect                  # all usable cores
    taskset -c 0 python -m experiments.model_quality collect     # one core
    python -m experiments.model_quality collect --finalists 8    # refinement pass (see below)
    taskset -c 0 python -m experiments.model_quality collect --finalists 8
    python -m experiments.model_quality validate                 # side-by-side re-measurement
    taskset -c 0 python -m experiments.model_quality validate
    python -m experiments.model_quality report

``collect`` measures every config of a restricted search space (no QMC, which never wins
on time; automatic chunks and two explicit sizes) for the 30 training workloads (suite
``standard`` of :mod:`autotune.suites`) and the 11 held-out workloads (suite ``held-out``), by
brute force (JAX only on the first 7 training portfolios, see ``JAX_PORTFOLIOS``), into one
results database (``--storage``, default ``sqlite:///model_quality.db``). Each workload ends
with the tuner's side-by-side re-measurement of its fastest configs (``--finalists``); a rerun
measures no new config but repeats that re-measurement, so ``--finalists 8`` on a second pass
adds round-robin timings of the 8 fastest configs of every workload (the configs the choice is
between, and the ones whose one-after-another timings the VM's drifting load blurs most).

``validate`` trains on the training workloads and re-measures, side by side on this machine,
each method's pick for every held-out workload together with the fastest stored configs
(see :func:`validate`). ``report`` trains the random forest on the training workloads of both
machines and scores its choice for each held-out (machine, workload) against the fastest stored
config (the oracle), next to the baselines, adds the ``validate`` results found in ``--out``,
and runs the library's grouped cross-validation over the training suite. It writes
``experiments/results/model_quality.{json,md}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from autotune import machine_fingerprint, open_storage, tune, workload_features
from autotune.measure import MeasureOptions, compare_configs
from autotune.model import METHODS, evaluate, training_set
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

OPTIONS = MeasureOptions(min_repeats=3, max_repeats=5, min_total_s=0.05, isolate=False)


def space_for(workload, n_sims: int):
    backends = None
    if isinstance(workload, Portfolio) and (workload, n_sims) not in _FIRST_PORTFOLIOS:
        backends = ("numpy", "numba")
    return search_space(workload, n_sims, qmc=(False,), backends=backends,
                        chunk_sizes=(None, *(c for c in (16_384, 262_144) if c < n_sims)))


def collect(storage: str, which: str = "all", finalists: int = 3) -> None:
    store = open_storage(storage)
    entries = {"all": TRAINING + HELD_OUT, "training": TRAINING, "held-out": HELD_OUT}[which]
    for i, (workload, n_sims) in enumerate(entries):
        started = time.perf_counter()
        report = tune(workload, n_sims, storage=store, sampler="brute", space=space_for(workload, n_sims),
                      measure_options=OPTIONS, progress=False, finalists=finalists)
        print(f"[{i + 1}/{len(entries)}] {report.workload_key} n={n_sims:,}: "
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
    validated_text, validated = _validated_section(out, machines)
    text = [
        "# Model quality", "",
        f"{len(data)} complete measurements, {len(machines)} machines, "
        f"{len(TRAINING)} training and {len(HELD_OUT)} held-out workloads.", "",
        "## Held-out workloads (different sizes and shapes; trained on the training suite of both machines)", "",
        "```", holdout.table(), "```", "",
        *validated_text,
        "## Grouped cross-validation over the training suite (whole workloads held out, 5 folds)", "",
        "```", cv.table(), "```", "",
        "## Grouped cross-validation over the training suite (machine and workload held out together)", "",
        "With two machines, each fold trains on one machine and predicts the other: nothing in the training",
        "data shows how a machine feature changes the timings, so this mostly measures extrapolation.", "",
        "```", both.table(), "```", "",
    ]
    out.mkdir(parents=True, exist_ok=True)
    (out / "model_quality.md").write_text("\n".join(text))
    summary = {"holdout": holdout.to_dict(), "validated": validated, "cv": cv.to_dict(), "cv_both": both.to_dict(),
               "machines": machines}
    (out / "model_quality.json").write_text(json.dumps(summary, indent=1, default=str))
    print("\n".join(text))


VALIDATE_TOP = 5
"""``validate`` re-measures the picks of every method plus this many of the fastest stored configs."""
VALIDATE_ROUNDS = 15
VALIDATE_MIN_SAMPLE_S = 0.02


def validate(storage: str, out: Path, rounds: int = VALIDATE_ROUNDS) -> dict:
    """Re-measure, side by side on this machine, each method's pick for every held-out workload.

    The library's evaluation scores a pick by its stored time against the fastest stored time of
    its group. Those times were taken one config after another, minutes apart, on a shared VM whose
    load drifts, and the "oracle" is the minimum of up to 72 such noisy medians, so it is biased
    low (the winner's curse) and even a perfect choice scores below 1. Here the picks of all
    methods and the ``VALIDATE_TOP`` fastest stored configs are timed again round-robin, in
    random order per round (:func:`autotune.measure.compare_configs`), and each pick is scored
    against the fastest of them in that same run.
    """
    store = open_storage(storage)
    data = training_set(store)
    machine = machine_fingerprint()
    machine_id = machine.machine_id
    by_key = {workload_features(e.workload, e.n_sims).key: e for e in get_suite("held-out").entries}
    holdout = evaluate(data, holdout_workloads=sorted(by_key))
    configs = {str(c): cfg for c, cfg in zip(data.config_ids, data.configs, strict=True)}
    groups = [o for o in holdout.groups if o.machine_id == machine_id]
    if not groups:
        raise SystemExit(f"no held-out group measured on this machine ({machine_id}): run collect here first")
    results = []
    for k, o in enumerate(groups):
        name, workload, n_sims = by_key[o.workload_id].name, by_key[o.workload_id].workload, o.n_sims
        top = sorted(o.times, key=o.times.get)[:VALIDATE_TOP]
        # "oracle" here is the stored oracle: what exhaustive tuning (brute force, stored times) picked.
        picks = {m: p for m, p in o.picks.items() if p is not None}
        ids = list(dict.fromkeys([*top, *picks.values()]))
        started = time.perf_counter()
        samples = compare_configs(workload, n_sims, [configs[c] for c in ids], rounds=rounds,
                                  min_sample_s=VALIDATE_MIN_SAMPLE_S)
        median = {c: float(np.median(samples[configs[c]])) for c in ids if samples[configs[c]]}
        best = min(median, key=median.get)
        ratios = {m: median[best] / median[p] for m, p in picks.items() if p in median}
        results.append({"workload": name, "workload_id": o.workload_id, "n_sims": n_sims, "best": configs[best].label(),
                        "stored_best": configs[o.best_config_id].label(),
                        "picks": {m: configs[p].label() for m, p in picks.items()}, "ratios": ratios,
                        "top1": {m: picks[m] == best for m in ratios},
                        "median_s": {configs[c].label(): t for c, t in median.items()}})
        print(f"[{k + 1}/{len(groups)}] {name}: fastest {configs[best].label()} "
              f"({median[best] * 1e3:.2f} ms); model {ratios.get('model', float('nan')):.3f} of it "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    summary = {m: _summary([r for r in results if m in r["ratios"]], m) for m in METHODS}
    doc = {"machine_id": machine_id, "usable_cores": machine.usable_cores,
           "rounds": rounds, "top": VALIDATE_TOP, "n_rows": len(data), "summary": summary, "groups": results}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"model_quality_validate_{machine_id}.json").write_text(json.dumps(doc, indent=1))
    print(validate_table(doc))
    return doc


def _summary(results: list[dict], method: str) -> dict[str, float]:
    if not results:
        return {"fraction_of_oracle": float("nan"), "top1": float("nan"), "worst": float("nan"), "n_groups": 0}
    ratios = np.array([r["ratios"][method] for r in results])
    over_default = [r["ratios"][method] / r["ratios"]["default"] for r in results if "default" in r["ratios"]]
    return {"fraction_of_oracle": float(np.exp(np.mean(np.log(ratios)))),
            "top1": float(np.mean([r["top1"][method] for r in results])), "worst": float(ratios.min()),
            "speedup_over_default": float(np.exp(np.mean(np.log(over_default)))) if over_default else float("nan"),
            "n_groups": len(results)}


def validate_table(doc: dict) -> str:
    head = f"{'method':<18} {'frac_oracle':>11} {'top1':>6} {'worst':>6} {'vs_default':>10} {'groups':>6}"
    lines = [f"re-measured side by side on machine {doc['machine_id']} ({doc['rounds']} rounds)", head, "-" * len(head)]
    for m, s in doc["summary"].items():
        m = "stored_best" if m == "oracle" else m  # the stored oracle: exhaustive tuning's pick
        lines.append(f"{m:<18} {s['fraction_of_oracle']:>11.3f} {s['top1']:>6.2f} {s['worst']:>6.3f} "
                     f"{s.get('speedup_over_default', float('nan')):>9.2f}x {s['n_groups']:>6d}")
    return "\n".join(lines)


def _validated_section(out: Path, machines: list[str]) -> tuple[list[str], dict | None]:
    """The report section of the ``validate`` runs found in ``out`` for the measured machines, and their
    summary over all machines' groups (None when there are none)."""
    docs = [json.loads(p.read_text()) for p in sorted(out.glob("model_quality_validate_*.json"))]
    docs = [d for d in docs if d["machine_id"] in machines]
    if not docs:
        return ["(No side-by-side re-measurement yet: run `python -m experiments.model_quality validate` on each "
                "machine.)", ""], None
    groups = [g for d in docs for g in d["groups"]]
    both = {"machine_id": " + ".join(d["machine_id"] for d in docs), "rounds": docs[0]["rounds"],
            "summary": {m: _summary([g for g in groups if m in g["ratios"]], m) for m in docs[0]["summary"]}}
    text = ["## Held-out picks re-measured side by side", "",
            "Stored times were taken one config after another on a shared VM whose load drifts, and the",
            "stored oracle is the minimum of up to 72 noisy medians. `validate` times every method's pick",
            f"and the {docs[0]['top']} fastest stored configs again, round-robin in random order, and scores each",
            "pick against the fastest of them in the same run.", "", "```", validate_table(both), "```", ""]
    for d in docs:
        text += ["```", validate_table(d), "```", ""]
    return text, {"all": both["summary"], **{d["machine_id"]: d["summary"] for d in docs}}


def _in(values, allowed):
    return np.isin(values, list(allowed))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("phase", choices=["collect", "validate", "report"])
    parser.add_argument("--storage", default=DEFAULT_STORAGE)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workloads", choices=["all", "training", "held-out"], default="all",
                        help="collect: which workloads to measure (a rerun resumes, but re-measures the finalists)")
    parser.add_argument("--finalists", type=int, default=3,
                        help="collect: re-measure this many of the fastest configs side by side at the end of each "
                             "workload (a rerun measures nothing new but does this again: a refinement pass)")
    args = parser.parse_args(argv)
    if args.phase == "collect":
        collect(args.storage, args.workloads, args.finalists)
    elif args.phase == "validate":
        validate(args.storage, args.out)
    else:
        report(args.storage, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
