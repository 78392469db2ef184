"""ForestPredictor: a trained time model's predictions from its flat forests, without scikit-learn.

:class:`~autotune.model.ConfigTimeModel` fits the forests with scikit-learn and inherits every
prediction from here. A model loaded for a decision (:func:`~autotune.model.load_predictor`) is a
bare ``ForestPredictor``: deciding needs numpy alone, so a fresh process that only predicts never
pays scikit-learn's import (about a second).
"""

from __future__ import annotations

import logging
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from kernels import Config, auto_chunk_size

from .._errors import NotFittedError
from ..features import MachineFingerprint, WorkloadFeatures, workload_features
from ._encoding import N_CONTEXT, encode_configs, feature_names, machine_row, workload_row

__all__ = ["Choice", "ForestPredictor"]

_logger = logging.getLogger(__name__)

_CACHE_SIZE = 64


@dataclass(frozen=True)
class Choice:
    """The model's pick among candidate configs.

    Attributes:
        config: the config ranked first.
        predicted_s: its predicted steady-state time per call (seconds).
        predicted_compile_s: its predicted one-off compile/first-call overhead (seconds).
        predicted_total_s: the ranking key of ``config``: ``compile + calls * steady`` when ``calls``
            was given, else the steady-state time.
        uncertainty: standard deviation of its log time across the forest's trees.
        ranked: every candidate with its ranking key, best first.
        calls: the ``calls`` the ranking was made for (``None``: steady state only).
    """

    config: Config
    predicted_s: float
    predicted_compile_s: float
    predicted_total_s: float
    uncertainty: float
    ranked: tuple[tuple[Config, float], ...] = field(repr=False)
    calls: int | None = None


