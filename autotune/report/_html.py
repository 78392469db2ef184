"""The HTML report: speed-ups, model accuracy, config heat maps, tuning convergence and instances.

Each section reads the data it needs and has its figures drawn by :mod:`._figures`; every figure
is written as a PNG beside ``report.html`` and embedded in it as base64, so the HTML file is
self-contained: inline CSS, no script, no external URL.
"""

from __future__ import annotations

import base64
import datetime
import html
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from kernels import Config, Target

from .._errors import AutotuneError
from .._outcome import Outcome
from ..measure import Measurement
from ..storage import Storage, TuningSessionRow, config_id
from ..storage._models import TuningSessionModel
from ..storage._storage import TARGET_SAMPLER
from ._figures import convergence_figure, heatmap_figure, instances_figure, png_bytes, predicted_figure, speedup_figure
from ._instances import Labels, check_prices, compare_instances
from ._sessions import SessionSummary

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SECTIONS", "ReportResult", "write_report"]

_logger = logging.getLogger(__name__)

SECTIONS = ("Speedup over default", "Time to a target", "Predicted vs measured time", "Config heat map",
            "Tuning convergence", "Instance comparison")
"""Titles of the report's sections, in order."""

_MAX_BARS = 40
_MAX_CONFIGS = 20
_MAX_HEATMAP_ROWS = 40
_MAX_HEATMAPS = 4
_MAX_SESSIONS = 12
_MAX_TABLE_ROWS = 200


@dataclass(frozen=True)
class ReportResult:
    """What :func:`write_report` wrote.

    Attributes:
        path: the HTML file.
        figures: the PNG files written beside it (also embedded in it).
        sections: titles of the sections rendered, in order.
        skipped: title -> why that section had nothing to show.
    """

    path: Path
    figures: tuple[Path, ...]
    sections: tuple[str, ...]
    skipped: dict[str, str] = field(hash=False)


class _NoDataError(Exception):
    """A section has nothing to show; the message says why."""


@dataclass(frozen=True)
class _Table:
    header: Sequence[str]
    rows: Sequence[Sequence[Any]]
    caption: str = ""


@dataclass
class _Section:
    text: str
    figures: list[tuple[str, Figure]] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)


def write_report(store: Storage, out_dir: str | Path, *, prices: Mapping[str, float] | None = None,
                 model: Any | None = None, title: str = "autotune report") -> ReportResult:
    """Write ``out_dir/report.html`` (self-contained) and its figures as PNG files in ``out_dir``.

    A section with no data (no default config measured, no model, no tuning session, fewer than two
    machines on a workload...) is left out with the reason shown in the report and in
    :attr:`ReportResult.skipped`.

    Args:
        store: the results database.
        out_dir: the folder to write to (created if missing).
        prices: ``{instance_type: usd_per_hour}`` (see :func:`load_prices`) to compare machines by cost.
        model: a fitted :class:`~autotune.model.ConfigTimeModel` (anything with ``predict(X)`` returning
            log seconds); ``None`` uses the stored model, if any.
        title: the page title.

    Raises:
        ValueError: ``out_dir`` is an existing file, ``store`` is not a Storage, or ``prices`` is malformed.
    """
    if not isinstance(store, Storage):
        raise ValueError(f"store must be an autotune Storage (open_storage(url)), got {type(store).__name__}")
    if not isinstance(title, str):
        raise ValueError(f"title must be a string, got {type(title).__name__}")
    prices = check_prices(prices)
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"out_dir {out} is a file, not a folder: pass a folder for report.html and its figures")
    out.mkdir(parents=True, exist_ok=True)

    data = _Data(store)
    builders: tuple[Callable[[], _Section], ...] = (
        lambda: _speedup(data), lambda: _to_target(data), lambda: _predicted(data, model), lambda: _heatmaps(data),
        lambda: _convergence(data), lambda: _instances(data, prices),
    )
    parts, figures, rendered, skipped = [], [], [], {}
    for index, (name, build) in enumerate(zip(SECTIONS, builders, strict=True), start=1):
        try:
            section = build()
        except _NoDataError as reason:
            skipped[name] = str(reason)
            parts.append(_section_html(index, name, None, str(reason), []))
            continue
        images = []
        for stem, fig in section.figures:
            png = png_bytes(fig)
            path = out / f"{stem}.png"
            path.write_bytes(png)
            figures.append(path)
            images.append((path.name, png))
        parts.append(_section_html(index, name, section, "", images))
        rendered.append(name)
    path = out / "report.html"
    path.write_text(_page(title, data, parts, skipped), encoding="utf-8")
    _logger.info("wrote %s: %d sections, %d skipped, %d figures", path, len(rendered), len(skipped), len(figures))
    return ReportResult(path=path, figures=tuple(figures), sections=tuple(rendered), skipped=skipped)


