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

__all__ = ["MAX_DEPTH", "MAX_FEATURES", "MAX_NODES", "MAX_TREES", "FlatForest"]

# Compact the still-moving (row, tree) pairs every this many levels.
_COMPACT_EVERY = 4

# Bounds on a forest read from bytes (:meth:`FlatForest.from_arrays`; ``save_model`` refuses to store
# a model beyond them). They bound the memory and time of reading a hostile payload; every trained
# forest lies far inside them (100 trees on 1,750 rows: 221k nodes, depth 24).
MAX_NODES = 2**23
"""Most nodes in one forest, all its trees together (100 trees fitted on ~60k rows; as loaded, about
60 bytes a node: 0.5 GB)."""
MAX_TREES = 4096
"""Most trees in one forest (``n_estimators`` defaults to 100)."""
MAX_DEPTH = 512
"""Most edges on a root-to-leaf path (prediction takes one step per level; fitted trees reach a few
dozen). Applies to fitted forests too."""
MAX_FEATURES = 4096
"""Most input columns (the imputer's statistics; autotune's layout has 56)."""


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

        Sizes are checked against :data:`MAX_NODES`, :data:`MAX_TREES` and :data:`MAX_FEATURES`
        before anything is converted, the structure is proven a forest of trees, and the depth is
        bounded by :data:`MAX_DEPTH`, all in time linear in the number of nodes.

        Raises:
            ValueError: an array is missing, of the wrong kind or size, or describes no valid forest.
        """
        names = ("statistics", "feature", "threshold", "left", "right", "value", "roots")
        missing = [n for n in names if n not in arrays]
        if missing:
            raise ValueError(f"flat forest: missing arrays {missing}")
        given: dict[str, np.ndarray] = {}
        for n in names:
            a = np.asarray(arrays[n])
            integral = n in ("feature", "left", "right", "roots")
            if a.ndim != 1 or a.dtype.kind not in ("iu" if integral else "f") or a.dtype.itemsize > 8:
                raise ValueError(f"flat forest: {n} must be a 1-d {'integer' if integral else 'float'} array, "
                                 f"got {a.dtype} with shape {a.shape}")
            given[n] = a
        n_nodes = given["feature"].shape[0]
        for n in ("threshold", "left", "right", "value"):
            if given[n].shape != (n_nodes,):
                raise ValueError(f"flat forest: {n} must have one entry per node ({n_nodes})")
        _check_sizes(n_nodes, given["roots"].shape[0], given["statistics"].shape[0])
        out = {n: a.astype(np.intp if n in ("feature", "left", "right", "roots") else np.float64)
               for n, a in given.items()}
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
    """Check that the arrays describe a forest of binary trees, in O(nodes) time and memory.

    Tree-ness is proven, not assumed: every inner node's two children come after it, inside its own
    tree, and every node but the roots is the child of exactly one inner node (an in-degree count).
    Following parents from any node then strictly decreases the index and ends at a node without a
    parent, which can only be its tree's root: each tree is connected, acyclic and shares no node,
    so a traversal visits every node once (a node with both children ``i + 1``, or two parents,
    would make the paths, and the work of every traversal, exponential in the depth).
    """
    for name in ("feature", "threshold", "left", "right", "value", "roots", "statistics"):
        if getattr(forest, name).ndim != 1:
            raise ValueError(f"flat forest: {name} must be 1-d")
    n_nodes = forest.feature.shape[0]
    for name in ("threshold", "left", "right", "value"):
        if getattr(forest, name).shape != (n_nodes,):
            raise ValueError(f"flat forest: {name} must have one entry per node ({n_nodes})")
    if n_nodes == 0 or forest.roots.shape[0] == 0:
        raise ValueError("flat forest: no trees")
    if not np.all(np.isfinite(forest.statistics)):
        raise ValueError("flat forest: imputer statistics must be a finite 1-d array")
    roots = forest.roots
    if roots[0] != 0 or np.any(np.diff(roots) <= 0) or roots[-1] >= n_nodes:
        raise ValueError("flat forest: tree offsets must start at 0 and increase within the node arrays")
    ids = np.arange(n_nodes)
    leaf = forest.left == ids
    inner = ~leaf
    if np.any(forest.right[leaf] != ids[leaf]):
        raise ValueError("flat forest: a leaf must point to itself on both sides")
    tree_of = np.repeat(np.arange(roots.shape[0]), np.diff(np.append(roots, n_nodes)))
    parents = ids[inner]
    for name in ("left", "right"):
        child = getattr(forest, name)[inner]
        # After their parent (no cycle), inside the node arrays, in the parent's tree.
        if np.any(child <= parents) or np.any(child >= n_nodes) or np.any(tree_of[child] != tree_of[parents]):
            raise ValueError(f"flat forest: {name} children must follow their parent within its tree")
    n_parents = np.bincount(np.concatenate([forest.left[inner], forest.right[inner]]), minlength=n_nodes)
    expected = np.ones(n_nodes, dtype=n_parents.dtype)
    expected[roots] = 0
    if not np.array_equal(n_parents, expected):
        bad = int(np.flatnonzero(n_parents != expected)[0])
        raise ValueError(f"flat forest: not a forest of trees (node {bad} is the child of {int(n_parents[bad])} "
                         f"nodes, a {'root' if expected[bad] == 0 else 'node'} must have {int(expected[bad])})")
    if np.any((forest.feature < 0) | (forest.feature >= forest.statistics.shape[0])):
        raise ValueError("flat forest: feature indices out of range")
    if np.any(np.isnan(forest.threshold)) or not np.all(np.isfinite(forest.value)):
        raise ValueError("flat forest: thresholds must not be NaN and values must be finite")
    if np.any(forest.threshold[leaf] != np.inf):
        raise ValueError("flat forest: leaves must have an infinite threshold")


def _check_sizes(n_nodes: int, n_trees: int, n_features: int) -> None:
    """Refuse sizes beyond :data:`MAX_NODES`, :data:`MAX_TREES` and :data:`MAX_FEATURES` (nothing allocated yet)."""
    for what, n, bound in (("nodes", n_nodes, MAX_NODES), ("trees", n_trees, MAX_TREES),
                           ("features", n_features, MAX_FEATURES)):
        if n > bound:
            raise ValueError(f"flat forest: {n} {what}, more than the {bound} a stored forest may have")


def _round_down_to_float32(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 at or below each threshold (``+inf`` stays ``+inf``)."""
    with np.errstate(over="ignore"):
        t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _max_depth(roots: np.ndarray, left: np.ndarray, right: np.ndarray, leaf: np.ndarray) -> int:
    """Edges on the longest root-to-leaf path: one step per level, each node visited once (the
    arrays are proven trees by :func:`_validate`); refused beyond :data:`MAX_DEPTH`."""
    frontier, depth = roots[~leaf[roots]], 0
    while frontier.size:
        depth += 1
        if depth > MAX_DEPTH:
            raise ValueError(f"flat forest: a tree is deeper than {MAX_DEPTH} levels")
        nxt = np.concatenate([left[frontier], right[frontier]])
        frontier = nxt[~leaf[nxt]]
    return depth
