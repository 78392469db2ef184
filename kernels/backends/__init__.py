"""Backends: one module per way of computing chunks, behind :class:`Backend`.

Backends are looked up by name and imported lazily, so ``import kernels`` does
not import numba or jax. Extra backends (for example a deliberately biased one
to test an accuracy gate) can be registered by import path, which also works in
process workers: hand :func:`registry` to the worker and call
:func:`adopt_registry` there. The registry lives in :mod:`._registry`, which
imports nothing from the rest of :mod:`kernels`.
"""

from __future__ import annotations

from ._base import Backend, float_dtype
from ._registry import (
    BUILTIN_BACKENDS,
    BackendUnavailableError,
    adopt_registry,
    backend_names,
    get_backend,
    register_backend,
    registry,
)

__all__ = [
    "BUILTIN_BACKENDS",
    "Backend",
    "BackendUnavailableError",
    "adopt_registry",
    "backend_names",
    "float_dtype",
    "get_backend",
    "register_backend",
    "registry",
]