class _Data:
    """The COMPLETE measurements of a store, read once; times are medians over a config's repeats."""

    def __init__(self, store: Storage) -> None:
        self.store = store
        self.labels = Labels(store)
        self.measurements = [m for m in store.measurements(outcome=Outcome.COMPLETE) if _usable(m)]
        repeats: dict[tuple[str, str, int], dict[str, list[float]]] = {}
        for m in self.measurements:
            repeats.setdefault((m.machine_id, m.workload_id, m.n_sims), {}).setdefault(m.config_id, []).append(
                float(m.steady_s))  # type: ignore[arg-type]
        self.times = {key: {c: float(np.median(t)) for c, t in configs.items()} for key, configs in repeats.items()}
        self.machine_names = self.labels.machines({m.machine_id for m in self.measurements})


def _usable(m: Measurement) -> bool:
    return not m.legacy_timing and m.steady_s is not None and math.isfinite(m.steady_s) and m.steady_s > 0


# -- sections -------------------------------------------------------------------------------------


def _latest_session_reports(data: _Data) -> dict[tuple[str, str, int], dict[str, Any]]:
    """The stored report of the latest complete fixed-size tuning session per (machine, workload, n_sims)."""
    with data.store.session(read_only=True) as session:
        ids = list(session.scalars(select(TuningSessionModel.id).where(
            TuningSessionModel.status == "complete",
            TuningSessionModel.sampler.is_(None) | (TuningSessionModel.sampler != TARGET_SAMPLER))
            .order_by(TuningSessionModel.id)))
    latest: dict[tuple[str, str, int], dict[str, Any]] = {}
    for sid in ids:
        row = data.store.tuning_session(sid)
        if row is not None and isinstance(row.report, dict):
            latest[(row.machine_id, row.workload_id, row.n_sims)] = row.report
    return latest


def _speedup(data: _Data) -> _Section:
    default = config_id(Config().to_dict())
    sessions = _latest_session_reports(data)
    rows = []
    for key in sorted(set(data.times) | set(sessions)):
        mid, wid, n = key
        summary = SessionSummary.from_report(sessions.get(key))
        default_s = sessions.get(key, {}).get("default_time_s")
        if summary.best_config is not None and summary.best_time_s and isinstance(default_s, int | float):
            # as `autotune tune` printed it: the final side-by-side re-measurement of the session
            rows.append((data.machine_names.get(mid) or data.labels.machine(mid),
                         data.labels.workload(wid, n), float(default_s), summary.best_time_s,
                         float(default_s) / summary.best_time_s, summary.best_config.label()))
            continue
        times = data.times.get(key, {})
        if default in times:
            best = min(times, key=lambda c: (times[c], c))
            rows.append((data.machine_names[mid], data.labels.workload(wid, n), times[default], times[best],
                         times[default] / times[best], data.labels.config(best)))
    if not rows:
        raise _NoDataError("no (machine, workload) has the default config Config() measured COMPLETE, so there is "
                      "no baseline; `autotune tune` measures it first")
    rows.sort(key=lambda r: (-r[4], r[0], r[1]))
    several = len({r[0] for r in rows}) > 1
    shown = rows[:_MAX_BARS][::-1]
    names = [f"{r[1]} | {r[0]}" if several else r[1] for r in shown]
    fig = speedup_figure(names, [r[4] for r in shown], log_scale=max(r[4] for r in rows) > 20)
    note = f" (the {_MAX_BARS} largest of {len(rows)} shown)" if len(rows) > _MAX_BARS else ""
    text = ("Time of the default config (numpy, one serial worker, float64, automatic chunks) divided by the time "
            "of the best config, on the same machine, workload and simulation count. Where a tuning session "
            "completed, both times are those of its stored report, as `autotune tune` printed them (medians of the "
            "final side-by-side re-measurement); elsewhere they are medians over every repeated measurement and the "
            f"best config is the fastest measured{note}.")
    table = _Table(("machine", "workload", "default (s)", "best (s)", "speed-up", "best config"), rows)
    return _Section(text, [("speedup", fig)], [table])


