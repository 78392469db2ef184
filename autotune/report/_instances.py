"""Instance comparison: the same workloads on different machines, in time and in money per simulation."""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernels import Config

from .._outcome import Outcome
from ..measure import Measurement
from ..storage import MachineRow, Storage

__all__ = ["InstanceComparison", "InstanceRow", "compare_instances", "load_prices"]

_logger = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class InstanceRow:
    """The fastest measured config of one machine on one workload, with its time and cost.

    Attributes:
        label: the instance type when known, else ``"<provider>: <cpu model> (<n> cores)"``.
        best_config: the :meth:`~kernels.Config.label` of the fastest COMPLETE measurement.
        seconds: its median time.
        s_per_million: seconds per million simulations.
        usd_per_hour: the machine's price (``None``: not in the price table).
        usd_per_million: US dollars per million simulations (``None`` without a price).
        cheapest: lowest ``usd_per_million`` among the machines on this workload (lowest
            ``s_per_million`` when none of them has a price).
        fastest: lowest ``seconds`` among the machines on this workload.
    """

    machine_id: str
    label: str
    workload_id: str
    n_sims: int
    best_config: str
    seconds: float
    s_per_million: float
    usd_per_hour: float | None
    usd_per_million: float | None
    cheapest: bool
    fastest: bool


@dataclass(frozen=True)
class InstanceComparison:
    """Result of :func:`compare_instances`: one row per (machine, workload, n_sims) compared.

    Attributes:
        rows: ordered by workload, then by time.
        machines: ids of the machines compared, ordered by label.
    """

    rows: tuple[InstanceRow, ...]
    machines: tuple[str, ...]

    @property
    def priced(self) -> bool:
        """Whether any row has a price."""
        return any(r.usd_per_million is not None for r in self.rows)

    def workloads(self) -> list[tuple[str, int]]:
        """The compared (workload_id, n_sims) pairs, in row order."""
        return list(dict.fromkeys((r.workload_id, r.n_sims) for r in self.rows))

    def table(self) -> str:
        """A plain-text table, one block per workload."""
        width = max(len(r.label) for r in self.rows)
        cfg = max(len(r.best_config) for r in self.rows)
        head = (f"  {'machine':<{width}}  {'best config':<{cfg}}  {'seconds':>10}  {'s/1M sims':>10}  "
                f"{'$/hour':>8}  {'$/1M sims':>10}  notes")
        lines: list[str] = []
        for workload_id, n_sims in self.workloads():
            lines += ["", f"{workload_id}  (n_sims={n_sims:,})", head, "  " + "-" * (len(head) - 2)]
            for r in self.rows:
                if (r.workload_id, r.n_sims) != (workload_id, n_sims):
                    continue
                notes = ", ".join(n for n, flag in (("fastest", r.fastest), ("cheapest", r.cheapest)) if flag)
                lines.append(f"  {r.label:<{width}}  {r.best_config:<{cfg}}  {r.seconds:>10.4g}  "
                             f"{r.s_per_million:>10.4g}  {_money(r.usd_per_hour, 8)}  "
                             f"{_money(r.usd_per_million, 10)}  {notes}".rstrip())
        return "\n".join(lines[1:])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict: the machines and every row."""
        return {"machines": list(self.machines), "priced": self.priced,
                "rows": [dataclasses.asdict(r) for r in self.rows]}

    def to_csv(self) -> str:
        """The rows as CSV text with a header (empty fields where there is no price)."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        names = [f.name for f in dataclasses.fields(InstanceRow)]
        writer.writerow(names)
        for r in self.rows:
            writer.writerow(["" if getattr(r, n) is None else getattr(r, n) for n in names])
        return buffer.getvalue()


def _money(value: float | None, width: int) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}.4g}"


