"""ConfigTimeModel: a random forest predicting the log time of a config on a (machine, workload)."""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.ensemble import RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline

from kernels import BACKENDS, Config

from ._data import TrainingSet
from ._encoding import CONFIG_FEATURES, ENCODED_EXECUTORS, N_CONTEXT, feature_names
from ._flat import FlatForest
from ._predictor import Choice, ForestPredictor

__all__ = ["Choice", "ConfigTimeModel"]

_logger = logging.getLogger(__name__)

_CENTRE_ITERATIONS = 20
_SIZE_DEPENDENT = ("log2_chunk", "log2_chunks")


class ConfigTimeModel(ForestPredictor, RegressorMixin, BaseEstimator):
    """Predicts the log run time (and log compile time) of a config from machine ⊕ workload ⊕ config features.

    The log time is learnt in two parts, because what decides the choice is how configs compare
    *within* one (machine, workload, n_sims) context, while most of the variance of raw log times
    lies *between* contexts (a 1e6-path option takes 1000x a 1e3-path one, whatever the config):

    * the *relative* forest (``flat_``) predicts a row's log time minus the median log time of its
      context's measured configs, from every feature (so that it can still learn interactions
      such as "threads win on large workloads");
    * the *scale* forest (``scale_flat_``) predicts that context median from the machine ⊕ workload
      columns alone, one training row per context.

    The predicted log time is their sum. The argmin over configs depends on the relative forest
    only, whose splits are then all spent on config effects; on the held-out workloads of
    ``experiments/model_quality.py`` this lifted the fraction of oracle from 0.81 (one forest on raw
    log time) to about 0.9. The context is read from the ``N_CONTEXT`` leading columns; arrays with
    fewer columns are fitted as one forest on raw log time (``scale_flat_`` is then ``None``).

    Follows scikit-learn's estimator contract: ``__init__`` only stores the parameters,
    :meth:`fit` validates and returns ``self``, learned attributes end in ``_``.

    Predictions use a flat-array export of the fitted forests (:class:`FlatForest`): identical
    to the sklearn pipelines' predictions, and fast for a few hundred rows.

    Args:
        n_estimators: trees per forest.
        min_samples_leaf: minimum rows per leaf.
        max_features: features considered per split (fraction, count, or ``"sqrt"``...).
        random_state: seed of the forests.

    Attributes (after ``fit`` or :func:`~autotune.model.load_model`):
        pipeline_, scale_pipeline_, compile_pipeline_: the fitted sklearn pipelines of the relative,
            scale and compile-time forests (``None`` on a loaded model; ``compile_pipeline_`` is
            ``None`` when no compile time was known).
        flat_, scale_flat_, compile_flat_: their flat exports, used for every prediction.
        feature_names_: the column names of ``X``.
        n_features_in_: ``len(feature_names_)``.
        n_rows_: training rows; rows_hash_: which rows (see :class:`TrainingSet`).
        support_: the knob values seen in training (``{"backend": [...], "executor": [...],
            "precision": [...], "qmc": [...], "shared_memory": [...]}``). :meth:`choose` ranks only
            candidates inside it: a forest has no idea how a backend it never saw performs (its trees
            never split on that column), so such a config would be ranked by accident.
    """

    def __init__(self, n_estimators: int = 100, min_samples_leaf: int = 1, max_features: float | int | str = 0.5,
                 random_state: int | None = 0) -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------------------

    def fit(self, X: TrainingSet | Any, y: Any = None, y_compile: Any = None) -> ConfigTimeModel:
        """Fit on a :class:`TrainingSet`, or on arrays ``X (n, d)``, ``y`` (log time) and optional
        ``y_compile`` (log compile time, NaN where unknown).

        Returns:
            self.

        Raises:
            ValueError: inputs of the wrong shape, non-finite targets, fewer than 2 rows.
        """
        if isinstance(X, TrainingSet):
            if y is not None or y_compile is not None:
                raise ValueError("fit(training_set) takes no y: the TrainingSet holds its targets")
            data, y, y_compile = X.X, X.y_log_time, X.y_log_compile
            names, rows_hash = tuple(X.feature_names), X.rows_hash
        else:
            if y is None:
                raise ValueError("fit needs a TrainingSet, or X and y (log time); y is missing")
            data = X
            names, rows_hash = None, None
        data, y, y_compile = _check_xy(data, y, y_compile)
        if names is None:
            expected = feature_names()
            names = expected if data.shape[1] == len(expected) else tuple(f"x{i}" for i in range(data.shape[1]))
            rows_hash = hashlib.sha256(data.tobytes() + y.tobytes()).hexdigest()
        elif len(names) != data.shape[1]:
            raise ValueError(f"the training set has {len(names)} feature names for {data.shape[1]} columns")

        scale_pipeline = None
        relative = y
        data_rel = data
        if data.shape[1] > N_CONTEXT:
            contexts, centres, context_rows, compared = _context_centres(data, y)
            # A context where one config alone was measured (e.g. online calls of the chosen config)
            # says nothing about how configs compare: its rows train the scale forest only.
            keep = compared[context_rows]
            if len(centres) >= 2 and keep.sum() >= 2:
                relative = y - centres[context_rows]
                scale_pipeline = self._pipeline().fit(contexts, centres)
                data_rel, relative = data[keep], relative[keep]
        pipeline = self._pipeline().fit(data_rel, relative)
        known = np.isfinite(y_compile)
        compile_pipeline = None
        if known.sum() >= 2:
            compile_pipeline = self._pipeline().fit(data[known], y_compile[known])
        elif known.any():
            _logger.warning("only %d row has a compile time: compile times will be predicted as 0", known.sum())
        self.pipeline_ = pipeline
        self.scale_pipeline_ = scale_pipeline
        self.compile_pipeline_ = compile_pipeline
        self.flat_ = FlatForest.from_pipeline(pipeline)
        self.scale_flat_ = None if scale_pipeline is None else FlatForest.from_pipeline(scale_pipeline)
        self.compile_flat_ = None if compile_pipeline is None else FlatForest.from_pipeline(compile_pipeline)
        self.feature_names_ = names
        self.support_ = _support(data) if names == feature_names() else {}
        self.n_features_in_ = data.shape[1]
        self.n_rows_ = int(data.shape[0])
        self.rows_hash_ = rows_hash
        self._context_cache: dict[Any, tuple[np.ndarray, int]] = {}
        self._support_cache: dict[Config, bool] = {}
        _logger.info("fitted ConfigTimeModel on %d rows (%d with compile time), %d features",
                     self.n_rows_, int(known.sum()), self.n_features_in_)
        return self

    def _pipeline(self) -> Pipeline:
        forest = RandomForestRegressor(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                       max_features=self.max_features, random_state=self.random_state)
        # keep_empty_features: an all-NaN column stays (as 0), so column indices never shift.
        return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("forest", forest)])

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "flat_")

