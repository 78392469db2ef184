"""Baselines the model is evaluated against: they pick a config for a held-out (machine, workload) group.

Each baseline learns from the training folds' groups (their machine ⊕ workload features and the
measured time of each config) and returns, for a test group, a preference order of config ids;
the evaluation takes the first one that was measured in the test group.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.ensemble import RandomForestClassifier

__all__ = ["Group", "best_static", "classifier_order", "nearest_neighbour_order"]


@dataclass(frozen=True, eq=False)
class Group:
    """One (machine, workload, n_sims) group: its context features and each measured config's time."""

    machine_id: str
    workload_id: str
    n_sims: int
    context: np.ndarray
    times: dict[str, float]

    @property
    def best(self) -> str:
        return min(self.times, key=lambda c: (self.times[c], c))


def best_static(groups: Sequence[Group]) -> list[str]:
    """Config ids by geometric-mean normalised time (t / t_best of the group) over the groups that measured them.

    A config measured in fewer than half as many groups as the most-measured one ranks after
    every config that was: one lucky measurement should not make a config "best everywhere".
    """
    logs: dict[str, list[float]] = {}
    for g in groups:
        best = min(g.times.values())
        for cid, t in g.times.items():
            logs.setdefault(cid, []).append(float(np.log(t / best)))
    if not logs:
        return []
    most = max(len(v) for v in logs.values())
    return sorted(logs, key=lambda c: (len(logs[c]) < 0.5 * most, float(np.mean(logs[c])), c))


class _Context:
    """Standardised (machine ⊕ workload) features of the training groups; NaN becomes the mean."""

    def __init__(self, groups: Sequence[Group]) -> None:
        X = np.vstack([g.context for g in groups])
        with np.errstate(all="ignore"):
            self.mean = np.where(np.isnan(X).all(axis=0), 0.0, np.nanmean(X, axis=0))
            X = np.where(np.isnan(X), self.mean, X)
            std = X.std(axis=0)
        self.scale = np.where(std > 0, std, 1.0)
        self.train = (X - self.mean) / self.scale

    def transform(self, context: np.ndarray) -> np.ndarray:
        return (np.where(np.isnan(context), self.mean, context) - self.mean) / self.scale


def nearest_neighbour_order(train: Sequence[Group], test: Sequence[Group]) -> list[list[str]]:
    """For each test group, the best configs of the training groups, nearest (Euclidean, standardised) first."""
    context = _Context(train)
    best = [g.best for g in train]
    orders = []
    for g in test:
        dist = np.linalg.norm(context.train - context.transform(g.context), axis=1)
        orders.append([best[i] for i in np.argsort(dist, kind="stable")])
    return orders


def classifier_order(train: Sequence[Group], test: Sequence[Group], *, n_estimators: int = 100,
                     random_state: int | None = 0) -> list[list[str]]:
    """For each test group, config ids by the probability that a classifier gives them of being the best.

    The classifier (a random forest, as in Nitro) maps machine ⊕ workload features straight to the
    id of the best config, without modelling times.
    """
    context = _Context(train)
    labels = np.array([g.best for g in train])
    classes = np.unique(labels)
    if classes.size == 1:
        return [[str(classes[0])] for _ in test]
    clf = RandomForestClassifier(n_estimators=n_estimators, random_state=random_state)
    with warnings.catch_warnings():  # few groups, many distinct best configs: expected here, not a mistake
        warnings.filterwarnings("ignore", message="The number of unique classes", category=UserWarning)
        clf.fit(context.train, labels)
    proba = clf.predict_proba(np.vstack([context.transform(g.context) for g in test]))
    return [[str(clf.classes_[i]) for i in np.argsort(-p, kind="stable")] for p in proba]
