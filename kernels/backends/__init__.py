"""Backends: one module per way of computing chunks, behind :class:`Backend`.

Backends are looked up by name and imported lazily, so ``import kernels`` does
not import numba or jax. Extra backends (for example a deliberately biased one
to test an accuracy gate) can be registered by import path, which also works in
process workers.
"""

from __future__ import annotations

import importlib
import threading

from ._base import Backend, float_dtype

__all__ = ["Backend", "BackendUnavailableError", "backend_names", "float_dtype", "get_backend", "register_backend"]

_PATHS: dict[str, str] = {
    "numpy": "kernels.backends.numpy_backend:NumpyBackend",
    "numba": "kernels.backends.numba_backend:NumbaBackend",
    "jax": "kernels.backends.jax_backend:JaxBackend",
}
_EXTRAS = {"numba": "numba", "jax": "jax"}
_INSTANCES: dict[str, Backend] = {}
_LOCK = threading.Lock()


class BackendUnavailableError(ImportError):
    """A backend's library is not installed."""


def backend_names() -> tuple[str, ...]:
    """Names accepted by ``Config.backend``."""
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
            _INSTANCES[name] = getattr(module, attr)()
        return _INSTANCES[name]
