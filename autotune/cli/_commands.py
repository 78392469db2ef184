"""The subcommands of ``autotune`` (one ``cmd_<name>(args)`` each, returning the exit status)."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import gzip
import logging
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from kernels import Target

from .._outcome import Outcome
from ..measure import MeasureOptions
from ..storage import Storage, open_storage
from ..suites import SUITES, Suite, SuiteEntry
from ._errors import UsageError, for_cli
from ._output import emit, estimates_table, fmt_seconds, table
from ._specs import SpecFile, load_spec

log = logging.getLogger(__name__)

__all__ = [
    "cmd_demo", "cmd_evaluate", "cmd_export", "cmd_import", "cmd_instances", "cmd_predict", "cmd_profile",
    "cmd_report", "cmd_run", "cmd_runs", "cmd_suites", "cmd_train", "cmd_tune",
]


def _store(args: argparse.Namespace) -> Storage:
    return open_storage(args.storage, adopt=args.adopt_database)


def _entries(spec: SpecFile, only: list[str] | None) -> list[tuple[SuiteEntry, int | None]]:
    pairs = list(zip(spec.entries, spec.seeds or (None,) * len(spec.entries), strict=True))
    if not only:
        return pairs
    names = {e.name for e in spec.entries}
    unknown = sorted(set(only) - names)
    if unknown:
        raise UsageError(f"--only names no workload of {spec.source}: {unknown}; its workloads are {sorted(names)}")
    return [(e, s) for e, s in pairs if e.name in only]


# -- profile ----------------------------------------------------------------------------------------


def cmd_profile(args: argparse.Namespace) -> int:
    from ..profiling import profile_machine

    suite = SUITES.get(args.suite) if args.suite else None
    if args.suite and suite is None:
        raise UsageError(f"--suite must be one of {sorted(SUITES)}, got {args.suite!r}")
    with _store(args) as store:
        result = profile_machine(store, quick=args.quick, max_workers=args.max_workers)
        out: dict[str, Any] = {"profile": result.to_dict()}
        text = [result.table()]
        if suite is not None:
            reports = _tune_entries(store, suite, [(e, None) for e in suite.entries], budget_trials=None,
                                    budget_seconds=None, total_seconds=args.budget_seconds, sampler=None, seed=None,
                                    progress=not args.json and sys.stderr.isatty())
            out["suite"] = {"name": suite.name, "sessions": reports}
            text += ["", f"suite {suite.name}: {len(reports)} of {len(suite.entries)} workloads tuned "
                         f"within {args.budget_seconds:.0f} s", _tune_table(reports)]
    emit(out, as_json=args.json, text="\n".join(text))
    return 0


# -- tune -------------------------------------------------------------------------------------------


def _tune_entries(store: Storage, suite: Suite | None, entries: list[tuple[SuiteEntry, int | None]], *,
                  budget_trials: int | None, budget_seconds: float | None, total_seconds: float | None,
                  sampler: str | None, seed: int | None, progress: bool, backends: list[str] | None = None,
                  qmc: bool = True, measure_options: MeasureOptions | None = None,
                  failures: list[str] | None = None) -> list[dict[str, Any]]:
    """Tune the entries through :func:`autotune.tuner.tune_suite`; print what was skipped or failed.

    Returns each session's report as stored with its row (what ``autotune report`` shows too),
    named; the names of the workloads where nothing completed are added to ``failures``.
    """
    from ..report import stored_report
    from ..tuner import tune_suite

    def started(i: int, n: int, entry: SuiteEntry) -> None:
        if progress:
            print(f"[{i + 1}/{n}] {entry.name} (n_sims={entry.n_sims:,})", file=sys.stderr)

    run = tune_suite([e for e, _ in entries], storage=store, suite=suite, budget_trials=budget_trials,
                     budget_seconds=budget_seconds, total_seconds=total_seconds, sampler=sampler or "auto",
                     seed=seed, backends=backends, qmc=qmc, measure_options=measure_options, progress=progress,
                     on_start=started)
    if run.not_tuned:
        print(f"time budget of {total_seconds:.0f} s spent: {len(run.not_tuned)} workloads not tuned",
              file=sys.stderr)
    for name, why in run.failed:
        print(f"{name}: not tuned: {for_cli(why)}", file=sys.stderr)
    if failures is not None:
        failures.extend(name for name, _ in run.failed)
    return [{"name": name, **(stored_report(store, report.session_id) or report.to_dict())}
            for name, report in run.reports]


def _size(r: dict[str, Any]) -> str:
    """``n_sims`` of a fixed-size report, the target of a target report."""
    if r.get("target"):
        return Target.from_dict(r["target"]).label()
    return f"{r['n_sims']:,}"


def _tune_table(reports: list[dict[str, Any]]) -> str:
    """One row per stored session report; best and trials read as ``autotune report`` reads them."""
    from ..report import SessionSummary

    rows = []
    for r in reports:
        summary = SessionSummary.from_report(r)
        rows.append((r["name"], _size(r), summary.trials, _examined(r), r.get("sampler"),
                     summary.best_config.label() if summary.best_config is not None else None,
                     fmt_seconds(summary.best_time_s), fmt_seconds(r.get("default_time_s")),
                     f"{r['speedup_over_default']:.2f}x" if r.get("speedup_over_default") else "-"))
    return table(rows, ("workload", "n_sims / target", "trials", "examined", "sampler", "best config", "best",
                        "default", "speedup"))


def _examined(report: dict[str, Any]) -> str:
    """``8/48 (17%)``: configs of the space the session examined (measured, failed or measured before)."""
    size = report.get("space_size")
    if not size:
        return "-"  # a session tuned for a target, or stored before the count existed
    seen = sum(int(report.get(k) or 0) for k in ("configs_measured", "configs_failed", "configs_skipped"))
    return f"{seen}/{size} ({seen / size:.0%})"


def _measure_options(spec: SpecFile, args: argparse.Namespace) -> MeasureOptions | None:
    """The suite's (or the default) measure options with the command line's limit and isolation."""
    if args.timeout is None and not args.in_process:
        return None
    base = spec.suite.measure_options if spec.suite is not None else MeasureOptions()
    return dataclasses.replace(base, isolate=not args.in_process,
                               timeout_s=args.timeout if args.timeout is not None else base.timeout_s)


def cmd_tune(args: argparse.Namespace) -> int:
    spec = load_spec(args.spec)
    settings = spec.tune
    entries = _entries(spec, args.only)
    failures: list[str] = []
    with _store(args) as store:
        reports = _tune_entries(
            store, spec.suite, entries,
            budget_trials=args.budget_trials or settings.get("budget_trials"),
            budget_seconds=args.budget_seconds or settings.get("budget_seconds"),
            total_seconds=args.total_seconds, sampler=args.sampler or settings.get("sampler"),
            seed=args.seed if args.seed is not None else settings.get("seed"),
            progress=not args.no_progress and not args.json, backends=settings.get("backends"),
            qmc=settings.get("qmc", True), measure_options=_measure_options(spec, args), failures=failures)
    emit(reports, as_json=args.json, text=_tune_table(reports) if reports or not failures else None)
    if failures:  # the table shows what was tuned; the status says that not everything was
        print(f"autotune tune: error: nothing completed for {len(failures)} of {len(entries)} workloads: "
              f"{', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


# -- train / evaluate ---------------------------------------------------------------------------------


def cmd_train(args: argparse.Namespace) -> int:
    from ..model import evaluate, train, training_set

    with _store(args) as store:
        started = time.perf_counter()
        model = train(store, name=args.name, n_estimators=args.n_estimators)
        out: dict[str, Any] = {"model_id": model.model_id_, "name": args.name, "n_rows": model.n_rows_,
                               "rows_hash": model.rows_hash_, "seconds": time.perf_counter() - started,
                               "support": model.support_}
        text = [f"trained model {args.name!r} (id {model.model_id_}) on {model.n_rows_} measurements in "
                f"{out['seconds']:.1f} s; configs it can rank: "
                + ", ".join(f"{k}={'/'.join(map(str, v))}" for k, v in model.support_.items())]
        if args.evaluate:
            report = evaluate(training_set(store), group_by="workload", n_estimators=args.n_estimators)
            out["evaluation"] = report.to_dict()
            text += ["", report.table()]
    emit(out, as_json=args.json, text="\n".join(text))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..features import workload_features
    from ..model import evaluate, training_set

    with _store(args) as store:
        data = training_set(store)
        if args.holdout:
            spec = load_spec(args.holdout)
            keys = [workload_features(e.workload, e.n_sims).key for e in spec.entries]
            report = evaluate(data, holdout_workloads=keys, n_estimators=args.n_estimators)
        else:
            report = evaluate(data, group_by=args.group_by, n_splits=max(args.folds, 2),
                              n_estimators=args.n_estimators)
    emit(report.to_dict(), as_json=args.json, text=report.table())
    return 0


# -- predict / run ----------------------------------------------------------------------------------------


def _decision_dict(d: Any) -> dict[str, Any]:
    return {"source": d.source, "config": d.config.to_dict(), "config_label": d.config.label(),
            "predicted_s": d.predicted_s, "measured_s": d.measured_s, "model_version": d.model_version,
            "uncertainty": d.uncertainty, "overhead_ms": d.overhead_s * 1e3, "note": d.note,
            "target": d.target.to_dict() if d.target is not None else None, "predicted_sims": d.predicted_sims}


# The notes of a decision that fell back to the default config because the database failed it.
_DATABASE_NOTES = ("results database unavailable", "decision failed")


def _degraded(args: argparse.Namespace, decisions: Sequence[Any]) -> int:
    """Warn on stderr and return 1 when the database could not be used for these decisions, else 0.

    ``run`` and ``predict`` still print their result (computed with the default config): the
    warning says why, and the exit status lets a script notice that it was not the tuned one.
    """
    from ..api._runtime import runtime

    why = runtime(args.storage).error
    if why is None:
        why = next((d.note for d in decisions if d.note and d.note.startswith(_DATABASE_NOTES)), None)
    if why is None:
        return 0
    done = "the prediction is the default config" if args.command == "predict" else \
        "the default config ran and nothing was recorded"
    print(f"autotune {args.command}: warning: the results database could not be used, so {done}: {for_cli(why)}",
          file=sys.stderr)
    return 1


def _opens(url: str | None) -> bool:
    """Whether the results database opens (as :func:`tuned_simulate` would open it)."""
    try:
        with open_storage(url):
            return True
    except Exception as exc:  # the run goes on without it; _degraded says why
        log.debug("results database %s cannot be used: %s", url, exc)
        return False


def cmd_predict(args: argparse.Namespace) -> int:
    from ..api import predict_config

    spec = load_spec(args.spec)
    out, decisions = [], []
    for entry, _ in _entries(spec, args.only):
        d = predict_config(entry.workload, entry.n_sims, target=entry.target, storage=args.storage,
                           policy=args.policy, calls=args.calls)
        decisions.append(d)
        out.append({"name": entry.name, "n_sims": entry.n_sims, **_decision_dict(d)})
    rows = [(o["name"], _size(o), o["source"], o["config_label"], fmt_seconds(o["predicted_s"]),
             "-" if o["uncertainty"] is None else f"{o['uncertainty']:.2f}", o["note"] or "") for o in out]
    emit(out, as_json=args.json,
         text=table(rows, ("workload", "n_sims / target", "source", "config", "predicted", "log-sd", "note")))
    return _degraded(args, decisions)


def cmd_run(args: argparse.Namespace) -> int:
    from ..api import flush, tuned_simulate

    spec = load_spec(args.spec)
    record = not args.no_record and _opens(args.storage)  # a broken database: nothing to record into
    out, text, decisions = [], [], []
    for entry, seed in _entries(spec, args.only):
        with warnings.catch_warnings():  # the library's warning about the database: said once, below
            warnings.filterwarnings("ignore", message="autotune: ", category=RuntimeWarning)
            result = tuned_simulate(entry.workload, entry.n_sims, target=entry.target,
                                    seed=args.seed if args.seed is not None else seed,
                                    storage=args.storage, policy=args.policy, calls=args.calls,
                                    record=record, name=entry.display_name)
        d = result.decision
        decisions.append(d)
        out.append({"name": entry.name, "n_sims": result.n_sims, "estimates": dict(result.estimates),
                    "half_widths": dict(result.half_widths), "target_met": result.target_met,
                    "standard_errors": dict(result.standard_errors), "decision": _decision_dict(d),
                    "error_bounds": dict(result.error_bounds),
                    "grid": None if result.grid is None else {"step": result.grid.step, "points": result.grid.points},
                    "timing": {"overhead_s": result.timing.overhead_s, "compute_s": result.timing.compute_s,
                               "total_s": result.timing.total_s}})
        used = (f"an FFT grid of {result.n_sims:,} points" if result.grid is not None
                else f"n_sims={result.n_sims:,}")
        size = (f"to {entry.target.label()}: {'met' if result.target_met else 'NOT met'} with {used}"
                if entry.target is not None else f"n_sims={entry.n_sims:,}")
        text += [f"{entry.name} ({size})", estimates_table(result),
                 f"decision: {d.source} -> {d.config.label()}; predicted {fmt_seconds(d.predicted_s)}, "
                 f"measured {fmt_seconds(d.measured_s)} (+{fmt_seconds(result.timing.overhead_s)} one-off); "
                 f"deciding took {d.overhead_s * 1e3:.2f} ms" + (f"; {d.note}" if d.note else ""), ""]
    flush(args.storage)
    emit(out, as_json=args.json, text="\n".join(text))
    return _degraded(args, decisions)


# -- runs / export / import ---------------------------------------------------------------------------------


def _status(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return Outcome(value.lower()).value
    except ValueError:
        raise UsageError(f"--outcome must be one of {[o.value for o in Outcome]}, got {value!r}") from None


def _since(value: str | None) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise UsageError(f"--since must be an ISO date or date-time (2026-11-23, 2026-11-23T10:00), got "
                         f"{value!r}") from None
    return when.replace(tzinfo=datetime.UTC) if when.tzinfo is None else when


def cmd_runs(args: argparse.Namespace) -> int:
    from ..storage import RUN_COLUMNS, measurement_table, write_rows

    with _store(args) as store:
        workloads = workload_keys(store, args.workload)
        rows = measurement_table(store, machine_id=args.machine, workload_id=workloads, kind=args.kind,
                                 source=args.source, outcome=_status(args.status), since=_since(args.since),
                                 limit=args.limit)
    fmt = _runs_format(args)
    if fmt == "table":
        shown = ("id", "created_at", "machine_id", "workload", "kind", "n_sims", "config", "source", "outcome",
                 "steady_s")
        text = table([[_short(r[c]) if c != "workload" else _workload_label(r) for c in shown] for r in rows],
                     shown) + f"\n{len(rows)} measurements"
        if args.output:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        else:
            print(text)
        return 0
    if args.output:
        _write_file(args.output, lambda stream: write_rows(rows, stream, fmt))
        print(f"wrote {len(rows)} measurements ({len(RUN_COLUMNS)} columns) to {args.output}", file=sys.stderr)
    else:
        write_rows(rows, sys.stdout, fmt)
    return 0


def _workload_label(row: dict[str, Any]) -> str:
    """A runs table row's workload: its display name, else its key shortened to 6 digits of the hash."""
    if row["workload_name"]:
        return str(row["workload_name"])
    kind, _, digest = str(row["workload_id"]).partition("-")
    return f"{kind}-{digest[:6]}" if digest else str(row["workload_id"])


