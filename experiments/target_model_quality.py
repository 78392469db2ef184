"""The model predicts time to a target: grouped cross-validation on held-out workloads (issue 11, item 6).

Usage::

    python -m experiments.target_model_quality            # ~10-15 min on 2 shared cores
    python -m experiments.target_model_quality --quick    # ~1-2 min: fewer workloads, configs, sizes

``collect`` measures, on this machine, a varied set of workloads (European and Asian options of
varied moneyness, volatility, maturity and steps; a few portfolios): every estimator (qmc x
antithetic x control variate; plain and QMC for portfolios) on a handful of execution configs at
two or three sizes, each a median of timed calls with its estimates' standard errors, into a
SQLite results database. The evaluation then holds out whole workloads (grouped K-fold), trains
the time forest (:class:`~autotune.model.ConfigTimeModel`) and the learned error model
(:class:`~autotune.model.ErrorForest`) on the others, and scores for every held-out workload and
target the *true* time to target of each method's pick against the oracle's:

* a pick's true simulations needed come from the held-out workload's own measured standard errors
  (its estimator's law fitted by :func:`autotune.accuracy.fit_error_model`), its true time from
  its own measured time per simulation at that count (log-log interpolation between measured
  sizes, linear in n beyond the largest);
* the oracle is the least true time over every (estimator x execution config) candidate;
* methods: the learned model's pick (:func:`~autotune.model.choose_for_target`), the default
  config, always QMC (default execution config), always pseudo-random with the fastest execution
  config (the fastest by measured time: an oracle on execution, a baseline on the estimator).

Writes ``experiments/results/target_model_quality{,_quick}.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune import machine_fingerprint, open_storage, workload_features
from autotune._outcome import Outcome, Source
from autotune.accuracy import Estimator, estimators_for, fit_error_model
from autotune.features import MachineFingerprint, workload_from_spec
from autotune.measure import Measurement
from autotune.model import (
    N_REF,
    ConfigTimeModel,
    ErrorForest,
    choose_for_target,
    error_training_set,
    sims_for_target,
    spec_digest,
    training_set,
)
from autotune.storage import ResultsLog
from kernels import (
    AsianOption,
    Config,
    EuropeanOption,
    Exponential,
    Gamma,
    Lognormal,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    simulate,
)
from kernels._target import interval_quantile

from .bench_kernels import RESULTS

EXEC_CONFIGS = (Config(), Config(backend="numba"), Config(executor="threads", workers=2),
                Config(precision="float32"))
QUICK_EXEC_CONFIGS = EXEC_CONFIGS[:2]
TARGETS = (Target(rtol=1e-2), Target(rtol=2e-3))


@dataclass(frozen=True)
class Plan:
    """How much ``collect`` measures."""

    n_options: int
    n_portfolios: int
    sizes: tuple[int, ...]
    qmc_extra_size: int | None
    exec_configs: tuple[Config, ...]
    repeats: int
    folds: int


FULL = Plan(n_options=60, n_portfolios=3, sizes=(2**12, 2**14), qmc_extra_size=2**16, exec_configs=EXEC_CONFIGS,
            repeats=3, folds=5)
QUICK = Plan(n_options=6, n_portfolios=1, sizes=(2**11, 2**13), qmc_extra_size=None,
             exec_configs=QUICK_EXEC_CONFIGS, repeats=2, folds=3)


def workloads(plan: Plan) -> list[tuple[str, object]]:
    """A varied set: options with seeded terms (zlib.crc32 of the name), then small portfolios."""
    out: list[tuple[str, object]] = []
    for i in range(plan.n_options):
        name = f"opt-{i}"
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        strike = float(rng.choice([80.0, 90.0, 100.0, 110.0, 125.0]))
        sigma = float(rng.uniform(0.1, 0.5))
        maturity = float(rng.choice([0.25, 0.5, 1.0, 2.0]))
        kind = str(rng.choice(["call", "put"]))
        if i % 2 == 0:
            out.append((name, EuropeanOption(100.0, strike, maturity, 0.03, sigma, kind=kind)))
        else:
            steps = int(rng.choice([4, 12, 26]))
            out.append((name, AsianOption(100.0, strike, maturity, 0.03, sigma, kind=kind, n_steps=steps)))
    portfolios = [
        Portfolio([PolicyGroup(10, Poisson(2.0), Gamma(2.0, 500.0), PolicyTerms(250.0, 5_000.0))]),
        Portfolio([PolicyGroup(50, Poisson(0.3), Exponential(2_000.0), PolicyTerms(500.0, 50_000.0))]),
        Portfolio([PolicyGroup(20, Poisson(1.0), Lognormal(7.0, 1.0), PolicyTerms(100.0, 20_000.0))]),
    ]
    out += [(f"pf-{i}", p) for i, p in enumerate(portfolios[:plan.n_portfolios])]
    return out


def _time(workload, n: int, config: Config, repeats: int, seed: int):
    start = time.perf_counter()
    result = simulate(workload, n, config, seed=seed)
    first = time.perf_counter() - start
    samples = []
    for r in range(repeats):
        start = time.perf_counter()
        result = simulate(workload, n, config, seed=seed + 1 + r)
        samples.append(time.perf_counter() - start)
    return first, samples, result


def collect(store_url: str, plan: Plan) -> None:
    """Measure every (estimator x execution config x size) of every workload into ``store_url``."""
    store = open_storage(store_url)
    log = ResultsLog(store, machine_fingerprint())
    for name, workload in workloads(plan):
        started = time.perf_counter()
        rows = []
        for est in estimators_for(workload):
            sizes = plan.sizes + ((plan.qmc_extra_size,) if est.qmc and plan.qmc_extra_size else ())
            for exec_config in plan.exec_configs:
                config = est.apply(exec_config)
                for n in sizes:
                    if n not in plan.sizes and exec_config != Config():
                        continue  # the extra QMC size serves the error law: default execution only
                    seed = zlib.crc32(f"{name}/{config}/{n}".encode())
                    first, samples, result = _time(workload, n, config, plan.repeats, seed)
                    rows.append((workload_features(workload, n), Measurement(
                        config=config, outcome=Outcome.COMPLETE, n_sims=n, steady_s=statistics.median(samples),
                        samples=tuple(samples), first_call_s=first, estimates=dict(result.estimates),
                        standard_errors=dict(result.standard_errors))))
        # A workload's stored key includes n_sims (as the tuner stores it): one key per size.
        for features in {f.key: f for f, _ in rows}.values():
            log.register_workload(features, name=f"{name}-{features.n_sims}")
        log.write_batch(rows, source=Source.BENCHMARK)
        print(f"{name}: {len(rows)} measurements in {time.perf_counter() - started:.1f} s", flush=True)


# -- the truth of a held-out workload --------------------------------------------------------------


def true_sims(workload, est: Estimator, points, target: Target) -> int:
    """Simulations ``est`` needs on ``workload``, from its own measured ``(n, se, value)`` points."""
    config = est.apply(Config())
    need = 2 * config.qmc_scrambles if est.qmc else 2
    for name in target.names(workload):
        pts = [(n, ses[name], vals[name]) for n, ses, vals in points if name in ses]
        model = fit_error_model(est, name, workload, config, pts)
        tol = target.tolerance(name, model.value)
        q = interval_quantile(target.confidence, model.dof)
        se_ref = model.coefficient * N_REF ** -model.rate
        need = max(need, sims_for_target(se_ref, model.rate, tol, q,
                                         qmc_scrambles=config.qmc_scrambles if est.qmc else None, minimum=need))
    return need


def true_time(timings: dict[int, float], n: int) -> float:
    """Measured seconds at ``n``: log-log interpolation between sizes, linear per simulation beyond them."""
    sizes = sorted(timings)
    if n >= sizes[-1]:
        return timings[sizes[-1]] * n / sizes[-1]
    if n <= sizes[0]:
        return timings[sizes[0]] * n / sizes[0] if len(sizes) == 1 else timings[sizes[0]]
    return float(np.exp(np.interp(math.log(n), np.log(sizes), np.log([timings[s] for s in sizes]))))


def _geomean(xs) -> float:
    xs = [x for x in xs if x > 0 and math.isfinite(x)]
    return float(math.exp(sum(map(math.log, xs)) / len(xs))) if xs else math.nan


METHODS = ("model", "default", "always QMC", "always pseudo-random (fastest execution)")


def evaluate(store_url: str, plan: Plan, *, seed: int = 0, test_machine: str | None = None) -> dict:
    """Grouped K-fold over workloads: fraction of oracle time to target of each method.

    With ``test_machine`` (a stored machine id), the held-out workloads are scored on that machine's
    measurements, with its fingerprint, by models trained on the other machine's measurements only: a
    new workload on a new machine. Otherwise every machine's rows train and score (one machine, as
    ``collect`` on its own makes).
    """
    store = open_storage(store_url)
    times = training_set(store)
    errors = error_training_set(store)
    if test_machine is None:
        machine = machine_fingerprint().vector()
    else:
        row = store.machine(test_machine)
        if row is None:
            raise SystemExit(f"no machine {test_machine!r} in {store_url}")
        machine = MachineFingerprint.from_dict(row.fingerprint).vector()
        label = f"{row.cpu_model}, {row.usable_cores} usable cores"
        others = [m for m in _machine_ids(store) if m != test_machine]
        if len(others) != 1:
            raise SystemExit(f"{store_url} must hold measurements of the test machine and one other, "
                             f"found {len(others)} other(s)")
        times = times.subset(times.machine_ids == others[0])
        errors = error_training_set(store, machine_id=others[0])
    # Whole workloads are held out: every stored key (one per size) of one spec together.
    spec_of = {k: spec_digest(store.workload(k).spec) for k in set(times.workload_ids.tolist())}
    time_specs = np.array([spec_of[k] for k in times.workload_ids], dtype=str)
    keys = sorted(set(spec_of.values()))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(keys))
    folds = [[keys[i] for i in order[f::plan.folds]] for f in range(plan.folds)]
    per_workload: dict[str, list[Measurement]] = {}
    specs: dict[str, dict] = {}
    for m in store.measurements(machine_id=test_machine, outcome=Outcome.COMPLETE):
        if m.workload_id not in spec_of:  # measured only on the test machine: held out of every fold anyway
            spec_of[m.workload_id] = spec_digest(store.workload(m.workload_id).spec)
        per_workload.setdefault(spec_of[m.workload_id], []).append(m)
        specs.setdefault(spec_of[m.workload_id], store.workload(m.workload_id).spec)
    rows = []
    n_ratio: dict[str, list[float]] = {}
    for held in folds:
        held_set = set(held)
        tm = ConfigTimeModel(n_estimators=100, random_state=seed).fit(
            times.subset(~np.isin(time_specs, held)))
        em = ErrorForest(random_state=seed).fit(errors.subset(~np.isin(errors.workload_specs, held)))
        for key in sorted(held_set & set(per_workload)):
            wl = workload_from_spec(specs[key])
            ms = per_workload[key]
            timings: dict[Config, dict[int, float]] = {}
            points: dict[Estimator, list] = {}
            for m in ms:
                timings.setdefault(m.config, {})[m.n_sims] = m.steady_s
                points.setdefault(Estimator.of(m.config), []).append((m.n_sims, m.standard_errors, m.estimates))
            candidates = [c for c in timings if set(timings[c]) >= set(plan.sizes)]
            for target in TARGETS:
                need = {est: true_sims(wl, est, pts, target) for est, pts in points.items()}
                truth = {c: true_time(timings[c], need[Estimator.of(c)]) for c in candidates}
                oracle = min(truth.values())
                choice = choose_for_target(tm, em, machine, wl, target, candidates)
                default = Config()
                qmc = Config(qmc=True)
                plain = [c for c in candidates if Estimator.of(c) == Estimator()]
                picks = {"model": choice.config, "default": default, "always QMC": qmc,
                         "always pseudo-random (fastest execution)": min(plain, key=truth.get)}
                row = {"workload": key, "target": target.label(), "spec": specs[key], "target_dict": target.to_dict(),
                       "oracle_s": oracle,
                       "configs": {"oracle": min(truth, key=truth.get).to_dict(),
                                   **{m: c.to_dict() for m, c in picks.items()}},
                       "true_s": {"oracle": oracle, **{m: truth[c] for m, c in picks.items()}},
                       "oracle": _label(min(truth, key=truth.get)),
                       "model_pick": _label(choice.config), "model_n": choice.n_sims,
                       "true_n": need[Estimator.of(choice.config)]}
                for method, pick in picks.items():
                    row[method] = oracle / truth[pick]
                rows.append(row)
                for est in points:
                    predicted = em.sims_needed(wl, est.apply(Config()), target)
                    n_ratio.setdefault(est.label(), []).append(abs(math.log(predicted / need[est])))
    summary = {m: _geomean(r[m] for r in rows) for m in METHODS}
    worst = {m: min(r[m] for r in rows) for m in METHODS}
    n_error = {label: float(math.exp(statistics.median(v))) for label, v in sorted(n_ratio.items())}
    return {"rows": rows, "fraction_of_oracle": summary, "worst": worst, "n_error_factor": n_error,
            "workloads": len(keys), "targets": [t.label() for t in TARGETS], "folds": plan.folds,
            "time_rows": len(times), "error_laws": len(errors), "test_machine": test_machine,
            "test_machine_label": label if test_machine else None}


def _machine_ids(store) -> list[str]:
    return sorted({m.machine_id for m in store.measurements(outcome=Outcome.COMPLETE)})


VALIDATE_ROUNDS = 3
VALIDATE_MAX_S = 0.5
"""``validate`` runs a pick only when its stored true time to target is at most this (the default at a tight
target can need minutes); a pick not run keeps its stored ratio, and is counted apart."""


def validate(result: dict, *, rounds: int = VALIDATE_ROUNDS, max_s: float = VALIDATE_MAX_S) -> dict:
    """Re-measure side by side: every held-out (workload, target), each method's pick and the stored oracle
    run to the target for real (``kernels.simulate(..., target=...)``), round-robin in a seeded random
    order per round; each pick scored by the fastest median of that same run over its own median."""
    rng = np.random.default_rng(zlib.crc32(b"target_model_quality/validate"))
    groups = []
    for row in result["rows"]:
        workload = workload_from_spec(row["spec"])
        target = Target.from_dict(row["target_dict"])
        configs = {m: Config.from_dict(c) for m, c in row["configs"].items()}
        runnable = sorted({c for m, c in configs.items() if row["true_s"][m] <= max_s}, key=str)
        samples: dict[Config, list[float]] = {c: [] for c in runnable}
        for c in runnable:  # untimed: compile, pools
            simulate(workload, config=c, target=target, seed=1)
        for r in range(rounds):
            for i in rng.permutation(len(runnable)):
                c = runnable[i]
                start = time.perf_counter()
                res = simulate(workload, config=c, target=target, seed=100 + r)
                samples[c].append(time.perf_counter() - start)
                if not res.target_met:
                    raise RuntimeError(f"{_label(c)} missed {target.label()} on {row['workload']}")
        medians = {c: statistics.median(v) for c, v in samples.items()}
        best = min(medians.values())
        ratios = {m: (best / medians[c] if c in medians else row[m]) for m, c in configs.items() if m in METHODS}
        groups.append({"workload": row["workload"], "target": row["target"], "ratios": ratios,
                       "measured": {m: c in medians for m, c in configs.items() if m in METHODS},
                       "medians_s": {_label(c): t for c, t in medians.items()}})
    summary = {m: _geomean(g["ratios"][m] for g in groups) for m in METHODS}
    not_run = {m: sum(not g["measured"][m] for g in groups) for m in METHODS}
    return {"groups": groups, "fraction_of_oracle": summary, "not_run": not_run, "rounds": rounds, "max_s": max_s}


def _label(config: Config) -> str:
    est = Estimator.of(config).label()
    exec_part = f"{config.backend}/{config.executor}x{config.workers}/{config.precision}"
    return f"{est} @ {exec_part}"


def report(result: dict, out: Path, suffix: str) -> str:
    lines = ["# The model predicts time to a target", "",
             f"{result['workloads']} workloads, targets {', '.join(result['targets'])}, grouped {result['folds']}-fold "
             f"cross-validation holding out whole workloads ({result['time_rows']} timed rows, "
             f"{result['error_laws']} error laws).", "",
             *([f"New machine: trained on another machine's measurements only, scored on machine "
                f"{result['test_machine']} ({result.get('test_machine_label', '')}) with its fingerprint.", ""]
               if result.get("test_machine") else []),
             "Fraction of oracle time to target (oracle seconds / the pick's seconds; 1 = oracle):", "",
             "| method | geometric mean | worst |", "|---|---|---|"]
    for m in METHODS:
        lines.append(f"| {m} | {result['fraction_of_oracle'][m]:.3f} | {result['worst'][m]:.3f} |")
    lines += ["", "Learned error model: median factor between predicted and true simulations needed "
              "(held-out workloads, every estimator and target):", "", "| estimator | factor |", "|---|---|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in result["n_error_factor"].items()]
    if "validated" in result:
        v = result["validated"]
        lines += ["", f"Re-measured side by side (each pick run to the target for real, {v['rounds']} interleaved "
                  f"rounds, medians; scored against the fastest of the same run; a pick whose stored time to "
                  f"target exceeds {v['max_s']:g} s is not run and keeps its stored ratio):", "",
                  "| method | geometric mean | picks not run |", "|---|---|---|"]
        lines += [f"| {m} | {v['fraction_of_oracle'][m]:.3f} | {v['not_run'][m]} |" for m in METHODS]
    lines += ["", "| workload | target | oracle | model pick | model n | true n | model | default | QMC "
              "| PRNG fastest |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| {r['workload']} | {r['target']} | {r['oracle']} | {r['model_pick']} | {r['model_n']:,} | "
                     f"{r['true_n']:,} | {r['model']:.2f} | {r['default']:.2f} | {r['always QMC']:.2f} | "
                     f"{r['always pseudo-random (fastest execution)']:.2f} |")
    text = "\n".join(lines) + "\n"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"target_model_quality{suffix}.md").write_text(text)
    # The rows' workload specs and targets served validate(); the keys and labels identify them.
    rows = [{k: v for k, v in r.items() if k not in ("spec", "target_dict")} for r in result["rows"]]
    (out / f"target_model_quality{suffix}.json").write_text(json.dumps({**result, "rows": rows}, default=str))
    return text


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer workloads, configs and sizes (~1-2 min)")
    parser.add_argument("--storage", default=None, help="results database URL (default: a fresh temporary SQLite file)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the .md and .json")
    parser.add_argument("--validate", action="store_true",
                        help="also re-measure every pick side by side, run to the target for real")
    parser.add_argument("--no-collect", action="store_true",
                        help="evaluate the measurements already in --storage (measure nothing)")
    parser.add_argument("--collect-only", action="store_true",
                        help="measure into --storage and stop (e.g. once per machine, or under taskset)")
    parser.add_argument("--test-machine", metavar="ID", default=None,
                        help="score held-out workloads on this stored machine, trained on the other one's rows "
                             "(with --validate, run it on that machine: e.g. under the same taskset)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    if (args.no_collect or args.collect_only or args.test_machine) and not args.storage:
        parser.error("--no-collect, --collect-only and --test-machine need --storage (a database to keep)")
    with tempfile.TemporaryDirectory() as tmp:
        url = args.storage or f"sqlite:///{tmp}/target_model_quality.db"
        if not args.no_collect:
            started = time.perf_counter()
            collect(url, plan)
            print(f"collected in {time.perf_counter() - started:.0f} s", flush=True)
            if args.collect_only:
                return {}
        result = evaluate(url, plan, test_machine=args.test_machine)
        if args.validate:
            started = time.perf_counter()
            result["validated"] = validate(result)
            print(f"validated in {time.perf_counter() - started:.0f} s", flush=True)
    suffix = ("_quick" if args.quick else "") + ("_new_machine" if args.test_machine else "")
    print(report(result, args.out, suffix))
    return result


if __name__ == "__main__":
    main()
