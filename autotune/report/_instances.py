"""Instance comparison: the same workloads on different machines, in time and in money per run.

Per (machine, workload, n_sims) the figure is the median of the best config's stored steady-state
samples with a distribution-free (order-statistic) confidence interval; where a tuning session
re-measured its finalists side by side, those samples are used, else the search's. Two machines
whose intervals overlap are tied: nothing is called fastest or cheapest within noise.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
import math
import statistics
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from kernels import Config

from .._outcome import Outcome, Source
from ..features import machine_fingerprint, workload_features, workload_from_spec
from ..measure import Measurement, compare_configs
from ..storage import MachineRow, ResultsLog, Storage, config_id
from ..storage._models import TuningSessionModel
from ..storage._storage import TARGET_SAMPLER

__all__ = [
    "CONFIDENCE",
    "InstanceComparison",
    "InstanceRow",
    "InstanceSummary",
    "compare_instances",
    "load_prices",
    "load_weights",
    "median_interval",
]

_logger = logging.getLogger(__name__)

CONFIDENCE = 0.95
"""The confidence asked of each median's interval (fewer samples than 6 cannot reach it: the
interval is then the samples' range, and its own coverage is reported)."""

_PRICE_COLUMNS = ("instance_type", "usd_per_hour")


def load_prices(path: str | Path) -> dict[str, float]:
    """Read a price table: a CSV with the header ``instance_type,usd_per_hour`` (extra columns are ignored).

    Returns:
        ``{instance_type: usd_per_hour}``.

    Raises:
        ValueError: the file cannot be read, misses a column, or a line has an empty instance type,
            a price that is not a non-negative number, or an instance type already listed; the
            message names the file, the line and the field.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read the price table {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or ()]
    missing = [c for c in _PRICE_COLUMNS if c not in header]
    if missing:
        raise ValueError(f"{path}, line 1: the header misses column(s) {missing}; it must name "
                         f"{','.join(_PRICE_COLUMNS)} (extra columns are ignored), got {header}")
    reader.fieldnames = header
    prices: dict[str, float] = {}
    first_line: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        name = (row.get("instance_type") or "").strip()
        raw = (row.get("usd_per_hour") or "").strip()
        if not name:
            raise ValueError(f"{path}, line {line}, field instance_type: empty instance type")
        try:
            price = float(raw)
        except ValueError:
            raise ValueError(f"{path}, line {line}, field usd_per_hour: {raw!r} is not a number "
                             f"(expected US dollars per hour, e.g. 0.17)") from None
        if not math.isfinite(price) or price < 0:
            raise ValueError(f"{path}, line {line}, field usd_per_hour: the price must be a non-negative "
                             f"finite number, got {raw!r}")
        if name in prices:
            raise ValueError(f"{path}, line {line}, field instance_type: duplicate instance type {name!r} "
                             f"(first listed on line {first_line[name]})")
        prices[name], first_line[name] = price, line
    return prices


def load_weights(path: str | Path) -> dict[str, float]:
    """Read a workload mix: a TOML or JSON file mapping workload name (or key) to its weight.

    TOML: ``book3 = 2`` lines (a ``[weights]`` table is also accepted); JSON: ``{"book3": 2}``.

    Raises:
        ValueError: the file cannot be read or parsed, has another extension, or a weight is not a
            positive finite number; the message names the file and the entry.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".json"):
        raise ValueError(f"{path}: a weights file must end in .toml or .json, got {path.name!r}")
    try:
        text = path.read_text(encoding="utf-8-sig")
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the weights file {path}: {exc}") from None
    if isinstance(data, dict) and set(data) == {"weights"} and isinstance(data["weights"], dict):
        data = data["weights"]
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{path}: expected a non-empty table of workload name = weight, got {data!r}")
    return check_weights(data, where=str(path))


def check_weights(weights: Mapping[str, float], *, where: str = "weights") -> dict[str, float]:
    """Validate a workload mix given in code: ``{workload name or key: positive weight}``."""
    if not isinstance(weights, Mapping) or not weights:
        raise ValueError(f"{where} must be a non-empty mapping {{workload name: weight}}, got {weights!r}")
    checked = {}
    for name, weight in weights.items():
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not math.isfinite(weight) \
                or weight <= 0:
            raise ValueError(f"{where}, entry {name!r}: the weight must be a positive number, got {weight!r}")
        checked[str(name)] = float(weight)
    return checked


