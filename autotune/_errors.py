"""The exception hierarchy: one root, specific subclasses."""

from __future__ import annotations

__all__ = [
    "AutotuneError",
    "MeasurementError",
    "ModelSchemaError",
    "NotFittedError",
    "SchemaVersionError",
    "StorageError",
    "TuningError",
]


class AutotuneError(Exception):
    """Root of every error autotune raises on purpose."""


class StorageError(AutotuneError):
    """The results database could not be opened, read or written."""


class SchemaVersionError(StorageError):
    """The database was written by a different schema version than this library understands."""


class MeasurementError(AutotuneError):
    """A measurement could not be taken (the harness itself failed, not the config)."""


class NotFittedError(AutotuneError, ValueError):
    """A model was used before ``fit``."""


class ModelSchemaError(AutotuneError):
    """A stored model was trained on a different feature schema."""


class TuningError(AutotuneError):
    """A tuning session ended without a usable result (no config completed)."""
