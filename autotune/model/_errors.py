"""The learned error model: standard errors of every estimator against n, learnt across workloads.

:class:`~autotune.accuracy.ErrorModel` fits one workload's errors from its own pilots. This model
predicts them for a workload never measured, from stored measurements of other workloads: each
stored measurement keeps its estimates' standard errors at its ``n_sims`` (a QMC estimator's at
two sizes or more), so for every (workload, estimator, estimate) group the law
``se(n) = se_ref * (n / N_REF)^-rate`` is read off the data:

* pseudo-random estimators: ``rate = 1/2`` and ``se_ref`` from the pooled variance per simulation
  (``mean(se^2 n) / N_REF``);
* quasi-random ones: ``rate`` the least-squares slope of log se against log n (clipped to
  ``[MIN_RATE, MAX_RATE]``), ``se_ref`` that line at ``N_REF``; a group measured at one size
  teaches nothing about the rate and is left out.

Three random forests then learn, from workload features (those that do not depend on n, plus the
option terms from the workload's spec), the estimate's class and the estimator's flags: the log
``se_ref`` (all groups), the rate (quasi-random groups) and the log ``|value|`` (for relative
tolerances). The power law in n is kept explicit rather than learnt by a forest on log n, because
a forest cannot extrapolate: targets usually need more simulations than any pilot ran.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import numbers
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import ndtr

from kernels import AsianOption, Config, EuropeanOption, Target
from kernels._estimators import tail_levels
from kernels._results import degrees_of_freedom
from kernels._target import interval_quantile

from .._errors import NotFittedError
from .._outcome import Outcome
from ..features import WORKLOAD_FEATURES, workload_features, workload_from_spec
from ..storage import Storage
from ._data import TrainingDataError
from ._flat import FlatForest

__all__ = ["ERROR_FEATURES", "ESTIMATE_CLASSES", "N_REF", "ErrorForest", "ErrorTrainingSet",
           "error_features", "error_training_set", "sims_for_target", "spec_digest"]

_logger = logging.getLogger(__name__)

N_REF = 2**14
"""The simulation count at which the level of each error law is learnt."""
MIN_RATE, MAX_RATE = 0.5, 1.5
"""Bounds of a quasi-random convergence rate (as :mod:`autotune.accuracy`)."""
MIN_TAIL_SIMS = 100
"""Simulations a VaR/TVaR run needs beyond its level at least (as the kernels' sequential runs)."""

#: Workload columns that change with n: left out (n enters through the power law).
_N_DEPENDENT = ("log10_n_sims", "log10_total_draws")
ESTIMATE_CLASSES: tuple[str, ...] = ("price", "geometric_price", "delta", "vega", "mean", "std", "VaR", "TVaR")
"""The estimate classes with a one-hot column; ``VaR_0.99`` is class ``VaR`` with its level apart."""

ERROR_FEATURES: tuple[str, ...] = (
    *(f"w_{n}" for n in WORKLOAD_FEATURES if n not in _N_DEPENDENT),
    "o_log_moneyness", "o_sigma", "o_total_vol", "o_log_T", "o_r", "o_q", "o_put",
    "o_d1", "o_d2", "o_itm_prob", "o_log_bs_price",
    *(f"e_{c}" for c in ESTIMATE_CLASSES),
    "e_log_tail",
    "qmc", "antithetic", "control_variate",
)
"""Columns of an error-model row: workload (n-free) ⊕ option terms ⊕ estimate class ⊕ estimator flags."""

_VALUE_COLUMNS = np.array([i for i, n in enumerate(ERROR_FEATURES)
                           if n not in ("qmc", "antithetic", "control_variate")])
"""The value of an estimate does not depend on the estimator: its forest sees no estimator flag."""


def _estimate_class(name: str) -> tuple[str | None, float]:
    base = name.split("_", 1)[0] if name.startswith(("VaR_", "TVaR_")) else name
    level = float(name.split("_", 1)[1]) if base in ("VaR", "TVaR") else 0.0
    return (base if base in ESTIMATE_CLASSES else None), level


def _option_terms(o: EuropeanOption | AsianOption) -> list[float]:
    """The option's terms, and Black-Scholes quantities of the European option with those terms
    (moneyness in standard deviations, the probability of exercise, the relative price): the error of
    a payoff's estimate follows them (a deep out-of-the-money payoff is mostly zero)."""
    total = o.sigma * math.sqrt(o.T)
    moneyness = math.log(o.S0 / o.K)
    d1 = (moneyness + (o.r - o.q + 0.5 * o.sigma**2) * o.T) / total
    d2 = d1 - total
    sign = -1.0 if o.kind == "put" else 1.0
    forward, strike = o.S0 * math.exp(-o.q * o.T), o.K * math.exp(-o.r * o.T)
    price = sign * (forward * float(ndtr(sign * d1)) - strike * float(ndtr(sign * d2)))
    return [moneyness, o.sigma, total, math.log(o.T), o.r, o.q, float(o.kind == "put"), d1, d2,
            float(ndtr(sign * d2)), math.log(max(price / o.S0, 1e-12))]


def _workload_part(workload: Any) -> np.ndarray:
    vector = workload_features(workload, 2).vector()
    row = [vector[n] for n in WORKLOAD_FEATURES if n not in _N_DEPENDENT]
    if isinstance(workload, EuropeanOption | AsianOption):
        row += _option_terms(workload)
    else:
        row += [math.nan] * 11
    return np.array(row, dtype=np.float64)


def error_features(workload: Any, name: str, config: Config) -> np.ndarray:
    """The error-model row (:data:`ERROR_FEATURES`) of estimate ``name`` of ``workload`` under ``config``'s estimator.

    Raises:
        ValueError: ``workload`` is not an option or portfolio, or ``name`` is no known estimate class.
    """
    cls, level = _estimate_class(name)
    if cls is None:
        raise ValueError(f"name must be an estimate of class {list(ESTIMATE_CLASSES)} (e.g. 'price', "
                         f"'TVaR_0.99'), got {name!r}")
    onehot = [float(c == cls) for c in ESTIMATE_CLASSES]
    tail = math.log(1 - level) if level else 0.0
    flags = [float(config.qmc), float(config.antithetic), float(config.control_variate)]
    return np.concatenate([_workload_part(workload), onehot, [tail], flags])


@dataclass(frozen=True, eq=False)
class ErrorTrainingSet:
    """One row per (workload, estimator, estimate) group of stored measurements with standard errors.

    Attributes:
        X: ``(n, len(ERROR_FEATURES))`` rows (:func:`error_features`).
        y_log_level: log of the group's standard error at :data:`N_REF` simulations.
        y_rate: the fitted rate (0.5 for pseudo-random groups).
        y_log_value: log ``|value|`` of the estimate at the largest size (NaN where it is 0).
        qmc: whether each group is quasi-random (the rate forest trains on those only).
        workload_specs: :func:`spec_digest` of each group's workload (for grouped cross-validation): not
            its stored key, which includes ``n_sims``, while an error law spans sizes.
        names: the estimate of each group.
        configs: the estimator of each group, as the config of its largest measurement.
        points: each group's ``(n, se)`` measurements.
        rows_hash: sha256 over the measurement uids the set was built from.
    """

    X: np.ndarray
    y_log_level: np.ndarray
    y_rate: np.ndarray
    y_log_value: np.ndarray
    qmc: np.ndarray
    workload_specs: np.ndarray
    names: tuple[str, ...] = field(repr=False)
    configs: tuple[Config, ...] = field(repr=False)
    points: tuple[tuple[tuple[int, float], ...], ...] = field(repr=False)
    rows_hash: str = ""

    def __len__(self) -> int:
        return int(self.X.shape[0])

    def subset(self, rows: Any) -> ErrorTrainingSet:
        """The groups at ``rows`` (indices or a boolean mask)."""
        rows = np.flatnonzero(rows) if np.asarray(rows).dtype == bool else np.asarray(rows, dtype=np.intp)
        digest = hashlib.sha256(self.rows_hash.encode() + rows.astype(np.int64).tobytes()).hexdigest()
        return ErrorTrainingSet(
            X=self.X[rows], y_log_level=self.y_log_level[rows], y_rate=self.y_rate[rows],
            y_log_value=self.y_log_value[rows], qmc=self.qmc[rows], workload_specs=self.workload_specs[rows],
            names=tuple(self.names[i] for i in rows), configs=tuple(self.configs[i] for i in rows),
            points=tuple(self.points[i] for i in rows), rows_hash=digest)


def _fit_law(qmc: bool, points: Sequence[tuple[int, float]]) -> tuple[float, float] | None:
    """``(log se at N_REF, rate)`` of one group's positive ``(n, se)`` points; None when it says nothing."""
    n = np.array([p[0] for p in points], dtype=np.float64)
    se = np.array([p[1] for p in points], dtype=np.float64)
    if not qmc:
        return 0.5 * math.log(float(np.mean(se * se * n)) / N_REF), 0.5
    if np.unique(n).size < 2:
        return None
    slope = np.polyfit(np.log(n), np.log(se), 1)[0]
    rate = float(min(max(-slope, MIN_RATE), MAX_RATE))
    # The line at the clipped rate through the points' centre of mass.
    level = float(np.mean(np.log(se) + rate * np.log(n))) - rate * math.log(N_REF)
    return level, rate


def spec_digest(spec: Mapping[str, Any]) -> str:
    """A workload's identity whatever its ``n_sims``: sha256 (16 hex) of its canonical spec JSON."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _read_workload(store: Storage, key: str, workloads: dict[str, Any]) -> str | None:
    """The spec digest of stored workload ``key`` (its workload rebuilt into ``workloads``), None if unreadable."""
    row = store.workload(key)
    try:
        digest = spec_digest(row.spec) if row is not None else None
        if digest is not None and digest not in workloads:
            workloads[digest] = workload_from_spec(row.spec)
    except (ValueError, TypeError, AttributeError) as exc:
        _logger.warning("skipping workload %s: its spec cannot be rebuilt (%s)", key, exc)
        return None
    return digest


def error_training_set(store: Storage, *, machine_id: str | None = None) -> ErrorTrainingSet:
    """Every COMPLETE Monte Carlo measurement with standard errors in ``store``, grouped into error laws.

    Standard errors do not depend on the machine, so measurements of all machines are pooled unless
    ``machine_id`` is given. Execution knobs (backend, executor, chunks) are pooled too: only the
    estimator (``qmc``, ``antithetic``, ``control_variate``; and ``qmc_scrambles``) changes the error.

    Raises:
        ValueError: ``store`` is not a Storage.
        TrainingDataError: no group can be fitted (no standard errors stored, or QMC at one size only).
    """
    if not isinstance(store, Storage):
        raise ValueError(f"store must be an autotune Storage (open_storage(url)), got {type(store).__name__}")
    groups: dict[tuple[str, bool, bool, bool, int, str], list[tuple[int, float, float, Config]]] = defaultdict(list)
    uids = []
    digests: dict[str, str | None] = {}
    workloads: dict[str, Any] = {}
    for m in store.measurements(machine_id=machine_id, outcome=Outcome.COMPLETE):
        c = m.config
        if c.method != "mc" or not m.standard_errors or m.workload_id is None:
            continue
        if m.workload_id not in digests:
            digests[m.workload_id] = _read_workload(store, m.workload_id, workloads)
        digest = digests[m.workload_id]
        if digest is None:
            continue
        uids.append(m.uid)
        for name, se in m.standard_errors.items():
            value = m.estimates.get(name, math.nan)
            if math.isfinite(se) and se > 0 and _estimate_class(name)[0] is not None:
                key = (digest, c.qmc, c.antithetic, c.control_variate, c.qmc_scrambles if c.qmc else 0, name)
                groups[key].append((m.n_sims, se, value, c))
    rows, level, rate, value, qmc, wids, names, configs, points = [], [], [], [], [], [], [], [], []
    for key, pts in groups.items():
        wid, is_qmc, name = key[0], key[1], key[5]
        law = _fit_law(is_qmc, [(n, se) for n, se, _, _ in pts])
        if law is None:
            continue
        workload = workloads[wid]
        largest = max(pts, key=lambda p: p[0])
        rows.append(error_features(workload, name, largest[3]))
        level.append(law[0])
        rate.append(law[1])
        value.append(math.log(abs(largest[2])) if largest[2] and math.isfinite(largest[2]) else math.nan)
        qmc.append(is_qmc)
        wids.append(wid)
        names.append(name)
        configs.append(largest[3])
        points.append(tuple(sorted((n, se) for n, se, _, _ in pts)))
    if not rows:
        raise TrainingDataError(
            f"no error law can be fitted from {store!r}: it needs COMPLETE Monte Carlo measurements with standard "
            "errors (quasi-random ones at two sizes or more); run `autotune tune --target ...` or store some")
    return ErrorTrainingSet(
        X=np.vstack(rows), y_log_level=np.array(level), y_rate=np.array(rate), y_log_value=np.array(value),
        qmc=np.array(qmc, dtype=bool), workload_specs=np.array(wids, dtype=str), names=tuple(names),
        configs=tuple(configs), points=tuple(points),
        rows_hash=hashlib.sha256("\n".join(sorted(uids)).encode()).hexdigest())


def sims_for_target(se_ref: float, rate: float, tolerance: float, quantile: float, *, qmc_scrambles: int | None = None,
                    minimum: int = 2) -> int:
    """The smallest n with ``quantile * se_ref * (n / N_REF)^-rate <= tolerance``.

    Quasi-random runs grow their points in powers of two, so for ``qmc_scrambles`` the answer is
    ``qmc_scrambles * 2^k``; pseudo-random runs stop at any n. Never below ``minimum``.

    Raises:
        ValueError: a non-positive or non-finite ``se_ref``, ``rate``, ``tolerance`` or ``quantile``.
    """
    for label, x in (("se_ref", se_ref), ("rate", rate), ("tolerance", tolerance), ("quantile", quantile)):
        if not (isinstance(x, numbers.Real) and math.isfinite(x) and x > 0):
            raise ValueError(f"{label} must be a finite number > 0, got {x!r}")
    # log n = log N_REF + log(q se_ref / tol) / rate: the exact solution of the monotone law.
    log_n = math.log(N_REF) + math.log(quantile * se_ref / tolerance) / rate
    n = math.exp(min(log_n, 60.0))
    if qmc_scrambles:
        points = max(n / qmc_scrambles, 1.0)
        n_int = qmc_scrambles * 2 ** max(math.ceil(math.log2(points) - 1e-12), 0)
        while n_int < minimum:
            n_int *= 2
        return int(n_int)
    return max(math.ceil(n - 1e-9), minimum)


class ErrorForest:
    """Predicts each estimator's standard error against n on a workload it never measured.

    Follows scikit-learn's conventions: ``__init__`` stores parameters, :meth:`fit` returns self,
    learnt attributes end in ``_`` (``level_flat_``, ``rate_flat_`` (None without QMC groups),
    ``value_flat_``, ``n_rows_``, ``rows_hash_``). Predictions use flat forests
    (:class:`FlatForest`), so a fitted model predicts with numpy alone.

    Args:
        n_estimators, min_samples_leaf, max_features, random_state: of each random forest.
    """

    def __init__(self, n_estimators: int = 100, min_samples_leaf: int = 1, max_features: float | int | str = 0.7,
                 random_state: int | None = 0) -> None:
        self.n_estimators = n_estimators
        self.min_samples_leaf = min_samples_leaf
        self.max_features = max_features
        self.random_state = random_state

    def _pipeline(self) -> Any:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.impute import SimpleImputer
        from sklearn.pipeline import Pipeline

        forest = RandomForestRegressor(n_estimators=self.n_estimators, min_samples_leaf=self.min_samples_leaf,
                                       max_features=self.max_features, random_state=self.random_state)
        return Pipeline([("impute", SimpleImputer(strategy="median", keep_empty_features=True)), ("forest", forest)])

    def fit(self, data: ErrorTrainingSet) -> ErrorForest:
        """Fit the level, rate and value forests on ``data``.

        Raises:
            ValueError: ``data`` is not an ErrorTrainingSet or has fewer than 2 groups.
        """
        if not isinstance(data, ErrorTrainingSet):
            raise ValueError(f"data must be an ErrorTrainingSet (error_training_set(store)), got {type(data).__name__}")
        if len(data) < 2:
            raise ValueError(f"data must hold at least 2 groups, got {len(data)}")
        self.level_flat_ = FlatForest.from_pipeline(self._pipeline().fit(data.X, data.y_log_level))
        q = data.qmc
        self.rate_flat_ = (FlatForest.from_pipeline(self._pipeline().fit(data.X[q], data.y_rate[q]))
                           if q.sum() >= 2 else None)
        self.mean_rate_ = float(data.y_rate[q].mean()) if q.any() else 0.5
        known = np.isfinite(data.y_log_value)
        self.value_flat_ = (FlatForest.from_pipeline(self._pipeline().fit(data.X[known][:, _VALUE_COLUMNS],
                                                                          data.y_log_value[known]))
                            if known.sum() >= 2 else None)
        self.n_rows_ = len(data)
        self.rows_hash_ = data.rows_hash
        _logger.info("fitted ErrorForest on %d error laws (%d quasi-random)", len(data), int(q.sum()))
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "level_flat_"):
            raise NotFittedError("this ErrorForest is not fitted yet: call fit(error_training_set(store))")

    def law(self, workload: Any, name: str, config: Config) -> tuple[float, float]:
        """``(se at N_REF, rate)`` predicted for estimate ``name`` of ``workload`` under ``config``'s estimator."""
        self._check_fitted()
        row = error_features(workload, name, config).reshape(1, -1)
        se_ref = float(np.exp(self.level_flat_.predict(row)[0]))
        if not config.qmc:
            return se_ref, 0.5
        rate = float(self.rate_flat_.predict(row)[0]) if self.rate_flat_ is not None else self.mean_rate_
        return se_ref, min(max(rate, MIN_RATE), MAX_RATE)

    def standard_error(self, workload: Any, name: str, config: Config, n_sims: float) -> float:
        """The predicted standard error of ``name`` after ``n_sims`` simulations."""
        if not (isinstance(n_sims, numbers.Real) and math.isfinite(n_sims) and n_sims > 0):
            raise ValueError(f"n_sims must be a finite number > 0, got {n_sims!r}")
        se_ref, rate = self.law(workload, name, config)
        return se_ref * (n_sims / N_REF) ** -rate

    def value(self, workload: Any, name: str) -> float:
        """The predicted ``|value|`` of estimate ``name`` (what a relative tolerance applies to)."""
        self._check_fitted()
        if self.value_flat_ is None:
            raise NotFittedError("this ErrorForest learnt no estimate values (none was stored non-zero)")
        row = error_features(workload, name, Config())[_VALUE_COLUMNS].reshape(1, -1)
        return float(np.exp(self.value_flat_.predict(row)[0]))

    def sims_needed(self, workload: Any, config: Config, target: Target,
                    values: Mapping[str, float] | None = None) -> int:
        """Simulations ``config``'s estimator is predicted to need for every estimate of ``target``.

        The half-width uses the kernels' interval quantile (Student-t with ``qmc_scrambles - 1``
        degrees of freedom for scramble-based QMC errors). ``values``: known estimate values for a
        relative tolerance (else predicted by the value forest).

        Raises:
            ValueError: ``target`` is not a Target or names estimates ``workload`` lacks, or its tolerance
                is not positive for an estimate (a relative one on a value of 0).
        """
        if not isinstance(target, Target):
            raise ValueError(f"target must be a kernels.Target, got {type(target).__name__}")
        if not isinstance(config, Config):
            raise ValueError(f"config must be a kernels.Config, got {type(config).__name__}")
        names = target.names(workload)
        minimum = 2 * config.qmc_scrambles if config.qmc else 2
        levels = tail_levels(names)
        if levels:
            minimum = max(minimum, math.ceil(MIN_TAIL_SIMS / (1 - max(levels))))
        need = minimum
        for name in names:
            value = (values or {}).get(name)
            if value is None:
                value = self.value(workload, name) if target.rtol is not None else 0.0
            tol = max(target.atol or 0.0, (target.rtol or 0.0) * abs(value))
            if tol <= 0:
                raise ValueError(f"target {target.label()} has no positive tolerance for {name!r} "
                                 f"(its value is {value:g}); give an atol")
            q = interval_quantile(target.confidence, degrees_of_freedom(workload, config, name))
            se_ref, rate = self.law(workload, name, config)
            need = max(need, sims_for_target(se_ref, rate, tol, q,
                                             qmc_scrambles=config.qmc_scrambles if config.qmc else None,
                                             minimum=minimum))
        return need