def median_interval(samples: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float, float] | None:
    """A distribution-free confidence interval of the median of ``samples``: ``(low, high, coverage)``.

    The interval runs from the k-th smallest to the k-th largest sample, k the largest for which
    the binomial coverage reaches ``confidence``; with fewer than 6 samples none does, and the
    interval is the samples' range with its own, lower coverage (93.75 % for 5 samples, 87.5 % for 4).
    ``None`` for fewer than 2 samples: one number has no spread.
    """
    x = sorted(float(v) for v in samples)
    n = len(x)
    if n < 2:
        return None
    alpha = 1.0 - confidence

    def below(k: int) -> float:  # P(Binomial(n, 1/2) <= k)
        return sum(math.comb(n, i) for i in range(k + 1)) / 2.0 ** n

    k = 1
    for j in range(1, n // 2 + 1):
        if 2.0 * below(j - 1) <= alpha:
            k = j
    return x[k - 1], x[n - k], 1.0 - 2.0 * below(k - 1)


@dataclass(frozen=True)
class InstanceRow:
    """One machine on one workload: its best config's median time with an interval, and its cost.

    Attributes:
        label: the instance type when known, else ``"<provider>: <cpu model> (<n> cores)"``.
        workload: the workload's latest display name, else its key shortened to 6 digits of the hash.
        best_config: the :meth:`~kernels.Config.label` of the config compared.
        evidence: ``"side-by-side"`` (the samples of a tuning session's final re-measurement of its
            finalists, and the config it chose), ``"re-measured"`` (this machine's best configs timed
            side by side by this call: ``remeasure=True``) or ``"search"`` (every stored sample of the
            config with the lowest median: a best-of-many pick, so biased low).
        n_samples: the steady-state samples behind the median.
        seconds: their median (seconds per run of ``n_sims``).
        seconds_low, seconds_high, coverage: the median's interval (:func:`median_interval`) and its
            coverage; ``None`` without repeats.
        s_per_million: median seconds per million simulations.
        usd_per_hour: the machine's price (``None``: not in the price table, or no table).
        usd_per_1k_runs, usd_per_1k_runs_low, usd_per_1k_runs_high: US dollars per 1,000 runs of
            ``n_sims`` simulations, with the interval (``None`` without a price).
        usd_per_million: US dollars per million simulations (``None`` without a price).
        fastest: its interval lies below every other ranked machine's on this workload.
        tied_fastest: within noise of the fastest median (the intervals overlap), with another machine.
        cheapest, tied_cheapest: the same by cost among priced machines; ``None`` without prices.
        note: why the row is not ranked (no repeats), else empty.
    """

    machine_id: str
    label: str
    workload_id: str
    workload: str
    n_sims: int
    best_config: str
    evidence: str
    n_samples: int
    seconds: float
    seconds_low: float | None
    seconds_high: float | None
    coverage: float | None
    s_per_million: float
    usd_per_hour: float | None
    usd_per_1k_runs: float | None
    usd_per_1k_runs_low: float | None
    usd_per_1k_runs_high: float | None
    usd_per_million: float | None
    fastest: bool
    tied_fastest: bool
    cheapest: bool | None
    tied_cheapest: bool | None
    note: str

    @property
    def ranked(self) -> bool:
        """Whether the row has an interval (repeats), so that it can be ranked."""
        return self.seconds_low is not None

    def verdict(self) -> str:
        """``fastest`` / ``tied for fastest`` and ``cheapest`` / ``tied for cheapest``, or the note."""
        words = [w for w, flag in (("fastest", self.fastest), ("tied for fastest", self.tied_fastest),
                                   ("cheapest", self.cheapest), ("tied for cheapest", self.tied_cheapest)) if flag]
        return ", ".join(words + ([self.note] if self.note else []))


_COST_FIELDS = ("usd_per_hour", "usd_per_1k_runs", "usd_per_1k_runs_low", "usd_per_1k_runs_high", "usd_per_million",
                "cheapest", "tied_cheapest")


@dataclass(frozen=True)
class InstanceSummary:
    """One machine across the workload mix: weighted geometric means over the compared workloads.

    Attributes:
        seconds: weighted geometric mean of the median seconds per run; ``seconds_low`` and
            ``seconds_high`` the same mean of the interval ends (a band, not itself a confidence
            interval; ``None`` when a workload has no repeats).
        usd_per_1k_runs (+ ``_low``/``_high``): the same for the cost (``None`` without a price).
        workloads: how many workloads of the mix the machine was measured on; a machine missing
            some gets no means (``None``) and is not ranked.
        fastest, tied_fastest, cheapest, tied_cheapest: as in :class:`InstanceRow`, on the bands.
    """

    machine_id: str
    label: str
    workloads: int
    seconds: float | None
    seconds_low: float | None
    seconds_high: float | None
    usd_per_1k_runs: float | None
    usd_per_1k_runs_low: float | None
    usd_per_1k_runs_high: float | None
    fastest: bool
    tied_fastest: bool
    cheapest: bool | None
    tied_cheapest: bool | None

    def verdict(self) -> str:
        words = [w for w, flag in (("fastest", self.fastest), ("tied for fastest", self.tied_fastest),
                                   ("cheapest", self.cheapest), ("tied for cheapest", self.tied_cheapest)) if flag]
        return ", ".join(words)


@dataclass(frozen=True)
class InstanceComparison:
    """Result of :func:`compare_instances`: one row per (machine, workload, n_sims) compared.

    Attributes:
        rows: ordered by workload, then by median time.
        machines: ids of the machines compared, ordered by label.
        summary: one row per machine across the workload mix.
        weights: ``{workload label: weight}`` of the mix (equal weights unless given).
        priced: whether prices were given (cost columns and "cheapest" appear only then).
        confidence: the confidence asked of each interval (:data:`CONFIDENCE`).
    """

    rows: tuple[InstanceRow, ...]
    machines: tuple[str, ...]
    summary: tuple[InstanceSummary, ...] = ()
    weights: tuple[tuple[str, float], ...] = ()
    priced: bool = False
    confidence: float = CONFIDENCE

    def workloads(self) -> list[tuple[str, int]]:
        """The compared (workload_id, n_sims) pairs, in row order."""
        return list(dict.fromkeys((r.workload_id, r.n_sims) for r in self.rows))

    def table(self) -> str:
        """A plain-text table, one block per workload, then the summary over the mix."""
        head = ["machine", "best config", "median", "interval (coverage)", "samples", "evidence"]
        if self.priced:
            head += ["$/hour", "$ per 1,000 runs"]
        head.append("verdict")
        lines: list[str] = []
        for workload_id, n_sims in self.workloads():
            rows = [r for r in self.rows if (r.workload_id, r.n_sims) == (workload_id, n_sims)]
            title = rows[0].workload if rows[0].workload == _short_key(workload_id) \
                else f"{rows[0].workload} ({_short_key(workload_id)})"
            cells = []
            for r in rows:
                interval = (f"{_seconds(r.seconds_low)} - {_seconds(r.seconds_high)} ({r.coverage:.0%})"
                            if r.seconds_low is not None and r.coverage is not None else "-")
                row = [r.label, r.best_config, _seconds(r.seconds), interval, str(r.n_samples), r.evidence]
                if self.priced:
                    row += [_usd(r.usd_per_hour), _usd(r.usd_per_1k_runs)]
                cells.append([*row, r.verdict()])
            lines += ["", f"{title}  n_sims={n_sims:,}", *_plain_table(head, cells)]
        if self.summary:
            mix = ", ".join(f"{name} x{weight:g}" for name, weight in self.weights)
            head = ["machine", "workloads", "geo-mean time", "band"]
            if self.priced:
                head += ["geo-mean $ per 1,000 runs", "band"]
            head.append("verdict")
            cells = []
            for s in self.summary:
                band = (f"{_seconds(s.seconds_low)} - {_seconds(s.seconds_high)}"
                        if s.seconds_low is not None else "-")
                row = [s.label, str(s.workloads), _seconds(s.seconds), band]
                if self.priced:
                    row += [_usd(s.usd_per_1k_runs), f"{_usd(s.usd_per_1k_runs_low)} - {_usd(s.usd_per_1k_runs_high)}"
                            if s.usd_per_1k_runs_low is not None else "-"]
                cells.append([*row, s.verdict()])
            lines += ["", f"workload mix (weighted geometric mean): {mix}", *_plain_table(head, cells)]
        lines += ["", f"intervals: the median's {self.confidence:.0%} order-statistic interval (the samples' range, "
                      "with its own coverage, below 6 samples); overlapping intervals are a tie"]
        return "\n".join(lines[1:])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict; without prices, the cost fields (and "cheapest") are left out."""
        def keep(item: object) -> dict[str, Any]:
            values = dataclasses.asdict(item)  # type: ignore[call-overload]
            return values if self.priced else {k: v for k, v in values.items() if k not in _COST_FIELDS}

        return {"machines": list(self.machines), "priced": self.priced, "confidence": self.confidence,
                "rows": [keep(r) for r in self.rows],
                "summary": {"weights": dict(self.weights), "machines": [keep(s) for s in self.summary]}}

    def to_csv(self) -> str:
        """The rows as CSV text with a header (empty fields where there is no value)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        names = [f.name for f in dataclasses.fields(InstanceRow)
                 if self.priced or f.name not in _COST_FIELDS]
        writer.writerow(names)
        for r in self.rows:
            writer.writerow(["" if getattr(r, n) is None else getattr(r, n) for n in names])
        return buffer.getvalue()


def _plain_table(head: Sequence[str], cells: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [head, *cells]) for i in range(len(head))]
    out = ["  " + "  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip(),
           "  " + "  ".join("-" * w for w in widths)]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return out


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1.0:
        return f"{value:.3g} s"
    if value >= 1e-3:
        return f"{value * 1e3:.3g} ms"
    return f"{value * 1e6:.3g} us"