def _to_target(data: _Data) -> _Section:
    with data.store.session(read_only=True) as session:
        ids = list(session.scalars(select(TuningSessionModel.id).where(
            TuningSessionModel.sampler == TARGET_SAMPLER, TuningSessionModel.status == "complete")
            .order_by(TuningSessionModel.id)))
    latest: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for sid in ids:
        row = data.store.tuning_session(sid)
        report = row.report if row is not None and isinstance(row.report, dict) else {}
        try:
            target = Target.from_dict(report["target"])
            best, default = float(report["best_time_s"]), report.get("default_time_s")
            config = Config.from_dict(report["best_config"])
        except (KeyError, TypeError, ValueError, AttributeError):
            continue  # a report this version cannot read: shown nowhere rather than wrongly
        machine = data.machine_names.get(row.machine_id, row.machine_id)
        workload = data.labels.workload(row.workload_id, 0).rsplit(" n=", 1)[0]
        speedup = float(default) / best if isinstance(default, int | float) and best > 0 else None
        latest[(machine, workload, target.label())] = (machine, workload, target.label(), default, best, speedup,
                                                       config.label(), sid)
    if not latest:
        raise _NoDataError("no session tuned for a precision target; `autotune tune` with a spec whose workloads "
                           "have a `target`, or autotune.tune(workload, target=...), runs one")
    rows = sorted(latest.values(), key=lambda r: (-(r[5] or 0), r[0], r[1]))
    text = ("Time to reach each tuning session's precision target: the default config (pseudo-random, no variance "
            "reduction) against the tuned config (estimator and execution config), both run to the target side by "
            "side in the session's final check; medians of whole runs, batches included.")
    table = _Table(("machine", "workload", "target", "default (s)", "tuned (s)", "speed-up", "tuned config",
                    "session"), rows)
    shown = [r for r in rows if r[5]][:_MAX_BARS][::-1]
    figures = []
    if shown:
        fig = speedup_figure([f"{r[1]} | {r[2]}" for r in shown], [r[5] for r in shown],
                             log_scale=max(r[5] for r in shown) > 20)
        figures.append(("to_target", fig))
    return _Section(text, figures, [table])


def _predicted(data: _Data, model: Any | None) -> _Section:
    from ..model import load_model, training_set

    source = "the model passed in"
    if model is None:
        try:
            model = load_model(data.store)
        except AutotuneError as exc:
            raise _NoDataError(f"the stored model cannot be used: {exc}") from None
        if model is None:
            raise _NoDataError("no model: none was passed and none is stored; train one with `autotune train` "
                          "(autotune.model.train(store))")
        source = f"the stored model (id {getattr(model, 'model_id_', '?')})"
    try:
        rows = training_set(data.store)
        predicted = np.exp(np.asarray(model.predict(rows.X), dtype=np.float64).reshape(-1))
    except (AutotuneError, ValueError) as exc:
        raise _NoDataError(f"the model cannot predict the stored measurements: {exc}") from None
    measured = np.exp(rows.y_log_time)
    machines = [str(m) for m in rows.machine_ids]
    fig = predicted_figure(measured, predicted, machines, data.machine_names)
    table_rows = []
    for mid in sorted(set(machines), key=lambda m: data.machine_names.get(m, m)):
        mask = np.array([m == mid for m in machines])
        table_rows.append(_accuracy_row(data.machine_names.get(mid, mid), measured[mask], predicted[mask]))
    table_rows.append(_accuracy_row("all machines", measured, predicted))
    text = (f"Predictions of {source} for every stored COMPLETE measurement ({len(rows)} rows), against the "
            "measured median time; dashed lines are a factor of 2 off. Rows the model was trained on are "
            "predicted in-sample, so this shows its fit, not its accuracy on new workloads (`autotune evaluate`).")
    table = _Table(("machine", "rows", "median |error|", "within 25%", "within 2x", "R² of log time"), table_rows)
    return _Section(text, [("predicted", fig)], [table])


def _accuracy_row(name: str, measured: np.ndarray, predicted: np.ndarray) -> tuple[Any, ...]:
    ratio = predicted / measured
    log_m, log_p = np.log(measured), np.log(predicted)
    spread = float(np.sum((log_m - log_m.mean()) ** 2))
    r2 = 1.0 - float(np.sum((log_m - log_p) ** 2)) / spread if spread > 0 else math.nan
    return (name, int(measured.size), f"{float(np.median(np.abs(ratio - 1))):.1%}",
            f"{float(np.mean(np.abs(np.log(ratio)) <= math.log(1.25))):.0%}",
            f"{float(np.mean(np.abs(np.log(ratio)) <= math.log(2))):.0%}", r2)


