"""Workload features: a stable key, a canonical spec that rebuilds the workload, and a numeric vector."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import numbers
from dataclasses import dataclass
from typing import Any

from kernels import (
    FREQUENCIES,
    SEVERITIES,
    AsianOption,
    EuropeanOption,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    bytes_per_sim,
    workload_kind,
)

__all__ = ["WORKLOAD_FEATURES", "WORKLOAD_KEY_VERSION", "WorkloadFeatures", "workload_features", "workload_from_spec"]

# Bump when the spec or the hashed payload changes meaning, so that old keys stop matching.
WORKLOAD_KEY_VERSION = 1

_OPTIONS = {"european": EuropeanOption, "asian": AsianOption}

WORKLOAD_FEATURES: tuple[str, ...] = (
    "is_european",
    "is_asian",
    "is_portfolio",
    "log10_n_sims",
    "n_steps",
    "log10_steps",
    "log10_policies",
    "groups",
    "log10_expected_claims",
    "pooled_fraction",
    *(f"freq_{name}" for name in FREQUENCIES),
    *(f"sev_{name}" for name in SEVERITIES),
    "has_aggregate_terms",
    "log10_draws_per_sim",
    "log10_bytes_per_sim",
    "log10_total_draws",
)


def _encode(value: Any) -> Any:
    # JSON has no infinity; unlimited layers are written as the string "inf".
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def _decode(value: Any) -> Any:
    return float(value) if value in ("inf", "-inf") else value


def _record(obj: Any, **extra: Any) -> dict[str, Any]:
    return {**extra, **{f.name: _encode(getattr(obj, f.name)) for f in dataclasses.fields(obj)}}


def _spec(workload: Any, kind: str) -> dict[str, Any]:
    if kind in _OPTIONS:
        return {"kind": kind, "params": _record(workload)}
    groups = [
        {
            "n_policies": g.n_policies,
            "frequency": _record(g.frequency, family=g.frequency.family),
            "severity": _record(g.severity, family=g.severity.family),
            "terms": _record(g.terms),
        }
        for g in workload.groups
    ]
    return {"kind": kind, "groups": groups, "levels": list(workload.levels)}


def _field(spec: Any, name: str, where: str) -> Any:
    if not isinstance(spec, dict) or name not in spec:
        raise ValueError(f"workload spec: {where} must be a dict with a {name!r} entry")
    return spec[name]


def _distribution(spec: Any, registry: dict[str, type], where: str) -> Any:
    family = _field(spec, "family", where)
    if family not in registry:
        raise ValueError(f"workload spec: {where}.family must be one of {sorted(registry)}, got {family!r}")
    params = {k: _decode(v) for k, v in spec.items() if k != "family"}
    try:
        return registry[family](**params)
    except TypeError as exc:
        raise ValueError(f"workload spec: bad parameters for {where} ({family}): {exc}") from None


def workload_from_spec(spec: dict[str, Any]) -> EuropeanOption | AsianOption | Portfolio:
    """Rebuild the workload that :attr:`WorkloadFeatures.spec` describes.

    Raises:
        ValueError: when the spec is malformed or its values are out of range (naming the entry).
    """
    kind = _field(spec, "kind", "spec")
    if kind in _OPTIONS:
        params = _field(spec, "params", "spec")
        if not isinstance(params, dict):
            raise ValueError("workload spec: spec.params must be a dict")
        if kind == "asian":  # written before variance reduction moved into Config
            params = {k: v for k, v in params.items() if k not in ("control_variate", "antithetic")}
        try:
            return _OPTIONS[kind](**params)
        except TypeError as exc:
            raise ValueError(f"workload spec: bad parameters for {kind}: {exc}") from None
    if kind != "portfolio":
        raise ValueError(f"workload spec: spec.kind must be 'european', 'asian' or 'portfolio', got {kind!r}")
    raw_groups = _field(spec, "groups", "spec")
    if not isinstance(raw_groups, list):
        raise ValueError("workload spec: spec.groups must be a list")
    groups = []
    for i, g in enumerate(raw_groups):
        where = f"spec.groups[{i}]"
        terms = _field(g, "terms", where)
        if not isinstance(terms, dict):
            raise ValueError(f"workload spec: {where}.terms must be a dict")
        try:
            pterms = PolicyTerms(**{k: _decode(v) for k, v in terms.items()})
        except TypeError as exc:
            raise ValueError(f"workload spec: bad {where}.terms: {exc}") from None
        groups.append(PolicyGroup(
            n_policies=_field(g, "n_policies", where),
            frequency=_distribution(_field(g, "frequency", where), FREQUENCIES, f"{where}.frequency"),
            severity=_distribution(_field(g, "severity", where), SEVERITIES, f"{where}.severity"),
            terms=pterms,
        ))
    return Portfolio(groups=groups, levels=_field(spec, "levels", "spec"))


@dataclass(frozen=True)
class WorkloadFeatures:
    """Features of one workload at one simulation count.

    Attributes:
        key: ``"<kind>-<16 hex>"``, sha256 over the canonical spec and ``n_sims``; stable across
            processes and Python versions.
        kind: ``"european"``, ``"asian"`` or ``"portfolio"``.
        n_sims: the simulation count.
        spec_json: the canonical JSON of :attr:`spec`.
        values: the feature values in the order of :data:`WORKLOAD_FEATURES`.
    """

    key: str
    kind: str
    n_sims: int
    spec_json: str
    values: tuple[float, ...]

    @property
    def spec(self) -> dict[str, Any]:
        """A fresh JSON-safe dict that :func:`workload_from_spec` turns back into the workload."""
        return json.loads(self.spec_json)

    def workload(self) -> EuropeanOption | AsianOption | Portfolio:
        return workload_from_spec(self.spec)

    def vector(self) -> dict[str, float]:
        """Numeric features keyed (in order) by :data:`WORKLOAD_FEATURES`."""
        return dict(zip(WORKLOAD_FEATURES, self.values, strict=True))


def _draws_per_sim(workload: Any, kind: str) -> float:
    """Random draws one simulation needs: one normal per path step, one count per compound draw, one per claim."""
    if kind == "european":
        return 1.0
    if kind == "asian":
        return float(workload.n_steps)
    return sum((1 if g.pooled else g.n_policies) + g.expected_claims() for g in workload.groups)


def _values(workload: Any, kind: str, n_sims: int) -> dict[str, float]:
    v: dict[str, float] = dict.fromkeys(WORKLOAD_FEATURES, 0.0)
    v[f"is_{kind}"] = 1.0
    v["log10_n_sims"] = math.log10(n_sims)
    if kind in _OPTIONS:
        steps = workload.n_steps if kind == "asian" else 1
        v["n_steps"] = float(steps)
        v["log10_steps"] = math.log10(steps)
    if kind == "portfolio":
        groups = workload.groups
        v["log10_policies"] = math.log10(1 + workload.n_policies)
        v["groups"] = float(len(groups))
        v["log10_expected_claims"] = math.log10(1 + workload.expected_claims())
        v["pooled_fraction"] = sum(g.pooled for g in groups) / len(groups)
        for g in groups:
            v[f"freq_{g.frequency.family}"] += 1.0
            v[f"sev_{g.severity.family}"] += 1.0
        v["has_aggregate_terms"] = float(any(g.terms.has_aggregate_terms for g in groups))
    draws = _draws_per_sim(workload, kind)
    v["log10_draws_per_sim"] = math.log10(1 + draws)
    v["log10_bytes_per_sim"] = math.log10(max(bytes_per_sim(workload), 1.0))
    v["log10_total_draws"] = math.log10(max(draws * n_sims, 1.0))
    return v


def workload_features(workload: EuropeanOption | AsianOption | Portfolio, n_sims: int) -> WorkloadFeatures:
    """Key, spec and feature vector of ``workload`` simulated ``n_sims`` times.

    Raises:
        ValueError: when ``workload`` is not a Portfolio, EuropeanOption or AsianOption, or
            ``n_sims`` is not an integer >= 2.
    """
    kind = workload_kind(workload)  # raises ValueError naming `workload`
    if isinstance(n_sims, bool) or not isinstance(n_sims, numbers.Integral):
        raise ValueError(f"n_sims must be an integer >= 2, got {n_sims!r}")
    n_sims = int(n_sims)
    if n_sims < 2:
        raise ValueError(f"n_sims must be an integer >= 2, got {n_sims}")
    spec = _spec(workload, kind)
    spec_json = json.dumps(spec, sort_keys=True, separators=(",", ":"), allow_nan=False)
    payload = json.dumps({"n_sims": n_sims, "spec": spec, "version": WORKLOAD_KEY_VERSION}, sort_keys=True,
                         separators=(",", ":"), allow_nan=False)
    key = f"{kind}-{hashlib.sha256(payload.encode('utf-8')).hexdigest()[:16]}"
    values = _values(workload, kind, n_sims)
    return WorkloadFeatures(key=key, kind=kind, n_sims=n_sims, spec_json=spec_json,
                            values=tuple(float(values[k]) for k in WORKLOAD_FEATURES))
