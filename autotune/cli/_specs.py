"""Workload spec files (TOML or YAML) and built-in suite names, as the ``autotune`` command reads them.

A spec file holds one or more workloads and, optionally, tuning settings::

    [tune]                      # optional; command-line options override it
    budget_trials = 30
    budget_seconds = 120
    sampler = "auto"            # auto | brute | tpe | random
    backends = ["numpy", "numba"]
    qmc = false                 # also search quasi-random configs (default: true)

    [[workload]]
    name = "atm-call"           # optional; shown in tables
    kind = "european"           # european | asian | portfolio
    n_sims = 1_000_000
    S0 = 100.0
    K = 100.0
    T = 1.0
    r = 0.03
    sigma = 0.2
    payoff = "call"             # call | put (options only; default call)

    [[workload]]
    kind = "portfolio"
    n_sims = 50_000
    levels = [0.99, 0.995]
    [[workload.groups]]
    n_policies = 1000
    frequency = { family = "poisson", lam = 0.1 }
    severity = { family = "lognormal", mu = 8.0, sigma = 1.2 }
    terms = { deductible = 500.0, limit = 100000.0 }

YAML files have the same structure. Every error names the file and the entry
(``book.toml: workload[1] (motor).groups[0].severity.sigma: ...``).
"""

from __future__ import annotations

import math
import numbers
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from kernels import (
    DEFAULT_MAX_SIMS,
    FREQUENCIES,
    SEVERITIES,
    AsianOption,
    EuropeanOption,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    Workload,
)

from .._errors import AutotuneError
from ..suites import SUITES, Suite, SuiteEntry

__all__ = ["SpecError", "SpecFile", "load_spec"]

_OPTION_FIELDS = ("S0", "K", "T", "r", "sigma", "q", "payoff")
_ASIAN_FIELDS = ("n_steps",)
_MOVED = ("control_variate", "antithetic")  # Config knobs now: the tuner chooses them
_COMMON = ("name", "kind", "n_sims", "seed", "target")
_TARGET_FIELDS = ("atol", "rtol", "estimate", "confidence")
_TUNE_FIELDS = {"budget_trials": int, "budget_seconds": float, "sampler": str, "backends": list, "qmc": bool,
                "seed": int}