class ForestPredictor:
    """Predicts the log run time (and log compile time) of configs from flat forests.

    Attributes (set by :meth:`ConfigTimeModel.fit <autotune.model.ConfigTimeModel.fit>` or by
    loading a stored model):
        flat_, scale_flat_, compile_flat_: the relative, scale and compile-time forests
            (:class:`~autotune.model.FlatForest`; the last two may be ``None``).
        feature_names_, n_features_in_, n_rows_, rows_hash_, support_: as documented on
            :class:`~autotune.model.ConfigTimeModel`.
    """

    def _check_fitted(self) -> None:
        if not hasattr(self, "flat_"):
            raise NotFittedError(
                f"this {type(self).__name__} is not fitted yet: call fit(training_set) (see "
                "autotune.model.training_set), or load a trained one with autotune.model.load_model(store)"
            )

    # -- prediction ---------------------------------------------------------------------------

    def _rows(self, X: Any) -> np.ndarray:
        self._check_fitted()
        X = np.asarray(X, dtype=np.float64)
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n_rows, {self.n_features_in_}), got {X.shape}")
        if np.isinf(X).any():
            raise ValueError("X holds infinite values (NaN is allowed: it is imputed)")
        return X

    def _scale(self, X: np.ndarray) -> np.ndarray | float:
        """The predicted context median log time of each row (0 when the model has no scale forest)."""
        scale = getattr(self, "scale_flat_", None)
        return 0.0 if scale is None else scale.predict(X[:, :N_CONTEXT])

    def predict(self, X: Any) -> np.ndarray:
        """The predicted log time (natural log of seconds) of each row: context scale + relative time."""
        X = self._rows(X)  # checks fitted-ness first
        return self._scale(X) + self.flat_.predict(X)

    def predict_relative(self, X: Any) -> np.ndarray:
        """The predicted log time of each row relative to its context's median config (what ranks configs)."""
        X = self._rows(X)
        return self.flat_.predict(X)

    def predict_dist(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """The mean and the standard deviation across the relative forest's trees of each row's log time
        (the spread is the uncertainty of the config's rank within its context)."""
        X = self._rows(X)
        trees = self.flat_.tree_predictions(X)
        return self._scale(X) + trees.mean(axis=1), trees.std(axis=1)

    def predict_compile(self, X: Any) -> np.ndarray:
        """The predicted log compile time of each row (log of 1e-6 s when no compile time was ever known)."""
        X = self._rows(X)
        if self.compile_flat_ is None:
            return np.full(X.shape[0], np.log(1e-6))
        return self.compile_flat_.predict(X)

    # -- choosing --------------------------------------------------------------------------------

    def choose(self, machine_vector: Mapping[str, float] | MachineFingerprint, workload: Any, n_sims: int,
               candidates: Sequence[Config], *, calls: int | None = None) -> Choice:
        """Rank ``candidates`` by predicted time on this machine and workload, and pick the first.

        Args:
            machine_vector: ``machine_fingerprint().vector()`` (or the fingerprint itself).
            workload: the kernels workload (or its :class:`~autotune.features.WorkloadFeatures`).
            n_sims: simulations per call.
            candidates: the configs to rank (e.g. ``search_space(...).enumerate()``); ties keep their order.
            calls: rank by ``compile + calls * steady`` (one call pays the compile cost once; many
                calls amortise it); ``None`` ranks by the steady-state time alone.

        Raises:
            NotFittedError: the model is not fitted.
            ValueError: empty or non-Config candidates, a bad ``calls`` or ``n_sims``, a model
                trained on another feature layout.
        """
        self._check_fitted()
        if self.feature_names_ != feature_names():
            raise ValueError("this model was not trained on autotune's feature layout (feature_names()); "
                             "choose() needs one fitted on a TrainingSet")
        if calls is not None and (isinstance(calls, bool) or not isinstance(calls, numbers.Integral) or calls < 1):
            raise ValueError(f"calls must be a positive int or None, got {calls!r}")
        if isinstance(n_sims, bool) or not isinstance(n_sims, numbers.Integral) or n_sims < 1:
            raise ValueError(f"n_sims must be a positive int, got {n_sims!r}")
        candidates = list(candidates)
        if not candidates:
            raise ValueError("candidates is empty: pass at least one Config (e.g. search_space(...).enumerate())")
        bad = next((c for c in candidates if not isinstance(c, Config)), None)
        if bad is not None:
            raise ValueError(f"candidates must be kernels.Config objects, got {type(bad).__name__}")

        supported = [c for c in candidates if self.supports(c)]
        if supported:
            candidates = supported
        else:
            _logger.warning("no candidate config lies within the knob values the model was trained on (%s); "
                            "ranking all %d candidates anyway", self.support_, len(candidates))
        context, auto_chunk, workload = self._context(machine_vector, workload, int(n_sims))
        X = np.empty((len(candidates), self.n_features_in_), dtype=np.float64)
        X[:, :N_CONTEXT] = context
        X[:, N_CONTEXT:] = encode_configs(candidates, workload, int(n_sims), auto_chunk=auto_chunk)
        trees = self.flat_.tree_predictions(X)
        # Every candidate shares the context, so the scale forest runs on one row.
        scale = self._scale(X[:1])
        log_time, spread = trees.mean(axis=1) + (scale if np.isscalar(scale) else scale[0]), trees.std(axis=1)
        steady = np.exp(log_time)
        if calls is None:  # the compile forest is only needed for the winner
            key = steady
            order = np.argsort(key, kind="stable")
            best = int(order[0])
            compile_best = float(np.exp(self.predict_compile(X[best : best + 1])[0]))
        else:
            compile_s = np.exp(self.predict_compile(X))
            key = compile_s + calls * steady
            order = np.argsort(key, kind="stable")
            best = int(order[0])
            compile_best = float(compile_s[best])
        return Choice(
            config=candidates[best], predicted_s=float(steady[best]), predicted_compile_s=compile_best,
            predicted_total_s=float(key[best]), uncertainty=float(spread[best]),
            ranked=tuple((candidates[i], float(key[i])) for i in order.tolist()), calls=calls,
        )

    def supports(self, config: Config) -> bool:
        """Whether every categorical knob of ``config`` takes a value seen in training (see ``support_``).

        Answers are cached per config: :meth:`choose` asks for every candidate on every call.
        """
        cache = getattr(self, "_support_cache", None)
        if cache is None:
            cache = self._support_cache = {}
        known = cache.get(config)
        if known is None:
            support = getattr(self, "support_", None) or {}
            values = {"backend": config.backend, "executor": config.executor, "precision": config.precision,
                      "qmc": bool(config.qmc), "shared_memory": bool(config.shared_memory)}
            known = cache[config] = all(knob not in support or value in support[knob]
                                        for knob, value in values.items())
        return known

    def _context(self, machine_vector: Any, workload: Any, n_sims: int) -> tuple[np.ndarray, int, Any]:
        """The machine ⊕ workload part of the rows and the automatic chunk size, cached per (machine, workload)."""
        if isinstance(machine_vector, MachineFingerprint):
            machine_vector = machine_vector.vector()
        if not isinstance(machine_vector, Mapping):
            raise ValueError("machine_vector must be a dict from machine_fingerprint().vector(), got "
                             f"{type(machine_vector).__name__}")
        features = workload if isinstance(workload, WorkloadFeatures) else None
        if features is not None:
            if features.n_sims != n_sims:
                raise ValueError(f"the WorkloadFeatures are for n_sims={features.n_sims}, not {n_sims}")
            workload = features.workload()
        try:
            key: Any = (tuple(machine_vector.items()), workload, n_sims)
            hash(key)
        except TypeError:  # unhashable workload or values: no caching
            key = None
        cache = getattr(self, "_context_cache", None)
        if cache is None:
            cache = self._context_cache = {}
        if key is not None and key in cache:
            context, auto_chunk = cache[key]
            return context, auto_chunk, workload
        if features is None:
            features = workload_features(workload, n_sims)
        context = np.concatenate([machine_row(machine_vector), workload_row(features.vector())])
        auto_chunk = auto_chunk_size(workload, n_sims)
        if key is not None:
            if len(cache) >= _CACHE_SIZE:
                cache.pop(next(iter(cache)))
            cache[key] = (context, auto_chunk)
        return context, auto_chunk, workload
