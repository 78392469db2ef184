"""autotune: adaptive auto-tuning for Monte Carlo risk and pricing kernels."""

from ._errors import AutotuneError, MeasurementError, ModelSchemaError, NotFittedError, SchemaVersionError, StorageError
from ._outcome import Outcome

__all__ = [
    "AutotuneError",
    "MeasurementError",
    "ModelSchemaError",
    "NotFittedError",
    "Outcome",
    "SchemaVersionError",
    "StorageError",
]