def workload_keys(store: Storage, value: str | None) -> str | list[str] | None:
    """What ``--workload VALUE`` selects: a stored workload key, else every workload given the name VALUE.

    Raises:
        UsageError: VALUE is neither a stored key nor a name; the message lists the known names.
    """
    if value is None or store.workload(value) is not None:
        return value
    keys = store.workloads_named(value)
    if keys:
        return keys
    known = sorted({n for names in store.workload_names().values() for n in names})
    raise UsageError(f"--workload: no workload named {value!r} (nor with that key); known: "
                     f"{', '.join(known) if known else 'none (no workload has a name yet)'}")


# What each output file extension means; the longest matching suffix wins (.json.gz before .gz).
RUNS_EXTENSIONS = {".csv": "csv", ".json": "json", ".json.gz": "json", ".txt": "table"}
EXPORT_EXTENSIONS = (".json", ".json.gz")


def _extension(path: str, allowed: Sequence[str], option: str) -> str:
    """The allowed extension ``path`` ends with (case-insensitive), else a usage error naming them."""
    name = Path(path).name.lower()
    for ext in sorted(allowed, key=len, reverse=True):
        if name.endswith(ext) and len(name) > len(ext):
            return ext
    raise UsageError(f"{option} {path}: the format follows the extension, which must be one of "
                     f"{', '.join(allowed)}")