class SpecError(AutotuneError, ValueError):
    """A spec file (or suite name) that cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class SpecFile:
    """What a SPEC argument names: workloads and tuning settings.

    Attributes:
        source: the file path, or ``suite:NAME``.
        entries: the workloads (name, workload, n_sims).
        tune: tuning settings from the file's ``[tune]`` table (empty for suites).
        suite: the built-in suite, when SPEC named one.
        seeds: per-entry seed (``None``: not given).
    """

    source: str
    entries: tuple[SuiteEntry, ...]
    tune: dict[str, Any] = field(default_factory=dict)
    suite: Suite | None = None
    seeds: tuple[int | None, ...] = ()


def load_spec(spec: str) -> SpecFile:
    """Read a spec file (``.toml``, ``.yaml`` or ``.yml``) or a built-in suite name.

    Raises:
        SpecError: an unknown suite, a missing or unreadable file, or a bad entry (the message
            names the file, the entry and the field).
    """
    if spec in SUITES:
        suite = SUITES[spec]
        return SpecFile(source=f"suite:{spec}", entries=suite.entries, suite=suite,
                        seeds=(None,) * len(suite.entries))
    path = Path(spec)
    if path.suffix.lower() not in (".toml", ".yaml", ".yml"):
        raise SpecError(f"SPEC {spec!r} is neither a built-in suite ({', '.join(sorted(SUITES))}) nor a "
                        ".toml/.yaml/.yml workload spec file")
    if not path.is_file():
        raise SpecError(f"spec file {spec} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"cannot read spec file {spec}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(f"{path.name}: not valid TOML: {exc}") from None
    except yaml.YAMLError as exc:
        raise SpecError(f"{path.name}: not valid YAML: {exc}") from None
    return _parse(data, path.name, str(path))


def _parse(data: Any, where: str, source: str) -> SpecFile:
    if not isinstance(data, Mapping):
        raise SpecError(f"{where}: the top level must be a table with `workload` entries, got {type(data).__name__}")
    unknown = sorted(set(data) - {"workload", "workloads", "tune"})
    if unknown:
        raise SpecError(f"{where}: unknown top-level keys {unknown}; allowed: workload (or workloads), tune")
    if "workload" in data and "workloads" in data:
        raise SpecError(f"{where}: give `workload` or `workloads`, not both")
    raw = data.get("workload", data.get("workloads"))
    if raw is None:
        raise SpecError(f"{where}: no workload: add a [[workload]] table (kind, n_sims, ...)")
    if isinstance(raw, Mapping):
        raw = [raw]
    if not isinstance(raw, list) or not raw:
        raise SpecError(f"{where}: `workload` must be a table or a non-empty list of tables")
    entries, seeds, names = [], [], set()
    for i, item in enumerate(raw):
        entry, seed = _workload(item, f"{where}: workload[{i}]", i)
        if entry.name in names:
            raise SpecError(f"{where}: workload[{i}].name {entry.name!r} is used twice; names must be unique")
        names.add(entry.name)
        entries.append(entry)
        seeds.append(seed)
    tune = _tune(data.get("tune", {}), f"{where}: tune")
    return SpecFile(source=source, entries=tuple(entries), tune=tune, seeds=tuple(seeds))


def _tune(raw: Any, where: str) -> dict[str, Any]:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be a table")
    out: dict[str, Any] = {}
    for key, value in raw.items():
        kind = _TUNE_FIELDS.get(key)
        if kind is None:
            raise SpecError(f"{where}.{key}: unknown setting; allowed: {sorted(_TUNE_FIELDS)}")
        if kind is float and _is_number(value):
            value = float(value)
        if kind is int and _is_number(value) and float(value).is_integer():
            value = int(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise SpecError(f"{where}.{key} must be a {kind.__name__}, got {value!r}")
        if key == "backends" and not all(isinstance(b, str) for b in value):
            raise SpecError(f"{where}.backends must be a list of backend names, got {value!r}")
        out[key] = value
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _workload(item: Any, where: str, index: int) -> tuple[SuiteEntry, int | None]:
    if not isinstance(item, Mapping):
        raise SpecError(f"{where} must be a table, got {type(item).__name__}")
    name = item.get("name", f"workload-{index}")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where}.name must be a non-empty string, got {name!r}")
    where = f"{where} ({name})" if "name" in item else where
    kind = item.get("kind")
    allowed = {"european": _COMMON + _OPTION_FIELDS, "asian": _COMMON + _OPTION_FIELDS + _ASIAN_FIELDS,
               "portfolio": (*_COMMON, "groups", "levels")}
    if kind not in allowed:
        raise SpecError(f"{where}.kind must be one of {sorted(allowed)}, got {kind!r}")
    moved = sorted(set(item) & set(_MOVED))
    if moved:
        raise SpecError(f"{where}: {moved} are no longer workload fields: variance reduction is a Config knob "
                        "that the tuner chooses; remove them (give a `target` to tune for a precision)")
    unknown = sorted(set(item) - set(allowed[kind]))
    if unknown:
        raise SpecError(f"{where}: unknown fields {unknown} for kind {kind!r}; allowed: {sorted(allowed[kind])}")
    target = _target(item["target"], f"{where}.target") if "target" in item else None
    if "n_sims" not in item and target is None:
        raise SpecError(f"{where}.n_sims is missing: how many simulations per run (an integer >= 2), or give a "
                        "`target` = {{ atol = ..., rtol = ..., estimate = ... }} to run to a precision")
    n_sims = item.get("n_sims", DEFAULT_MAX_SIMS)
    if isinstance(n_sims, bool) or not isinstance(n_sims, int) or n_sims < 2:
        raise SpecError(f"{where}.n_sims must be an integer >= 2, got {n_sims!r}")
    seed = item.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise SpecError(f"{where}.seed must be a non-negative integer, got {seed!r}")
    params = {k: v for k, v in item.items() if k not in _COMMON}
    workload: Workload
    if kind == "portfolio":
        workload = _portfolio(params, where)
    else:
        if "payoff" in params:
            params["kind"] = params.pop("payoff")
        missing = [f for f in ("S0", "K", "T", "r", "sigma") if f not in params]
        if missing:
            raise SpecError(f"{where}: missing fields {missing} for a {kind} option")
        workload = _build(EuropeanOption if kind == "european" else AsianOption, params, where)
    if target is not None:
        try:
            target.names(workload)
        except ValueError as exc:
            raise SpecError(f"{where}.target: {exc}") from None
    return SuiteEntry(name, workload, n_sims, target), seed


def _target(raw: Any, where: str) -> Target:
    if not isinstance(raw, Mapping):
        raise SpecError(f"{where} must be a table such as {{ rtol = 1e-3, estimate = \"price\" }}")
    unknown = sorted(set(raw) - set(_TARGET_FIELDS))
    if unknown:
        raise SpecError(f"{where}: unknown fields {unknown}; allowed: {list(_TARGET_FIELDS)}")
    params = dict(raw)  # Target takes a list of estimates as a tuple
    for key in ("atol", "rtol", "confidence"):
        if _is_number(params.get(key)):
            params[key] = float(params[key])
    try:
        return Target(**params)
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{where}: {exc}") from None


def _build(cls: type, params: Mapping[str, Any], where: str) -> Any:
    """``cls(**params)``, with the kernel's own validation message prefixed by the entry."""
    try:
        return cls(**{k: _number(v) for k, v in params.items()})
    except (ValueError, TypeError) as exc:
        raise SpecError(f"{where}: {exc}") from None