def _heatmaps(data: _Data) -> _Section:
    counts = Counter(m.machine_id for m in data.measurements)
    figures, tables = [], []
    for mid, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        groups = {(w, n): times for (m, w, n), times in data.times.items() if m == mid}
        measured_in = Counter(c for times in groups.values() for c in times)
        if len(measured_in) < 2:
            continue
        configs = sorted(measured_in, key=lambda c: (-measured_in[c], data.labels.config(c)))[:_MAX_CONFIGS]
        keys = sorted(groups, key=lambda k: (-len(groups[k]), k))[:_MAX_HEATMAP_ROWS]
        keys = sorted((k for k in keys if any(c in groups[k] for c in configs)),
                      key=lambda k: data.labels.workload(*k))
        ratio = np.array([[groups[k][c] / min(groups[k].values()) if c in groups[k] else np.nan for c in configs]
                          for k in keys])
        name = data.machine_names[mid]
        figures.append((f"heatmap-{len(figures) + 1}", heatmap_figure(
            ratio, [data.labels.workload(*k) for k in keys], [data.labels.config(c) for c in configs], name)))
        tables.append(_Table(("config", "measured on", *(data.labels.workload(*k) for k in keys)),
                             [(data.labels.config(c), measured_in[c], *ratio[:, j]) for j, c in enumerate(configs)],
                             caption=f"{name}: time / best time per workload"))
        if len(figures) == _MAX_HEATMAPS:
            break
    if not figures:
        raise _NoDataError("no machine has two different configs measured COMPLETE")
    text = (f"Time of each config divided by the fastest measured config of the workload (1 = best), for the "
            f"{_MAX_CONFIGS} configs measured most often on each of the (up to {_MAX_HEATMAPS}) machines with the most "
            "measurements; blank cells were not measured. The colour scale is logarithmic.")
    return _Section(text, figures, tables)


def _convergence(data: _Data) -> _Section:
    with data.store.session(read_only=True) as session:
        ids = list(session.scalars(select(TuningSessionModel.id).where(
            TuningSessionModel.sampler.is_(None) | (TuningSessionModel.sampler != TARGET_SAMPLER))
            .order_by(TuningSessionModel.id.desc())))
    if not ids:
        raise _NoDataError("no fixed-size tuning sessions in the database; `autotune tune` runs one")
    curves: list[tuple[TuningSessionRow, list[float]]] = []
    for sid in ids:
        row = data.store.tuning_session(sid)
        trials = data.store.measurements(session_id=sid)
        times = [float(m.steady_s) if m.ok and _usable(m) else math.inf  # type: ignore[arg-type]
                 for m in trials]
        if row is not None and any(math.isfinite(t) for t in times):
            best = min(times)
            curves.append((row, [b / best for b in np.minimum.accumulate(times)]))
        if len(curves) == _MAX_SESSIONS:
            break
    if not curves:
        raise _NoDataError(f"the {len(ids)} tuning session(s) in the database have no COMPLETE measurements")
    curves.reverse()
    lines, table = [], []
    for row, ratio in curves:
        name = f"#{row.id} {data.machine_names.get(row.machine_id, row.machine_id)} | " \
               f"{data.labels.workload(row.workload_id, row.n_sims)}"
        lines.append((name, ratio))
        within = next((k + 1 for k, r in enumerate(ratio) if r <= 1.05), None)
        # best and trials from the stored session report, as `autotune tune` prints them
        summary = SessionSummary.from_report(row.report)
        best = (f"{summary.best_config.label()} ({summary.best_time_s:.4g} s)"
                if summary.best_config is not None and summary.best_time_s is not None else None)
        table.append((row.id, data.machine_names.get(row.machine_id, row.machine_id),
                      data.labels.workload(row.workload_id, row.n_sims), row.sampler or "", row.status,
                      summary.trials, len(ratio), within, best))
    fig = convergence_figure(lines)
    text = (f"Best time found so far divided by the fastest measurement of the session, against the measurement "
            f"number, for the {len(curves)} latest tuning sessions with COMPLETE measurements (re-measurements of "
            "the top candidates included). In the table, trials and best come from the session's stored report, "
            "as `autotune tune` prints them: best is the chosen config's median in the final side-by-side "
            "re-measurement, so it can be slower than the fastest single measurement.")
    header = ("session", "machine", "workload", "sampler", "status", "trials", "measurements",
              "measurements to within 5%", "best")
    return _Section(text, [("convergence", fig)], [_Table(header, table)])


