"""scipy's submodules, imported on first use.

``scipy.special`` and ``scipy.fft`` take about 0.3 s to import together; a module that
names them at import time would make ``import kernels`` (and so ``import autotune`` and
``autotune --help``) pay it before anything is computed.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

__all__ = ["fft", "special"]


class _OnFirstUse:
    """Stands for the module ``name``: the first attribute read imports it, later reads go to it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)


special: Any = _OnFirstUse("scipy.special")
fft: Any = _OnFirstUse("scipy.fft")
