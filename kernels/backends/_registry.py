"""The backend registry: backend names, their import paths, and the per-process instances.

This module imports nothing else from :mod:`kernels`, so that
:mod:`kernels._config` can validate ``Config.backend`` against it without an
import cycle. Backend classes are imported lazily, on first use, by
:func:`get_backend`, so ``import kernels`` does not import numba or jax.
"""

from __future__ import annotations

import importlib
import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._base import Backend

__all__ = [
    "BUILTIN_BACKENDS",
    "BackendUnavailableError",
    "adopt_registry",
    "backend_names",
    "get_backend",
    "register_backend",
    "registry",
]

_PATHS: dict[str, str] = {
    "numpy": "kernels.backends.numpy_backend:NumpyBackend",
    "numba": "kernels.backends.numba_backend:NumbaBackend",
    "jax": "kernels.backends.jax_backend:JaxBackend",
}
BUILTIN_BACKENDS: tuple[str, ...] = tuple(_PATHS)
"""The backends that ship with :mod:`kernels`, in a fixed order."""

_EXTRAS = {"numba": "numba", "jax": "jax"}
_INSTANCES: dict[str, Backend] = {}
_LOCK = threading.Lock()


class BackendUnavailableError(ImportError):
    """A backend's library is not installed."""


def backend_names() -> tuple[str, ...]:
    """Names accepted by ``Config.backend``: the built-in ones, then any registered later."""
    return tuple(_PATHS)


def register_backend(name: str, path: str) -> None:
    """Register a backend class by import path ``"package.module:ClassName"``.

    The class is imported on first use, in each process that uses it.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"backend name must be an identifier, got {name!r}")
    if not isinstance(path, str) or ":" not in path:
        raise ValueError(f"backend path must look like 'package.module:ClassName', got {path!r}")
    _PATHS[name.lower()] = path
    _INSTANCES.pop(name.lower(), None)


def registry() -> dict[str, str]:
    """A snapshot of every registered backend (name -> import path), to hand to another process."""
    return dict(_PATHS)


def adopt_registry(paths: dict[str, str]) -> None:
    """Register, in this process, the backends of another process's :func:`registry` that are new here."""
    for name, path in paths.items():
        if _PATHS.get(name) != path:
            register_backend(name, path)


def _import_backend(name: str) -> Backend:
    module_name, _, attr = _PATHS[name].partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = _EXTRAS.get(name)
        missing = getattr(exc, "name", None) or ""
        if extra is None or missing.split(".")[0] not in (extra, "jaxlib", "llvmlite"):
            raise
        raise BackendUnavailableError(
            f"backend {name!r} needs the {extra!r} package, which could not be imported ({exc}); "
            f"install it with: pip install {extra}"
        ) from exc
    return getattr(module, attr)()


def get_backend(name: str) -> Backend:
    """The (per-process, shared) instance of the named backend."""
    try:
        return _INSTANCES[name]
    except KeyError:
        pass
    with _LOCK:
        if name not in _INSTANCES:
            if name not in _PATHS:
                raise ValueError(f"unknown backend {name!r}; known backends are {sorted(_PATHS)}")
            _INSTANCES[name] = _import_backend(name)
        return _INSTANCES[name]