def _number(value: Any) -> Any:
    # YAML has .inf, TOML has inf; a string "inf" is accepted too (JSON-like files).
    if isinstance(value, str) and value.strip().lower() in ("inf", "+inf", "infinity"):
        return math.inf
    return value


def _distribution(raw: Any, registry: Mapping[str, type], where: str) -> Any:
    if not isinstance(raw, Mapping) or "family" not in raw:
        raise SpecError(f"{where} must be a table with a `family` ({', '.join(sorted(registry))}) and its "
                        "parameters")
    family = raw["family"]
    if family not in registry:
        raise SpecError(f"{where}.family must be one of {sorted(registry)}, got {family!r}")
    return _build(registry[family], {k: v for k, v in raw.items() if k != "family"}, f"{where} ({family})")


def _portfolio(params: Mapping[str, Any], where: str) -> Portfolio:
    groups = params.get("groups")
    if not isinstance(groups, list) or not groups:
        raise SpecError(f"{where}.groups must be a non-empty list of policy groups "
                        "(n_policies, frequency, severity, terms)")
    built = []
    for j, g in enumerate(groups):
        at = f"{where}.groups[{j}]"
        if not isinstance(g, Mapping):
            raise SpecError(f"{at} must be a table")
        unknown = sorted(set(g) - {"n_policies", "frequency", "severity", "terms"})
        if unknown:
            raise SpecError(f"{at}: unknown fields {unknown}; allowed: frequency, n_policies, severity, terms")
        for needed in ("n_policies", "frequency", "severity"):
            if needed not in g:
                raise SpecError(f"{at}.{needed} is missing")
        terms = g.get("terms", {})
        if not isinstance(terms, Mapping):
            raise SpecError(f"{at}.terms must be a table (deductible, limit, aggregate_deductible, aggregate_limit)")
        frequency = _distribution(g["frequency"], FREQUENCIES, f"{at}.frequency")
        severity = _distribution(g["severity"], SEVERITIES, f"{at}.severity")
        pterms = _build(PolicyTerms, terms, f"{at}.terms")
        built.append(_build(PolicyGroup, {"n_policies": g["n_policies"], "frequency": frequency,
                                          "severity": severity, "terms": pterms}, at))
    extra = {"levels": tuple(params["levels"])} if isinstance(params.get("levels"), list) else \
        ({"levels": params["levels"]} if "levels" in params else {})
    return _build(Portfolio, {"groups": built, **extra}, where)