def _support(X: np.ndarray) -> dict[str, list[Any]]:
    """The categorical knob values present in rows of autotune's feature layout."""
    cols = {n: N_CONTEXT + i for i, n in enumerate(CONFIG_FEATURES)}
    present = np.nanmax(X[:, N_CONTEXT:], axis=0) if X.shape[0] else np.zeros(len(CONFIG_FEATURES))
    seen = {n: present[c - N_CONTEXT] > 0.5 for n, c in cols.items()}
    flags = {n: sorted({bool(v > 0.5) for v in X[:, cols[n]]}) for n in ("float32", "qmc", "shared_memory")}
    return {
        "backend": [b for b in BACKENDS if seen[f"backend_{b}"]],
        "executor": [e for e in ENCODED_EXECUTORS if seen[f"executor_{e}"]],
        "precision": ["float32" if f else "float64" for f in flags["float32"]],
        "qmc": flags["qmc"],
        "shared_memory": flags["shared_memory"],
    }


def _context_centres(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Group rows by context (their ``N_CONTEXT`` leading columns, NaN equal to NaN) and estimate each
    context's level.

    Contexts are rarely measured on the same configs (a tuning session samples a different subset
    each time, online calls add the chosen config only), so a plain per-context median would carry
    the luck of the subset into every relative target. The level is instead fitted with the config
    effect, as the two-way additive model ``y = level[context] + effect[config]`` by alternating
    means (configs keyed by their encoding without the chunk-count columns, which change with
    ``n_sims``); its context levels are the centres.

    Returns:
        the context columns of each group ``(g, N_CONTEXT)``, each group's level ``(g,)``, the group
        of each row ``(n,)``, and whether each group holds at least 2 distinct configs ``(g,)``.
    """
    keyed = np.where(np.isnan(X), np.inf, X)  # NaN != NaN would split a context
    _, first, rows = np.unique(keyed[:, :N_CONTEXT], axis=0, return_index=True, return_inverse=True)
    rows = rows.reshape(-1)
    config_cols = np.array([N_CONTEXT + i for i, n in enumerate(CONFIG_FEATURES) if n not in _SIZE_DEPENDENT])
    config_cols = config_cols[config_cols < X.shape[1]]
    _, configs = np.unique(keyed[:, config_cols], axis=0, return_inverse=True)
    configs = configs.reshape(-1)
    n_groups, n_configs = first.size, int(configs.max()) + 1
    per_group = np.bincount(rows, minlength=n_groups)
    per_config = np.bincount(configs, minlength=n_configs)
    effect = np.zeros(n_configs)
    for _ in range(_CENTRE_ITERATIONS):
        level = np.bincount(rows, weights=y - effect[configs], minlength=n_groups) / per_group
        effect = np.bincount(configs, weights=y - level[rows], minlength=n_configs) / per_config
        effect -= effect.mean()  # the split between level and effect is only defined up to a constant
    level = np.bincount(rows, weights=y - effect[configs], minlength=n_groups) / per_group
    distinct = np.array([np.unique(keyed[rows == g, N_CONTEXT:], axis=0).shape[0] for g in range(n_groups)])
    return X[first, :N_CONTEXT], level, rows, distinct >= 2


def _check_xy(X: Any, y: Any, y_compile: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    try:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"X and y must be numeric arrays: {exc}") from None
    if X.ndim != 2:
        raise ValueError(f"X must be 2-d (n_rows, n_features), got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must be 1-d with one value per row of X ({X.shape[0]}), got shape {y.shape}")
    if X.shape[0] < 2:
        raise ValueError(f"fit needs at least 2 rows, got {X.shape[0]}")
    if np.isinf(X).any():
        raise ValueError("X holds infinite values (NaN is allowed: it is imputed)")
    if not np.all(np.isfinite(y)):
        raise ValueError("y (log time) must be finite")
    if y_compile is None:
        y_compile = np.full(X.shape[0], np.nan)
    else:
        y_compile = np.asarray(y_compile, dtype=np.float64)
        if y_compile.shape != y.shape:
            raise ValueError(f"y_compile must have the shape of y {y.shape}, got {y_compile.shape}")
        if np.isinf(y_compile).any():
            raise ValueError("y_compile must be finite, or NaN where unknown")
    return X, y, y_compile