def _usd(value: float | None) -> str:
    """``$0.42``, ``$1,234.50``; amounts under a cent with two significant digits (``$0.0012``)."""
    if value is None:
        return "-"
    return f"${value:,.2f}" if value >= 0.00995 or value == 0 else f"${value:.2g}"


def _short_key(workload_id: str) -> str:
    kind, _, digest = workload_id.partition("-")
    return f"{kind}-{digest[:6]}" if digest else workload_id


def compare_instances(store: Storage, prices: Mapping[str, float] | None = None, *,
                      measurements: Iterable[Measurement] | None = None,
                      weights: Mapping[str, float] | None = None,
                      confidence: float = CONFIDENCE, remeasure: bool = False,
                      remeasure_configs: int = 3, remeasure_rounds: int = 5) -> InstanceComparison:
    """Compare the machines in ``store`` on the workloads they were all measured on.

    For each (workload, n_sims) measured COMPLETE on at least two machines, each machine's figure
    is the median of its best config's steady-state samples, with an order-statistic interval
    (:func:`median_interval`). Where the machine's latest tuning session of the workload re-measured
    its finalists side by side, the config that session chose and those samples are used
    (``evidence="side-by-side"``); else every stored sample of the config with the lowest median
    (``"search"``). Machines whose intervals overlap are tied; a machine without repeats is not ranked.
    With ``prices`` (``{instance_type: usd_per_hour}``, e.g. from :func:`load_prices`; looked up by
    instance type, else machine id) costs are added in US dollars per 1,000 runs; a machine with no
    price gets ``None`` costs (and a warning). The summary takes weighted geometric means over the
    workloads: ``weights`` maps a workload's display name (or key) to its weight, default equal.
    ``measurements``: the store's COMPLETE measurements when the caller has already read them.

    ``remeasure``: on the workloads this machine (the one running the call) shares with others,
    first re-measure its ``remeasure_configs`` best stored configs side by side
    (:func:`autotune.measure.compare_configs`, ``remeasure_rounds`` rounds), store the samples
    (source ``benchmark``) and use them (``evidence="re-measured"``). Other machines cannot be
    re-measured from here: run it on each.

    Raises:
        ValueError: ``store`` is not a Storage, ``prices`` or ``weights`` are malformed, a weight names
            no compared workload (the message lists the known names), or no workload was measured
            on two machines.
    """
    if not isinstance(store, Storage):
        raise ValueError(f"store must be an autotune Storage (open_storage(url)), got {type(store).__name__}")
    prices = check_prices(prices)
    weights = None if weights is None else check_weights(weights)
    if isinstance(confidence, bool) or not isinstance(confidence, float | int) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number between 0 and 1 (exclusive), got {confidence!r}")
    if not isinstance(remeasure, bool):
        raise ValueError(f"remeasure must be True or False, got {remeasure!r}")
    for field, value, high in (("remeasure_configs", remeasure_configs, 20),
                               ("remeasure_rounds", remeasure_rounds, 100)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise ValueError(f"{field} must be an integer from 1 to {high}, got {value!r}")
    if measurements is None:
        measurements = store.measurements(outcome=Outcome.COMPLETE)
    usable = [m for m in measurements if m.ok and not m.legacy_timing and m.steady_s is not None
              and math.isfinite(m.steady_s) and m.steady_s > 0]
    groups: dict[tuple[str, int], dict[str, list[Measurement]]] = {}
    for m in usable:
        groups.setdefault((m.workload_id, m.n_sims), {}).setdefault(m.machine_id, []).append(m)
    shared = {key: group for key, group in groups.items() if len(group) >= 2}
    if not shared:
        n_machines = len({mid for group in groups.values() for mid in group})
        raise ValueError(
            "instances needs measurements of the same workload on at least 2 machines; "
            f"{store!r} has COMPLETE measurements of {len(groups)} workload(s) on {n_machines} machine(s), and no "
            "workload was measured on two of them: tune the same workload on each machine (same n_sims)"
        )
    labels = Labels(store)
    names = labels.machines({mid for group in shared.values() for mid in group})
    machine_ids = sorted(names, key=lambda i: (names[i], i))
    hourly = {mid: _price(labels.machine_row(mid), mid, prices) for mid in machine_ids}
    mix = _mix(sorted(shared), weights, labels)  # a bad weight is refused before anything is re-measured
    finalists = _side_by_side(store, {(mid, wid, n) for (wid, n), group in shared.items() for mid in group}, usable)
    if remeasure:
        finalists.update(_remeasure(store, shared, remeasure_configs, remeasure_rounds))
    rows: list[InstanceRow] = []
    for (workload_id, n_sims), group in sorted(shared.items()):
        rows.extend(_workload_rows(workload_id, n_sims, group, hourly, names, labels, finalists, confidence,
                                   priced=prices is not None))
    summary = _summary(rows, mix, names, machine_ids, priced=prices is not None)
    return InstanceComparison(rows=tuple(rows), machines=tuple(machine_ids), summary=summary,
                              weights=tuple((labels.workload_name(w) + (f" n={n:,}" if _repeated(mix, w) else ""),
                                             weight) for (w, n), weight in mix.items()),
                              priced=prices is not None, confidence=float(confidence))


def check_prices(prices: Mapping[str, float] | None) -> dict[str, float] | None:
    """Validate a price table given in code (``None`` passes)."""
    if prices is None:
        return None
    if not isinstance(prices, Mapping):
        raise ValueError(f"prices must be a mapping {{instance_type: usd_per_hour}} or None, got "
                         f"{type(prices).__name__}")
    checked = {}
    for name, price in prices.items():
        if isinstance(price, bool) or not isinstance(price, int | float) or not math.isfinite(price) or price < 0:
            raise ValueError(f"prices[{name!r}] must be a non-negative number of US dollars per hour, got {price!r}")
        checked[str(name)] = float(price)
    return checked


def _price(machine: MachineRow | None, machine_id: str, prices: dict[str, float] | None) -> float | None:
    if prices is None:
        return None
    instance_type = machine.instance_type if machine is not None else None
    key = instance_type if instance_type is not None else machine_id
    if key in prices:
        return prices[key]
    what = f"instance type {instance_type!r}" if instance_type is not None else "no instance type"
    _logger.warning("machine %s (%s) has no price in the price table: its cost is left empty", machine_id, what)
    return None


_Samples = dict[tuple[str, str, int], tuple[str, tuple[float, ...], str]]
"""``{(machine, workload, n_sims): (config id, samples, evidence)}``."""


def _side_by_side(store: Storage, wanted: set[tuple[str, str, int]], measurements: Sequence[Measurement]) -> _Samples:
    """``{(machine, workload, n_sims): (config id, samples)}`` of the chosen config in the final side-by-side
    re-measurement of the latest complete fixed-size tuning session, where it is stored."""
    query = (select(TuningSessionModel.id, TuningSessionModel.machine_id, TuningSessionModel.workload_id,
                    TuningSessionModel.n_sims, TuningSessionModel.report)
             .where(TuningSessionModel.status == "complete",
                    TuningSessionModel.sampler.is_(None) | (TuningSessionModel.sampler != TARGET_SAMPLER))
             .order_by(TuningSessionModel.id))
    with store.session(read_only=True) as session:
        latest = {}
        for sid, mid, wid, n, report in session.execute(query):
            if (mid, wid, n) in wanted:
                latest[(mid, wid, n)] = (sid, report)
    by_session: dict[int, list[Measurement]] = {}
    for m in measurements:
        if m.session_id is not None:
            by_session.setdefault(m.session_id, []).append(m)
    found = {}
    for key, (sid, report) in latest.items():
        try:
            best = config_id(dict(report["best_config"]))
            medians = {config_id(dict(knobs)): float(t) for knobs, t in report["finalists"]}
        except (KeyError, TypeError, ValueError):  # no finalists stored (an older or a foreign report)
            continue
        rows = [m for m in by_session.get(sid, ()) if m.config_id == best and m.steady_s == medians.get(best)]
        if rows and len(rows[-1].samples) >= 1:
            found[key] = (best, tuple(float(t) for t in rows[-1].samples), "side-by-side")
    return found


def _remeasure(store: Storage, shared: Mapping[tuple[str, int], Mapping[str, list[Measurement]]],
               n_configs: int, rounds: int) -> _Samples:
    """This machine's best stored configs of each shared workload, re-measured side by side now and stored."""
    machine = machine_fingerprint()
    log = ResultsLog(store, machine)
    found: _Samples = {}
    for (workload_id, n_sims), group in sorted(shared.items()):
        mine = group.get(machine.machine_id)
        row = store.workload(workload_id) if mine else None
        if not mine or row is None:
            continue
        try:
            workload = workload_from_spec(dict(row.spec))
        except ValueError as exc:  # a spec of another version: keep the stored samples
            _logger.warning("cannot rebuild workload %s to re-measure it (%s): its stored samples are used",
                            workload_id, exc)
            continue
        features = workload_features(workload, n_sims)
        if features.key != workload_id:
            _logger.warning("workload %s rebuilds with key %s: not re-measured", workload_id, features.key)
            continue
        pooled: dict[str, list[float]] = {}
        configs = {}
        for m in mine:
            pooled.setdefault(m.config_id, []).extend(_clean(m.samples) or [float(m.steady_s)])  # type: ignore[arg-type]
            configs[m.config_id] = m.config
        best = sorted(pooled, key=lambda c: (statistics.median(pooled[c]), c))[:n_configs]
        _logger.info("re-measuring %d config(s) of %s n=%d side by side, %d rounds", len(best), workload_id, n_sims,
                     rounds)
        samples = compare_configs(workload, n_sims, [configs[c] for c in best], rounds=rounds)
        samples = {c: s for c, s in samples.items() if _clean(s)}
        if not samples:
            continue
        log.write(features, [Measurement(config=c, outcome=Outcome.COMPLETE, n_sims=n_sims,
                                         steady_s=float(statistics.median(s)), samples=tuple(s))
                             for c, s in samples.items()], source=Source.BENCHMARK)
        winner = min(samples, key=lambda c: statistics.median(samples[c]))
        found[(machine.machine_id, workload_id, n_sims)] = (config_id(winner.to_dict()), tuple(samples[winner]),
                                                            "re-measured")
    return found


def _clean(samples: Iterable[float]) -> list[float]:
    return [float(t) for t in samples if math.isfinite(t) and t > 0]


def _workload_rows(workload_id: str, n_sims: int, group: Mapping[str, list[Measurement]],
                   hourly: Mapping[str, float | None], names: Mapping[str, str], labels: Labels,
                   finalists: _Samples, confidence: float,
                   *, priced: bool) -> list[InstanceRow]:
    figures = []
    for machine_id, ms in group.items():
        side = finalists.get((machine_id, workload_id, n_sims))
        samples = _clean(side[1]) if side is not None else []
        if side is not None and samples:
            cid, evidence = side[0], side[2]
        else:
            pooled: dict[str, list[float]] = {}
            for m in ms:
                # steady_s is finite and positive here: the row's figure when its samples are not
                pooled.setdefault(m.config_id, []).extend(_clean(m.samples) or [float(m.steady_s)])  # type: ignore[arg-type]
            cid = min(pooled, key=lambda c: (statistics.median(pooled[c]), c))
            samples, evidence = pooled[cid], "search"
        median = float(statistics.median(samples))
        interval = median_interval(samples, confidence)
        low, high, coverage = interval if interval is not None else (None, None, None)
        price = hourly[machine_id]
        per_1k = None if price is None else price / 3600.0 * 1000.0  # $ per 1,000 runs for each second of a run
        figures.append(dict(
            machine_id=machine_id, label=names[machine_id], workload_id=workload_id,
            workload=labels.workload_name(workload_id), n_sims=n_sims, best_config=labels.config(cid),
            evidence=evidence, n_samples=len(samples), seconds=median, seconds_low=low, seconds_high=high,
            coverage=coverage, s_per_million=median / n_sims * 1e6, usd_per_hour=price,
            usd_per_1k_runs=None if per_1k is None else median * per_1k,
            usd_per_1k_runs_low=None if per_1k is None or low is None else low * per_1k,
            usd_per_1k_runs_high=None if per_1k is None or high is None else high * per_1k,
            usd_per_million=None if price is None else median / n_sims * 1e6 / 3600.0 * price,
            note="" if interval is not None else "no repeats: not ranked"))
    fast, tied = _rank([(f["machine_id"], f["seconds"], f["seconds_low"], f["seconds_high"]) for f in figures])
    cheap, tied_cost = _rank([(f["machine_id"], f["usd_per_1k_runs"], f["usd_per_1k_runs_low"],
                               f["usd_per_1k_runs_high"]) for f in figures if f["usd_per_1k_runs"] is not None])
    rows = [InstanceRow(**f, fastest=f["machine_id"] in fast, tied_fastest=f["machine_id"] in tied,
                        cheapest=(f["machine_id"] in cheap) if priced else None,
                        tied_cheapest=(f["machine_id"] in tied_cost) if priced else None)
            for f in figures]
    return sorted(rows, key=lambda r: (r.seconds, r.label))


def _rank(entries: Sequence[tuple[str, float, float | None, float | None]]) -> tuple[set[str], set[str]]:
    """``(decisively best, tied for best)`` by median, lower is better.

    The leader is the lowest median among entries with an interval; the entries whose intervals
    overlap its interval are tied with it. It is decisively best only when nothing overlaps it and
    every entry has an interval (an entry without repeats could be anywhere).
    """
    ranked = [e for e in entries if e[2] is not None and e[3] is not None]
    if not ranked:
        return set(), set()
    leader = min(ranked, key=lambda e: (e[1], e[0]))
    tied = {e[0] for e in ranked if e[2] <= leader[3] and leader[2] <= e[3]}  # type: ignore[operator]
    if len(tied) > 1:
        return set(), tied
    return ({leader[0]} if len(ranked) == len(entries) else set()), set()


def _mix(pairs: Sequence[tuple[str, int]], weights: Mapping[str, float] | None,
         labels: Labels) -> dict[tuple[str, int], float]:
    """``{(workload, n_sims): weight}`` over the compared ``pairs``: equal weights, or ``weights`` by display
    name or key, split evenly over the sizes a workload was compared at."""
    if weights is None:
        return {pair: 1.0 for pair in pairs}
    known = {wid: {wid, *labels.all_names(wid)} for wid, _ in pairs}
    mix: dict[tuple[str, int], float] = {}
    for name, weight in weights.items():
        matched = [pair for pair in pairs if name in known[pair[0]]]
        if not matched:
            shown = sorted({labels.workload_name(wid) for wid, _ in pairs})
            raise ValueError(f"weights: no compared workload named {name!r}; known: {', '.join(shown)}")
        for pair in matched:
            mix[pair] = mix.get(pair, 0.0) + weight / len(matched)
    return mix


def _repeated(mix: Mapping[tuple[str, int], float], workload_id: str) -> bool:
    return sum(1 for wid, _ in mix if wid == workload_id) > 1


def _geomean(values: Sequence[float | None], weights: Sequence[float]) -> float | None:
    if any(v is None or v <= 0 for v in values):
        return None
    return math.exp(sum(w * math.log(v) for v, w in zip(values, weights, strict=True)) / sum(weights))  # type: ignore[arg-type]


def _summary(rows: Sequence[InstanceRow], mix: Mapping[tuple[str, int], float], names: Mapping[str, str],
             machine_ids: Sequence[str], *, priced: bool) -> tuple[InstanceSummary, ...]:
    by_key = {(r.machine_id, r.workload_id, r.n_sims): r for r in rows}
    figures = []
    for mid in machine_ids:
        mine = [(by_key.get((mid, *pair)), w) for pair, w in mix.items()]
        have = [(r, w) for r, w in mine if r is not None]
        full = len(have) == len(mine)
        w = [weight for _, weight in have]

        def mean(field: str, have: list = have, w: list = w, full: bool = full) -> float | None:
            return _geomean([getattr(r, field) for r, _ in have], w) if full and have else None

        figures.append(dict(machine_id=mid, label=names[mid], workloads=len(have), seconds=mean("seconds"),
                            seconds_low=mean("seconds_low"), seconds_high=mean("seconds_high"),
                            usd_per_1k_runs=mean("usd_per_1k_runs"), usd_per_1k_runs_low=mean("usd_per_1k_runs_low"),
                            usd_per_1k_runs_high=mean("usd_per_1k_runs_high")))
    complete = [f for f in figures if f["seconds"] is not None]
    fast, tied = _rank([(f["machine_id"], f["seconds"], f["seconds_low"], f["seconds_high"]) for f in complete])
    cheap, tied_cost = _rank([(f["machine_id"], f["usd_per_1k_runs"], f["usd_per_1k_runs_low"],
                               f["usd_per_1k_runs_high"]) for f in complete if f["usd_per_1k_runs"] is not None])
    return tuple(InstanceSummary(**f, fastest=f["machine_id"] in fast, tied_fastest=f["machine_id"] in tied,
                                 cheapest=(f["machine_id"] in cheap) if priced else None,
                                 tied_cheapest=(f["machine_id"] in tied_cost) if priced else None)
                 for f in figures)


class Labels:
    """Human-readable labels of stored machines, configs and workloads, each read once."""

    def __init__(self, store: Storage) -> None:
        self._store = store
        self._machines: dict[str, MachineRow | None] = {}
        self._configs: dict[str, str] = {}
        self._names: dict[str, tuple[str, ...]] | None = None

    def machine_row(self, machine_id: str) -> MachineRow | None:
        if machine_id not in self._machines:
            self._machines[machine_id] = self._store.machine(machine_id)
        return self._machines[machine_id]

    def machine(self, machine_id: str) -> str:
        """The instance type, else ``"<provider>: <cpu model> (<n> cores)"`` (provider ``local`` when unknown)."""
        row = self.machine_row(machine_id)
        if row is None:
            return machine_id
        if row.instance_type:
            return row.instance_type
        provider = row.provider if row.provider and row.provider != "unknown" else "local"
        cores = "" if row.usable_cores is None else f" ({row.usable_cores} core{'' if row.usable_cores == 1 else 's'})"
        return f"{provider}: {row.cpu_model or machine_id}{cores}"

    def machines(self, machine_ids: Iterable[str]) -> dict[str, str]:
        """:meth:`machine` labels of several machines, made distinct by their ids where two are the same."""
        names = {mid: self.machine(mid) for mid in machine_ids}
        seen = Counter(names.values())
        return {mid: name if seen[name] == 1 else f"{name} [{mid[:8]}]" for mid, name in names.items()}

    def config(self, config_id: str) -> str:
        """The :meth:`~kernels.Config.label`, or the id when the config cannot be rebuilt here."""
        if config_id not in self._configs:
            knobs = self._store.config(config_id)
            try:
                label = Config.from_dict(dict(knobs)).label() if knobs is not None else config_id
            except (ValueError, TypeError):  # e.g. a backend not registered in this process
                label = f"{knobs.get('backend', '?') if knobs else '?'} config {config_id[:8]}"
            self._configs[config_id] = label
        return self._configs[config_id]

    def all_names(self, workload_id: str) -> tuple[str, ...]:
        """Every display name of a workload, latest first (read once for all workloads)."""
        if self._names is None:
            self._names = self._store.workload_names()
        return self._names.get(workload_id, ())

    def workload_name(self, workload_id: str) -> str:
        """The workload's latest display name, else its kind and 6 digits of the key's hash."""
        names = self.all_names(workload_id)
        if names:
            return names[0]
        kind, _, digest = workload_id.partition("-")
        return f"{kind}-{digest[:6]}" if digest else workload_id

    def workload(self, workload_id: str, n_sims: int) -> str:
        """A short label: :meth:`workload_name` and the simulation count."""
        return f"{self.workload_name(workload_id)} n={n_sims:,}"