def compare_instances(store: Storage, prices: Mapping[str, float] | None = None, *,
                      measurements: Iterable[Measurement] | None = None) -> InstanceComparison:
    """Compare the machines in ``store`` on the workloads they were all measured on.

    For each (workload, n_sims) measured COMPLETE on at least two machines, each machine's fastest
    measured config is compared by time per million simulations and, with ``prices``
    (``{instance_type: usd_per_hour}``, e.g. from :func:`load_prices`), by cost per million
    simulations. A machine's price is looked up by its instance type, or by its machine id when the
    instance type is unknown; a machine with no price gets ``None`` costs (and a warning).
    ``measurements``: the store's COMPLETE measurements when the caller has already read them
    (the report does), so that they are not read again.

    Raises:
        ValueError: ``store`` is not a Storage, ``prices`` is not a mapping of non-negative prices, or
            no workload was measured on two machines.
    """
    if not isinstance(store, Storage):
        raise ValueError(f"store must be an autotune Storage (open_storage(url)), got {type(store).__name__}")
    prices = check_prices(prices)
    best: dict[tuple[str, int], dict[str, Measurement]] = {}
    if measurements is None:
        measurements = store.measurements(outcome=Outcome.COMPLETE)
    for m in measurements:
        if not m.ok or m.legacy_timing or m.steady_s is None or not math.isfinite(m.steady_s) or m.steady_s <= 0:
            continue
        group = best.setdefault((m.workload_id, m.n_sims), {})
        current = group.get(m.machine_id)
        if current is None or (m.steady_s, m.created_at) < (current.steady_s, current.created_at):
            group[m.machine_id] = m
    shared = {key: group for key, group in best.items() if len(group) >= 2}
    if not shared:
        n_machines = len({mid for group in best.values() for mid in group})
        raise ValueError(
            "instances needs measurements of the same workload on at least 2 machines; "
            f"{store!r} has COMPLETE measurements of {len(best)} workload(s) on {n_machines} machine(s), and no "
            "workload was measured on two of them: tune the same workload on each machine (same n_sims)"
        )
    labels = Labels(store)
    names = labels.machines({mid for group in shared.values() for mid in group})
    machine_ids = sorted(names, key=lambda i: (names[i], i))
    hourly = {mid: _price(labels.machine_row(mid), mid, prices) for mid in machine_ids}
    rows: list[InstanceRow] = []
    for (workload_id, n_sims), group in sorted(shared.items()):
        rows.extend(_workload_rows(workload_id, n_sims, group, hourly, names, labels))
    return InstanceComparison(rows=tuple(rows), machines=tuple(machine_ids))


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


def _workload_rows(workload_id: str, n_sims: int, group: Mapping[str, Measurement],
                   hourly: Mapping[str, float | None], names: Mapping[str, str],
                   labels: Labels) -> list[InstanceRow]:
    values = []
    for machine_id, m in group.items():
        seconds = float(m.steady_s)  # type: ignore[arg-type]  # filtered: finite and positive
        per_million = seconds / n_sims * 1e6
        price = hourly[machine_id]
        usd = None if price is None else per_million / 3600.0 * price
        values.append((machine_id, m.config_id, seconds, per_million, price, usd))
    fastest = min(v[2] for v in values)
    priced = [v[5] for v in values if v[5] is not None]
    # Cheapest by money when any machine has a price; machines without one cannot be cheapest then.
    cheapest = min(priced) if priced else min(v[3] for v in values)
    rows = [
        InstanceRow(machine_id=mid, label=names[mid], workload_id=workload_id, n_sims=n_sims,
                    best_config=labels.config(cid), seconds=seconds, s_per_million=per_million, usd_per_hour=price,
                    usd_per_million=usd, cheapest=(usd == cheapest) if priced else per_million == cheapest,
                    fastest=seconds == fastest)
        for mid, cid, seconds, per_million, price, usd in values
    ]
    return sorted(rows, key=lambda r: (r.seconds, r.label))


class Labels:
    """Human-readable labels of stored machines, configs and workloads, each read once."""

    def __init__(self, store: Storage) -> None:
        self._store = store
        self._machines: dict[str, MachineRow | None] = {}
        self._configs: dict[str, str] = {}

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

    @staticmethod
    def workload(workload_id: str, n_sims: int) -> str:
        """A short label: the kind, 6 digits of the key's hash and the simulation count."""
        kind, _, digest = workload_id.partition("-")
        short = f"{kind}-{digest[:6]}" if digest else workload_id
        return f"{short} n={n_sims:,}"
