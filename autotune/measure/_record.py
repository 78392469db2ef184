"""The one measurement record: what was run, how it ended, and timings with fixed meanings."""

from __future__ import annotations

import datetime
import functools
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kernels import Config

from .._outcome import Outcome, Source

__all__ = ["Measurement", "config_id", "config_key", "headline", "new_uid", "utcnow"]


def utcnow() -> datetime.datetime:
    """The current time as an aware UTC datetime."""
    return datetime.datetime.now(datetime.UTC)


def new_uid() -> str:
    """A globally unique measurement id (32 hex digits)."""
    return uuid.uuid4().hex


# Config knobs added after ids were first stored, with their defaults (see config_id).
_ADDED_KNOBS: dict[str, Any] = {"antithetic": False, "control_variate": False, "method": "mc",
                                 "discretisation": "moments"}
_NO_DEFAULT = object()
_NON_QMC_SCRAMBLES = 16


def config_id(knobs: Mapping[str, Any]) -> str:
    """A stable id for a config: the SHA-256 (first 16 hex digits) of its canonical JSON.

    Canonical JSON sorts keys and has no whitespace, so equal knob dicts give equal ids
    in every process and on every machine. Knobs added to ``kernels.Config`` later
    (``_ADDED_KNOBS``) are left out at their default, so a config keeps the id it had before
    they existed; ``qmc_scrambles`` of a config without ``qmc`` (meaningless) is hashed as 16, the
    value such configs had before the default became 32, so they keep their ids too.

    Raises:
        ValueError: the knobs are not JSON-serialisable.
    """
    knobs = {k: v for k, v in dict(knobs).items() if _ADDED_KNOBS.get(k, _NO_DEFAULT) != v}
    if not knobs.get("qmc", False) and "qmc_scrambles" in knobs:
        # Without qmc the scrambles mean nothing; such configs were stored with 16 (the default before 32).
        knobs["qmc_scrambles"] = _NON_QMC_SCRAMBLES
    try:
        canonical = json.dumps(knobs, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ValueError(f"config knobs must be JSON-serialisable (e.g. Config.to_dict()), got {knobs!r}") from err
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


@functools.lru_cache(maxsize=4096)
def config_key(config: Config) -> str:
    """:func:`config_id` of a :class:`kernels.Config` (memoised: configs are frozen)."""
    return config_id(config.to_dict())


def headline(result_estimates: Mapping[str, float]) -> str:
    """The estimate that represents a run: ``price`` for options, ``mean`` for portfolios."""
    return "price" if "price" in result_estimates else "mean"


def _optional_float(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"Measurement.{name} must be a number or None, got {value!r}")
    return float(value)


def _float_map(name: str, value: Any) -> dict[str, float]:
    if not isinstance(value, Mapping):
        raise ValueError(f"Measurement.{name} must be a mapping of estimate name to number, got {value!r}")
    out = {}
    for key, x in value.items():
        if not isinstance(key, str) or isinstance(x, bool) or not isinstance(x, int | float):
            raise ValueError(f"Measurement.{name} must map names to numbers, got {key!r}: {x!r}")
        out[key] = float(x)
    return out


@dataclass(frozen=True, kw_only=True)
class Measurement:
    """One timed (or failed) run of one config on one workload on one machine.

    The same record is produced by the tuner's harness, by ``tuned_simulate``'s online recording,
    by profiling and by benchmarks, written by :class:`autotune.storage.ResultsLog` and read back
    from the store. Its times mean the same whoever measured them:

    Attributes:
        config: how the run computed (a :class:`kernels.Config`).
        outcome: how it ended (:class:`autotune.Outcome`).
        n_sims: simulations per run.
        steady_s: median wall time of one whole ``kernels.simulate`` call in steady state, that is
            after the first call of this config on this workload in the measuring process. ``None``
            when no steady-state call was timed (a failure, or an online call that was a first call).
        iqr_s: interquartile range of ``samples``.
        samples: the wall time of every steady-state call timed.
        first_call_s: wall time of the first ``simulate`` call of this config on this workload in the
            measuring process (JIT compile, pool start and steady work together). ``None`` when the
            measured call was not a first call.
        peak_memory_bytes: peak resident memory the run added, if measured.
        error: why it failed, timed out or was rejected.
        accuracy_z: the accuracy gate's largest normalised difference from the reference.
        estimates, standard_errors: the run's estimates and their standard errors at ``n_sims``.
        machine_id, workload_id: keys of the machine and workload (set by whoever records it).
        source: who measured it (:class:`autotune.Source`).
        session_id: the tuning session it belongs to (local to one database), if any.
        versions: library versions the run used.
        uid: globally unique id, so rows can move between databases without duplicates.
        created_at: aware UTC time of the measurement.
        legacy_timing: True for rows migrated from schema 1 whose ``steady_s`` was the kernel's
            compute time rather than the whole call's wall time; models never train on them.
    """

    config: Config
    outcome: Outcome
    n_sims: int
    steady_s: float | None = None
    iqr_s: float | None = None
    samples: tuple[float, ...] = ()
    first_call_s: float | None = None
    peak_memory_bytes: int | None = None
    error: str | None = None
    accuracy_z: float | None = None
    estimates: Mapping[str, float] = field(default_factory=dict, hash=False)
    standard_errors: Mapping[str, float] = field(default_factory=dict, hash=False)
    machine_id: str | None = None
    workload_id: str | None = None
    source: Source = Source.TUNE
    session_id: int | None = None
    versions: Mapping[str, Any] = field(default_factory=dict, hash=False)
    uid: str = field(default_factory=new_uid)
    created_at: datetime.datetime = field(default_factory=utcnow)
    legacy_timing: bool = False

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        if not isinstance(self.config, Config):
            raise ValueError(f"Measurement.config must be a kernels.Config, got {self.config!r}")
        try:
            set_(self, "outcome", Outcome(self.outcome))
        except ValueError:
            raise ValueError(f"Measurement.outcome must be one of {[o.value for o in Outcome]}, "
                             f"got {self.outcome!r}") from None
        try:
            set_(self, "source", Source(self.source))
        except ValueError:
            raise ValueError(f"Measurement.source must be one of {[s.value for s in Source]}, "
                             f"got {self.source!r}") from None
        if isinstance(self.n_sims, bool) or not isinstance(self.n_sims, int) or self.n_sims < 1:
            raise ValueError(f"Measurement.n_sims must be a positive int, got {self.n_sims!r}")
        for name in ("steady_s", "iqr_s", "first_call_s", "accuracy_z"):
            set_(self, name, _optional_float(name, getattr(self, name)))
        set_(self, "samples", tuple(float(s) for s in self.samples))
        set_(self, "estimates", _float_map("estimates", self.estimates))
        set_(self, "standard_errors", _float_map("standard_errors", self.standard_errors))
        set_(self, "versions", dict(self.versions))
        if self.outcome is Outcome.COMPLETE:
            timed = [t for t in (self.steady_s, self.first_call_s) if t is not None]
            if not timed or not all(math.isfinite(t) and t >= 0 for t in timed):
                raise ValueError("a COMPLETE measurement needs a finite steady_s or first_call_s, "
                                 f"got {self.steady_s!r} and {self.first_call_s!r}")
        if self.created_at.tzinfo is None:
            raise ValueError(f"Measurement.created_at must be timezone-aware (UTC), got {self.created_at!r}")

    @property
    def ok(self) -> bool:
        """Whether the run completed and passed the accuracy gate."""
        return self.outcome is Outcome.COMPLETE

    @property
    def config_id(self) -> str:
        """The stable id of :attr:`config` (see :func:`autotune.storage.config_id`)."""
        return config_key(self.config)

    @property
    def one_off_s(self) -> float | None:
        """What the first call cost beyond a steady-state call (compile, pool start), when both were timed."""
        if self.first_call_s is None or self.steady_s is None:
            return None
        return max(self.first_call_s - self.steady_s, 0.0)

    @property
    def headline(self) -> str | None:
        """The estimate that represents the run (see :func:`headline`); None when it has no estimates."""
        return headline(self.estimates) if self.estimates else None
