"""autotune: adaptive auto-tuning for Monte Carlo risk and pricing kernels.

The public face: :func:`tuned_simulate` runs a simulation with the fastest known config, and
:func:`tune` runs an offline tuning session; the packages
:mod:`autotune.features`, :mod:`autotune.space`, :mod:`autotune.measure`,
:mod:`autotune.storage` and :mod:`autotune.tuner` hold the parts.

Names are imported on first use (PEP 562), so that ``import autotune`` and the processes the
library starts (measurement isolation, worker pools) do not pay for Optuna, SQLAlchemy or
scikit-learn until they need them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    AutotuneError,
    MeasurementError,
    ModelSchemaError,
    NotFittedError,
    SchemaVersionError,
    StorageError,
    TuningError,
)
from ._outcome import Outcome, Source

# Eager: `autotune.measure` is the function (it shadows the subpackage's name, as it always has).
from .measure import Measurement, MeasureOptions, measure

if TYPE_CHECKING:
    from .accuracy import TargetReport
    from .api import Decision, TunedResult, predict_config, tuned_simulate
    from .features import machine_fingerprint, workload_features
    from .space import search_space
    from .storage import open_storage
    from .tuner import TuningReport, tune

_LAZY = {
    "Decision": "api", "TunedResult": "api", "predict_config": "api", "tuned_simulate": "api",
    "machine_fingerprint": "features", "workload_features": "features",
    "search_space": "space", "open_storage": "storage", "TuningReport": "tuner", "tune": "tuner",
    "TargetReport": "accuracy",
}

__all__ = [
    "AutotuneError",
    "Decision",
    "MeasureOptions",
    "Measurement",
    "MeasurementError",
    "ModelSchemaError",
    "NotFittedError",
    "Outcome",
    "SchemaVersionError",
    "Source",
    "StorageError",
    "TargetReport",
    "TunedResult",
    "TuningError",
    "TuningReport",
    "machine_fingerprint",
    "measure",
    "open_storage",
    "predict_config",
    "search_space",
    "tune",
    "tuned_simulate",
    "workload_features",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