def _runs_format(args: argparse.Namespace) -> str:
    """``table``, ``csv`` or ``json``: from ``-o FILE``'s extension, else ``--format``, else ``--json``."""
    if not args.output:
        return args.format or ("json" if args.json else "table")
    fmt = RUNS_EXTENSIONS[_extension(args.output, tuple(RUNS_EXTENSIONS), "-o")]
    if args.format is not None and args.format != fmt:
        raise UsageError(f"--format {args.format} contradicts -o {args.output} ({fmt}); drop --format or "
                         "change the extension")
    return fmt


def _write_file(path: str, write: Callable[[IO[str]], None]) -> None:
    """Write through ``write`` to ``path``, gzip-compressed when it ends in ``.gz``."""
    if path.lower().endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8", newline="") as stream:
            write(stream)
    else:
        with open(path, "w", encoding="utf-8", newline="") as stream:
            write(stream)


def _short(value: Any) -> Any:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, str) and len(value) > 19 and value[4:5] == "-" and "T" in value:
        return value[:19]
    return value


def cmd_export(args: argparse.Namespace) -> int:
    from ..storage import export_results

    if args.kind:
        raise UsageError("--kind is not an export filter; use --workload KEY")
    _extension(args.file, EXPORT_EXTENSIONS, "FILE")
    with _store(args) as store:
        keys = workload_keys(store, args.workload)
        if isinstance(keys, list) and len(keys) > 1:
            raise UsageError(f"--workload {args.workload!r} names {len(keys)} workloads ({', '.join(keys)}); "
                             "export takes one: give its key")
        workload = keys[0] if isinstance(keys, list) else keys
        document = export_results(store, args.file, machine_id=args.machine, workload_id=workload,
                                  source=args.source, outcome=_status(args.status))
    counts = {k: len(document[k]) for k in ("machines", "workloads", "configs", "measurements", "profiles",
                                            "tuning_sessions")}
    emit({"file": args.file, **counts}, as_json=args.json,
         text=f"exported to {args.file}: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from ..storage import import_results

    with _store(args) as store:
        if "://" in args.source:
            with open_storage(args.source) as other:
                if other.url == store.url:
                    raise UsageError("cannot import a database into itself")
                counts = import_results(store, other)
        else:
            if not Path(args.source).is_file():
                raise UsageError(f"{args.source} is neither an export file nor a database URL (scheme://...)")
            counts = import_results(store, args.source)
    emit(counts.to_dict(), as_json=args.json,
         text=f"imported from {args.source}: " + ", ".join(f"{v} {k}" for k, v in counts.to_dict().items()))
    return 0


# -- instances / report --------------------------------------------------------------------------------------


def cmd_instances(args: argparse.Namespace) -> int:
    from ..report import compare_instances, load_prices, load_weights

    prices = load_prices(args.prices) if args.prices else None
    weights = load_weights(args.weights) if args.weights else None
    with _store(args) as store:
        comparison = compare_instances(store, prices, weights=weights, remeasure=args.remeasure)
    if args.csv and not args.json:
        sys.stdout.write(comparison.to_csv())
        return 0
    emit(comparison.to_dict(), as_json=args.json, text=comparison.table())
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from ..report import load_prices, write_report

    prices = load_prices(args.prices) if args.prices else None
    with _store(args) as store:
        result = write_report(store, args.out, prices=prices)
    out = {"path": str(result.path), "figures": [str(f) for f in result.figures], "sections": list(result.sections),
           "skipped": dict(result.skipped)}
    text = [f"wrote {result.path} ({len(result.figures)} figures)"]
    text += [f"  skipped {k}: {for_cli(v)}" for k, v in result.skipped.items()]
    emit(out, as_json=args.json, text="\n".join(text))
    return 0


# -- demo / suites -----------------------------------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from ._demo import run_demo

    return run_demo(args)


def cmd_suites(args: argparse.Namespace) -> int:
    out = {name: {"description": s.description, "workloads": [{"name": e.name, "kind": type(e.workload).__name__,
                                                                "n_sims": e.n_sims} for e in s.entries]}
           for name, s in SUITES.items()}
    rows = [(name, len(s.entries), s.description) for name, s in SUITES.items()]
    emit(out, as_json=args.json, text=table(rows, ("suite", "workloads", "description")))
    return 0


# -- pin ----------------------------------------------------------------------------------------------------------

__all__ += ["cmd_pin"]

LOCK_EXTENSIONS = (".toml",)


def _reference(text: str | None) -> Any:
    """``--reference backend=numba,chunk_size=65536`` as a :class:`kernels.Config` (None when not given)."""
    from kernels import Config

    if text is None:
        return None
    fields = {f.name: f for f in dataclasses.fields(Config)}
    knobs: dict[str, Any] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or name not in fields:
            raise UsageError(f"--reference: {part!r} is not KNOB=VALUE with a Config knob; knobs are {sorted(fields)}")
        if name in knobs:
            raise UsageError(f"--reference: {name} is given twice")
        if value.lower() in ("true", "false"):
            knobs[name] = value.lower() == "true"
        elif name == "chunk_size" and value.lower() in ("auto", "none"):
            knobs[name] = None
        elif value.lstrip("-").isdigit():
            knobs[name] = int(value)
        else:
            knobs[name] = value
    try:
        return Config(**knobs)
    except ValueError as exc:
        raise UsageError(f"--reference: {exc}") from None


def cmd_pin(args: argparse.Namespace) -> int:
    """Write the lock file: per workload, the reproducible config for this machine (cache -> model -> reference)."""
    from kernels import Lock, LockEntry, lock_environment, workload_digest

    from ..accuracy import TARGET_KEY_SIMS
    from ..api import predict_config
    from ..api._runtime import reset, runtime
    from ..features import machine_fingerprint, workload_features
    from . import version

    _extension(args.output, LOCK_EXTENSIONS, "-o")
    reference = _reference(args.reference)
    spec = load_spec(args.spec)
    entries = [e for e, _ in _entries(spec, args.only)]
    with _store(args):  # a database that cannot be used fails here (exit 1), not as a lock of defaults
        pass

    def decide(entry: SuiteEntry) -> Any:
        return predict_config(entry.workload, None if entry.target is not None else entry.n_sims,
                              target=entry.target, storage=args.storage, policy="exploit", reproducible=True,
                              reference=reference)

    decisions = [decide(e) for e in entries]
    if args.tune:
        from ..tuner import tune

        todo = [e for e, d in zip(entries, decisions, strict=True) if d.source != "cache" and e.target is None]
        with _store(args) as store:
            for i, entry in enumerate(todo):
                if not args.json:
                    print(f"[{i + 1}/{len(todo)}] tuning {entry.name} (n_sims={entry.n_sims:,}, reproducible)",
                          file=sys.stderr)
                tune(entry.workload, entry.n_sims, storage=store, reproducible=True, reference=reference,
                     budget_trials=args.budget_trials, budget_seconds=args.budget_seconds, progress=False)
        if todo:
            reset()  # the runtime read the store before these sessions existed
            decisions = [decide(e) for e in entries]
    why = runtime(args.storage).error or next(
        (d.note for d in decisions if d.note and d.note.startswith(_DATABASE_NOTES)), None)
    if why is not None:  # a lock of reference configs would pass for a tuned one
        print(f"autotune pin: error: the results database could not be used, so no lock file was written: "
              f"{for_cli(why)}", file=sys.stderr)
        return 1
    fingerprint = machine_fingerprint()
    machine = {**lock_environment(), "machine_id": fingerprint.machine_id,
               "instance_type": fingerprint.cloud.instance_type or ""}
    lock_entries = []
    for entry, d in zip(entries, decisions, strict=True):
        n_sims = 0 if entry.target is not None else entry.n_sims
        key = workload_features(entry.workload, n_sims or TARGET_KEY_SIMS).key  # target sessions' key
        lock_entries.append(LockEntry(name=entry.name, config=d.config, workload_digest=workload_digest(entry.workload),
                                      kind=key.split("-", 1)[0], n_sims=n_sims, workload_key=key, source=d.source))
    lock = Lock(entries=tuple(lock_entries), machine=machine, autotune_version=version(),
                created_at=datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace(
                    "+00:00", "Z"))
    lock.write(args.output)
    out = {"file": args.output, "machine": dict(lock.machine), "autotune_version": lock.autotune_version,
           "workloads": [{"name": e.name, "workload_key": e.workload_key, "n_sims": e.n_sims, "source": e.source,
                          "config": e.config.to_dict(), "config_label": e.config.label()} for e in lock.entries]}
    rows = [(e.name, e.n_sims or "target", e.source, e.config.label()) for e in lock.entries]
    emit(out, as_json=args.json, text=table(rows, ("workload", "n_sims", "source", "config"))
         + f"\nwrote {args.output} ({len(rows)} workloads, machine {fingerprint.machine_id})")
    return 0
