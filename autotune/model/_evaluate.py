"""Grouped cross-validation of the model's config choice against simple baselines.

Whole workloads (and/or whole machines) are held out, the model is fitted on the rest, and for
each held-out (machine, workload, n_sims) group with at least two measured configs every method
picks one of the measured configs. A pick is scored by its measured time against the group's
fastest measured config (the oracle).
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.model_selection import GroupKFold

from kernels import Config

from ..storage import Storage, config_id
from ._baselines import Group, best_static, classifier_order, nearest_neighbour_order
from ._data import TrainingDataError, TrainingSet, training_set
from ._encoding import N_CONTEXT
from ._forest import ConfigTimeModel

__all__ = ["GROUP_BY", "METHODS", "EvaluationReport", "GroupOutcome", "MethodScore", "evaluate"]

_logger = logging.getLogger(__name__)

GROUP_BY = ("workload", "machine", "both")
METHODS = ("model", "default", "best_static", "nearest_neighbour", "classifier", "oracle")
"""Methods in a report: the model, the baselines (``Config()``, the single best static config,
the nearest training (machine, workload)'s best config, a best-config classifier) and the oracle."""


@dataclass(frozen=True)
class MethodScore:
    """How well one method picked configs in the held-out groups it made a pick in.

    Attributes:
        fraction_of_oracle: geometric mean of ``t_best / t_picked`` (1 is perfect).
        top1: fraction of picks that are the fastest measured config.
        top3: fraction of picks among the 3 fastest measured configs.
        worst: the smallest ``t_best / t_picked``.
        speedup_over_default: geometric mean of ``t_default / t_picked``, over the groups where
            ``Config()`` was measured (NaN if none).
        speedup_over_static: geometric mean of ``t_static / t_picked``, ``t_static`` being the time of
            the best static config's pick in the same group.
        coverage: fraction of held-out groups the method made a pick in.
        n_groups: how many groups that is.
    """

    name: str
    fraction_of_oracle: float
    top1: float
    top3: float
    worst: float
    speedup_over_default: float
    coverage: float
    n_groups: int
    speedup_over_static: float = math.nan


@dataclass(frozen=True)
class GroupOutcome:
    """One held-out group: its fastest measured config, each method's pick (``None``: no pick) and
    ``times``, the median measured time of each of its configs (by config id)."""

    machine_id: str
    workload_id: str
    n_sims: int
    fold: int
    n_configs: int
    best_config_id: str
    best_s: float
    picks: Mapping[str, str | None] = field(hash=False)
    times: Mapping[str, float] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class EvaluationReport:
    """Result of :func:`evaluate`."""

    group_by: str
    n_folds: int
    n_rows: int
    n_groups: int
    methods: tuple[MethodScore, ...]
    groups: tuple[GroupOutcome, ...] = field(repr=False)
    params: Mapping[str, Any] = field(default_factory=dict, hash=False)

    def method(self, name: str) -> MethodScore:
        """The score of method ``name`` (one of :data:`METHODS`)."""
        for score in self.methods:
            if score.name == name:
                return score
        raise KeyError(f"no method {name!r} in the report; methods are {[m.name for m in self.methods]}")

    def table(self) -> str:
        """A plain-text table, one line per method."""
        head = f"{'method':<18} {'frac_oracle':>11} {'top1':>6} {'top3':>6} {'worst':>6} {'vs_default':>10} " \
               f"{'vs_static':>9} {'coverage':>8}"
        lines = [f"grouped CV by {self.group_by}: {self.n_folds} folds, {self.n_groups} held-out groups, "
                 f"{self.n_rows} rows", head, "-" * len(head)]
        for m in self.methods:
            lines.append(f"{m.name:<18} {m.fraction_of_oracle:>11.3f} {m.top1:>6.2f} {m.top3:>6.2f} {m.worst:>6.3f} "
                         f"{m.speedup_over_default:>9.2f}x {m.speedup_over_static:>8.2f}x {m.coverage:>8.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The scores as a JSON-safe dict (per-group outcomes left out)."""
        methods = {m.name: {k: v for k, v in dataclasses.asdict(m).items() if k != "name"} for m in self.methods}
        return {"group_by": self.group_by, "n_folds": self.n_folds, "n_rows": self.n_rows, "n_groups": self.n_groups,
                "params": dict(self.params), "methods": methods}


def evaluate(data: Storage | TrainingSet, *, group_by: str = "workload", n_splits: int = 5,
             machine_id: str | None = None, holdout_workloads: Sequence[str] | None = None,
             **params: Any) -> EvaluationReport:
    """Cross-validate the model's config choice, holding out whole workloads and/or machines.

    Args:
        data: a results database (every COMPLETE measurement is used) or a :class:`TrainingSet`.
        group_by: ``"workload"`` holds out whole workloads (on every machine); ``"machine"`` whole
            machines; ``"both"`` holds out (machine, workload) pairs where neither the machine nor
            the workload is in the training folds (``n_splits``² fits at most; with a single machine
            it falls back to ``"workload"``).
        n_splits: folds per grouping (fewer when there are fewer groups).
        machine_id: with a database, use only this machine's measurements.
        holdout_workloads: instead of cross-validation, one split: train on every other workload
            and score the choice for these workload keys (on every machine).
        params: :class:`ConfigTimeModel` parameters (``n_estimators`` also sizes the classifier baseline).

    Raises:
        TrainingDataError: too little data (no measurements, fewer than 2 workloads/machines to hold
            out, or no held-out group with 2 measured configs).
        ValueError: a bad ``group_by`` or ``n_splits``.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"group_by must be one of {GROUP_BY}, got {group_by!r}")
    if isinstance(n_splits, bool) or not isinstance(n_splits, int) or n_splits < 2:
        raise ValueError(f"n_splits must be an int >= 2, got {n_splits!r}")
    ConfigTimeModel(**params)  # unknown parameters fail here, before any work
    if isinstance(data, Storage):
        data = training_set(data, machine_id=machine_id)
    elif not isinstance(data, TrainingSet):
        raise ValueError(f"data must be a Storage or a TrainingSet, got {type(data).__name__}")
    if group_by == "both" and len(set(data.machine_ids.tolist())) < 2:
        _logger.warning("evaluate(group_by='both'): the data has one machine; holding out workloads only")
        group_by = "workload"

    default_id = config_id(Config().to_dict())
    outcomes: list[GroupOutcome] = []
    n_folds = 0
    if holdout_workloads is not None:
        test = np.isin(data.workload_ids, list(holdout_workloads))
        if not test.any() or test.all():
            raise TrainingDataError("holdout_workloads must name some, but not all, of the measured workloads")
        folds: Iterator[tuple[np.ndarray, np.ndarray]] = iter([(np.flatnonzero(~test), np.flatnonzero(test))])
        group_by = "holdout"
    else:
        folds = _folds(data, group_by, n_splits)
    for fold, (train_rows, test_rows) in enumerate(folds):
        n_folds += 1
        outcomes.extend(_evaluate_fold(data, train_rows, test_rows, fold, default_id, params))
    if not outcomes:
        raise TrainingDataError("no held-out (machine, workload) group has at least 2 measured configs: "
                                "measure more configs per workload to evaluate the choice")
    methods = tuple(_score(name, outcomes, default_id) for name in METHODS)
    _logger.info("evaluated %d held-out groups in %d folds", len(outcomes), n_folds)
    return EvaluationReport(group_by=group_by, n_folds=n_folds, n_rows=len(data), n_groups=len(outcomes),
                            methods=methods, groups=tuple(outcomes), params=dict(params))


def _folds(data: TrainingSet, group_by: str, n_splits: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    def split(labels: np.ndarray, what: str) -> list[np.ndarray]:
        unique = np.unique(labels)
        if unique.size < 2:
            raise TrainingDataError(f"holding out whole {what}s needs at least 2 {what}s, the data has {unique.size}")
        k = min(n_splits, unique.size)
        folds = GroupKFold(n_splits=k).split(np.zeros((labels.size, 1)), groups=labels)
        return [test for _, test in folds]

    if group_by == "workload":
        tests = split(data.workload_ids, "workload")
    elif group_by == "machine":
        tests = split(data.machine_ids, "machine")
    else:
        machine_tests = split(data.machine_ids, "machine")
        workload_tests = split(data.workload_ids, "workload")
        all_rows = np.arange(len(data))
        for m_test, w_test in itertools.product(machine_tests, workload_tests):
            in_m = np.isin(data.machine_ids, np.unique(data.machine_ids[m_test]))
            in_w = np.isin(data.workload_ids, np.unique(data.workload_ids[w_test]))
            test, train = all_rows[in_m & in_w], all_rows[~in_m & ~in_w]
            if test.size and train.size >= 2:
                yield train, test
        return
    for test in tests:
        yield np.setdiff1d(np.arange(len(data)), test), test


def _groups(data: TrainingSet, rows: np.ndarray, values: np.ndarray | None = None) -> list[Group]:
    """The (machine, workload, n_sims) groups of ``rows``; times are the median over repeated measurements
    (``values``, default the measured times) of each config."""
    values = np.exp(data.y_log_time) if values is None else values
    found: dict[tuple[str, str, int], tuple[int, dict[str, list[float]]]] = {}
    for i in rows.tolist():
        key = (str(data.machine_ids[i]), str(data.workload_ids[i]), int(data.n_sims[i]))
        entry = found.setdefault(key, (i, {}))
        entry[1].setdefault(str(data.config_ids[i]), []).append(float(values[i]))
    return [Group(m, w, n, data.X[first, :N_CONTEXT], {c: float(np.median(t)) for c, t in ts.items()})
            for (m, w, n), (first, ts) in found.items()]


def _first_measured(order: Sequence[str], times: Mapping[str, float]) -> str | None:
    return next((c for c in order if c in times), None)


def _evaluate_fold(data: TrainingSet, train_rows: np.ndarray, test_rows: np.ndarray, fold: int, default_id: str,
                   params: Mapping[str, Any]) -> list[GroupOutcome]:
    test_groups = [g for g in _groups(data, test_rows) if len(g.times) >= 2]
    if not test_groups:
        return []
    train = data.subset(train_rows)
    # Steady-state choice only: no compile-time forest is needed here.
    model = ConfigTimeModel(**params).fit(train.X, train.y_log_time)
    predicted = model.predict(data.X[test_rows])
    pred_times = np.full(len(data), np.nan)
    pred_times[test_rows] = predicted  # log times; the median over repeats of a config is its prediction
    predicted_groups = {(g.machine_id, g.workload_id, g.n_sims): g for g in _groups(data, test_rows, pred_times)}

    train_groups = [g for g in _groups(data, train_rows) if len(g.times) >= 2] or _groups(data, train_rows)
    static = best_static(train_groups)
    neighbours = nearest_neighbour_order(train_groups, test_groups)
    classified = classifier_order(train_groups, test_groups, n_estimators=int(params.get("n_estimators", 100)),
                                  random_state=params.get("random_state", 0))
    outcomes = []
    for g, nn, clf in zip(test_groups, neighbours, classified, strict=True):
        pred = predicted_groups[(g.machine_id, g.workload_id, g.n_sims)].times
        picks = {
            "model": min(g.times, key=lambda c: (pred[c], c)),
            "default": default_id if default_id in g.times else None,
            "best_static": _first_measured(static, g.times),
            "nearest_neighbour": _first_measured(nn, g.times),
            "classifier": _first_measured(clf, g.times),
            "oracle": g.best,
        }
        outcomes.append(GroupOutcome(machine_id=g.machine_id, workload_id=g.workload_id, n_sims=g.n_sims, fold=fold,
                                     n_configs=len(g.times), best_config_id=g.best, best_s=g.times[g.best],
                                     picks=picks, times=g.times))
    return outcomes


def _geomean(values: list[float]) -> float:
    return float(np.exp(np.mean(np.log(values)))) if values else math.nan


def _score(name: str, outcomes: Sequence[GroupOutcome], default_id: str) -> MethodScore:
    ratios, top1, top3, speedups, over_static = [], [], [], [], []
    for o in outcomes:
        pick = o.picks[name]
        if pick is None:
            continue
        t = o.times
        t_pick = t[pick]
        ratios.append(o.best_s / t_pick)
        faster = sum(1 for v in t.values() if v < t_pick)
        top1.append(faster == 0)
        top3.append(faster < 3)
        if default_id in t:
            speedups.append(t[default_id] / t_pick)
        static = o.picks.get("best_static")
        if static is not None:
            over_static.append(t[static] / t_pick)
    n = len(ratios)
    return MethodScore(
        name=name, fraction_of_oracle=_geomean(ratios), top1=float(np.mean(top1)) if n else math.nan,
        top3=float(np.mean(top3)) if n else math.nan, worst=min(ratios) if n else math.nan,
        speedup_over_default=_geomean(speedups), coverage=n / len(outcomes), n_groups=n,
        speedup_over_static=_geomean(over_static),
    )
