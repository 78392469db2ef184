"""A random forest as flat numpy arrays, predicted by traversing every tree for every row at once.

scikit-learn's ``RandomForestRegressor.predict`` pays Python and joblib overhead per tree (tens of
milliseconds for 100 trees, whatever the number of rows); the tuner predicts a few hundred
candidate configs per call and needs that in about a millisecond. Here all trees' nodes sit in
one set of arrays (node ids made global with per-tree offsets) and one numpy loop, as long as the
deepest tree, moves every (row, tree) pair one level down per step.

Leaves point to themselves with an infinite threshold, so a pair that reached its leaf stays
there without a branch; pairs still inside a tree are compacted every few steps so that shallow
paths stop costing work. scikit-learn rounds inputs to float32 and compares them with float64
thresholds; for a float32 ``x``, ``x <= t`` holds exactly when ``x <= t32``, ``t`` rounded down to
float32, so the loop compares in float32 (half the memory traffic) with the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["FlatForest"]

# Compact the still-moving (row, tree) pairs every this many levels.
_COMPACT_EVERY = 4


@dataclass(frozen=True, eq=False)
class FlatForest:
    """An imputer plus a forest of regression trees, as flat arrays.

    Attributes:
        statistics: ``(d,)`` fill values for NaN inputs (the fitted ``SimpleImputer.statistics_``).
        feature: ``(n_nodes,)`` feature tested at each node (0 at leaves).
        threshold: ``(n_nodes,)`` go left when ``x <= threshold`` (``+inf`` at leaves).
        left, right: ``(n_nodes,)`` global child ids (a leaf's own id at leaves).
        value: ``(n_nodes,)`` the prediction of each node (used at leaves).
        roots: ``(n_trees,)`` global id of each tree's root (its offset).
        max_depth: edges on the longest root-to-leaf path (computed, never trusted from input).
    """

    statistics: np.ndarray
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray
    max_depth: int = field(init=False)
    _children: np.ndarray = field(init=False, repr=False)
    _threshold32: np.ndarray = field(init=False, repr=False)
    _leaf: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _validate(self)
        set_ = object.__setattr__
        children = np.empty(2 * self.n_nodes, dtype=np.intp)
        children[0::2], children[1::2] = self.left, self.right
        set_(self, "_children", children)
        set_(self, "_threshold32", _round_down_to_float32(self.threshold))
        leaf = self.left == np.arange(self.n_nodes)
        set_(self, "_leaf", leaf)
        set_(self, "max_depth", _max_depth(self.roots, self.left, self.right, leaf))

    @property
    def n_features(self) -> int:
        return int(self.statistics.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.feature.shape[0])

    @property
    def n_trees(self) -> int:
        return int(self.roots.shape[0])

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> FlatForest:
        """Export a fitted ``Pipeline([("impute", SimpleImputer), ("forest", RandomForestRegressor)])``."""
        imputer, forest = pipeline.named_steps["impute"], pipeline.named_steps["forest"]
        statistics = np.asarray(imputer.statistics_, dtype=np.float64)
        if forest.n_features_in_ != statistics.shape[0]:  # pragma: no cover - keep_empty_features=True
            raise ValueError("the imputer dropped columns; fit it with keep_empty_features=True")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in ("feature", "threshold", "left", "right", "value")}
        roots, offset = [], 0
        for estimator in forest.estimators_:
            tree = estimator.tree_
            ids = np.arange(tree.node_count, dtype=np.intp)
            leaf = tree.children_left == -1
            parts["feature"].append(np.where(leaf, 0, tree.feature).astype(np.intp))
            parts["threshold"].append(np.where(leaf, np.inf, tree.threshold).astype(np.float64))
            parts["left"].append(np.where(leaf, ids, tree.children_left) + offset)
            parts["right"].append(np.where(leaf, ids, tree.children_right) + offset)
            parts["value"].append(np.asarray(tree.value, dtype=np.float64).reshape(tree.node_count, -1)[:, 0])
            roots.append(offset)
            offset += tree.node_count
        return cls(statistics=statistics, roots=np.asarray(roots, dtype=np.intp),
                   **{k: np.concatenate(v) for k, v in parts.items()})

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The arrays that :meth:`from_arrays` reads back (plain numeric dtypes, no objects)."""
        index = np.int32 if self.n_nodes < 2**31 else np.int64  # halves the stored size of most forests
        return {"statistics": self.statistics, "feature": self.feature.astype(np.int16 if self.n_features < 2**15
                                                                                else np.int32),
                "threshold": self.threshold, "left": self.left.astype(index), "right": self.right.astype(index),
                "value": self.value, "roots": self.roots.astype(index)}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> FlatForest:
        """Rebuild from :meth:`to_arrays` output, checking every index (the input may be hostile).

        Raises:
            ValueError: an array is missing, of the wrong kind, or describes no valid forest.
        """
        names = ("statistics", "feature", "threshold", "left", "right", "value", "roots")
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ValueError(f"flat forest: missing arrays {missing}")
        out: dict[str, np.ndarray] = {}
        for n in names:
            a = np.asarray(arrays[n])
            integral = n in ("feature", "left", "right", "roots")
            if a.ndim != 1 or a.dtype.kind not in ("iu" if integral else "f"):
                raise ValueError(f"flat forest: {n} must be a 1-d {'integer' if integral else 'float'} array, "
                                 f"got {a.dtype} with shape {a.shape}")
            out[n] = a.astype(np.intp if integral else np.float64)
        return cls(**out)

    def tree_predictions(self, X: np.ndarray) -> np.ndarray:
        """Every tree's prediction for every row, shape ``(n_rows, n_trees)``.

        Inputs are imputed, then rounded to float32 as scikit-learn's trees do before comparing.
        """
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features:
            raise ValueError(f"X must have shape (n_rows, {self.n_features}), got {X.shape}")
        n, d, t = X.shape[0], X.shape[1], self.n_trees
        X = np.where(np.isnan(X), self.statistics, X).astype(np.float32).ravel()
        node = np.tile(self.roots, n)
        if n == 0 or self.max_depth == 0:
            return self.value[node].reshape(n, t)
        base = np.repeat(np.arange(n, dtype=np.intp) * d, t)
        pos = None  # positions (in row-major (row, tree) order) of the pairs still moving, None: all
        final = node
        feature, threshold, children = self.feature, self._threshold32, self._children
        for level in range(1, self.max_depth + 1):
            go_right = X[base + feature[node]] > threshold[node]
            node = children[2 * node + go_right]
            if level % _COMPACT_EVERY == 0 and level < self.max_depth:
                moving = ~self._leaf[node]
                if pos is None:
                    final = node.copy()
                    pos = np.flatnonzero(moving)
                else:
                    final[pos] = node
                    pos = pos[moving]
                node, base = node[moving], base[moving]
                if node.size == 0:
                    break
        if pos is None:
            final = node
        else:
            final[pos] = node
        return self.value[final].reshape(n, t)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The forest's prediction: the mean over trees."""
        return self.tree_predictions(X).mean(axis=1)


def _validate(forest: FlatForest) -> None:
    n_nodes = forest.feature.shape[0]
    for name in ("threshold", "left", "right", "value"):
        if getattr(forest, name).shape != (n_nodes,):
            raise ValueError(f"flat forest: {name} must have one entry per node ({n_nodes})")
    if n_nodes == 0 or forest.roots.shape[0] == 0:
        raise ValueError("flat forest: no trees")
    if forest.statistics.ndim != 1 or not np.all(np.isfinite(forest.statistics)):
        raise ValueError("flat forest: imputer statistics must be a finite 1-d array")
    roots = forest.roots
    if roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= n_nodes:
        raise ValueError("flat forest: tree offsets must start at 0 and increase within the node arrays")
    ids = np.arange(n_nodes)
    leaf = forest.left == ids
    inner = ~leaf
    tree_of = np.searchsorted(roots, ids, side="right")
    for name in ("left", "right"):
        child = getattr(forest, name)[inner]
        # Children after their parent and inside the same tree: no cycles, no jumps between trees.
        if np.any(child <= ids[inner]) or np.any(child >= n_nodes) or np.any(
                np.searchsorted(roots, child, side="right") != tree_of[inner]):
            raise ValueError(f"flat forest: {name} children must follow their parent within its tree")
    if np.any(forest.right[leaf] != ids[leaf]):
        raise ValueError("flat forest: a leaf must point to itself on both sides")
    if np.any((forest.feature < 0) | (forest.feature >= forest.statistics.shape[0])):
        raise ValueError("flat forest: feature indices out of range")
    if np.any(np.isnan(forest.threshold)) or not np.all(np.isfinite(forest.value)):
        raise ValueError("flat forest: thresholds must not be NaN and values must be finite")
    if np.any(forest.threshold[leaf] != np.inf):
        raise ValueError("flat forest: leaves must have an infinite threshold")


def _round_down_to_float32(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each threshold (``+inf`` stays ``+inf``)."""
    with np.errstate(over="ignore"):
        t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _max_depth(roots: np.ndarray, left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> int:
    frontier, depth = roots[~leaf[roots]], 0
    while frontier.size:  # children follow their parents, so this ends within n_nodes levels
        depth += 1
        nxt = np.concatenate([left[frontier], right[frontier]])
        frontier = nxt[~leaf[nxt]]
    return depth