def _instances(data: _Data, prices: Mapping[str, float] | None) -> _Section:
    try:
        comparison = compare_instances(data.store, prices, measurements=data.measurements)
    except ValueError as exc:
        raise _NoDataError(str(exc)) from None
    money = any(r.usd_per_million is not None for r in comparison.rows)
    workloads = comparison.workloads()
    machines = list(comparison.machines)
    labels = {r.machine_id: r.label for r in comparison.rows}
    value = {(r.workload_id, r.n_sims, r.machine_id): (r.usd_per_million if money else r.s_per_million)
             for r in comparison.rows}
    fig = instances_figure(
        [data.labels.workload(w, n) for w, n in workloads],
        [(labels[mid], [value.get((w, n, mid)) for w, n in workloads]) for mid in machines],
        n_rows=len(comparison.rows),
        xlabel="US dollars per million simulations" if money else "seconds per million simulations")
    text = ("The best config of each machine on the workloads measured on at least two machines (the median of "
            "its side-by-side re-measurement where a tuning session made one, else of its stored samples), "
            + ("in US dollars per million simulations (machines without a price have no bar)."
               if money else "in seconds per million simulations (pass a price table to compare costs).")
            + " Machines whose intervals overlap are tied.")
    table = _Table(("workload", "machine", "best config", "evidence", "median s", "low", "high", "s / 1M sims",
                    "$ / hour", "$ / 1,000 runs", "verdict"),
                   [(data.labels.workload(r.workload_id, r.n_sims), r.label, r.best_config, r.evidence, r.seconds,
                     r.seconds_low, r.seconds_high, r.s_per_million, r.usd_per_hour, r.usd_per_1k_runs, r.verdict())
                    for r in comparison.rows])
    return _Section(text, [("instances", fig)], [table])


# -- HTML -----------------------------------------------------------------------------------------


_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       padding: 0 1em; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 2em; }
.meta { color: #666; font-size: 0.9em; }
img { max-width: 100%; height: auto; display: block; margin: 1em 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0 1em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; }
th { background: #f4f4f4; text-align: left; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.skipped { background: #fff7e0; border-left: 4px solid #e0b000; padding: 0.6em 1em; }
caption { text-align: left; font-weight: 600; padding: 0.3em 0; }
"""


def _page(title: str, data: _Data, parts: list[str], skipped: Mapping[str, str]) -> str:
    e = html.escape
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    workloads = {(m.workload_id, m.n_sims) for m in data.measurements}
    meta = (f"Generated {when} from {data.store!r}: {len(data.measurements)} COMPLETE measurements of "
            f"{len(workloads)} workloads on {len(data.machine_names)} machines.")
    toc = "".join(f'<li><a href="#section-{i}">{e(name)}</a>{" (skipped)" if name in skipped else ""}</li>'
                  for i, name in enumerate(SECTIONS, start=1))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{e(title)}</title>\n'
            f"<style>{_CSS}</style>\n</head>\n<body>\n<h1>{e(title)}</h1>\n<p class=\"meta\">{e(meta)}</p>\n"
            f"<ol>{toc}</ol>\n" + "\n".join(parts) + "\n</body>\n</html>\n")


def _section_html(index: int, name: str, section: _Section | None, reason: str,
                  images: list[tuple[str, bytes]]) -> str:
    e = html.escape
    head = f'<section id="section-{index}">\n<h2>{index}. {e(name)}</h2>\n'
    if section is None:
        return head + f'<p class="skipped">Skipped: {e(reason)}</p>\n</section>'
    body = [f"<p>{e(section.text)}</p>"]
    for filename, png in images:
        data = base64.b64encode(png).decode("ascii")
        body.append(f'<img src="data:image/png;base64,{data}" alt="{e(name)} ({e(filename)})">')
    body.extend(_table_html(table) for table in section.tables)
    return head + "\n".join(body) + "\n</section>"


def _table_html(table: _Table) -> str:
    e = html.escape
    rows = list(table.rows)
    note = f" (first {_MAX_TABLE_ROWS} of {len(rows)} rows)" if len(rows) > _MAX_TABLE_ROWS else ""
    caption = f"<caption>{e(table.caption + note)}</caption>" if table.caption or note else ""
    head = "".join(f"<th>{e(str(h))}</th>" for h in table.header)
    body = "\n".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows[:_MAX_TABLE_ROWS])
    summary = f"Numbers ({len(rows)} row{'' if len(rows) == 1 else 's'})"
    return (f"<details{' open' if len(rows) <= 30 else ''}><summary>{e(summary)}</summary>\n<table>{caption}"
            f"<thead><tr>{head}</tr></thead>\n<tbody>\n{body}\n</tbody></table></details>")


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<td class="num"></td>'
    if isinstance(value, bool):
        return f"<td>{'yes' if value else ''}</td>"
    if isinstance(value, int):
        return f'<td class="num">{value:,}</td>'
    if isinstance(value, float):
        return f'<td class="num">{value:.4g}</td>'
    return f"<td>{html.escape(str(value))}</td>"
