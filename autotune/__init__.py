"""autotune: adaptive auto-tuning for Monte Carlo risk and pricing kernels.

The public face: :func:`tuned_simulate` runs a simulation with the fastest known config, and
:func:`tune` runs an offline tuning session; the packages
:mod:`autotune.features`, :mod:`autotune.space`, :mod:`autotune.measure`,
:mod:`autotune.storage` and :mod:`autotune.tuner` hold the parts.
"""

from ._errors import AutotuneError, MeasurementError, ModelSchemaError, NotFittedError, SchemaVersionError, StorageError
from ._outcome import Outcome
from .api import Decision, TunedResult, predict_config, tuned_simulate
from .features import machine_fingerprint, workload_features
from .measure import Measurement, MeasureOptions, measure
from .space import search_space
from .storage import open_storage
from .tuner import TuningReport, tune

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
    "StorageError",
    "TunedResult",
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
