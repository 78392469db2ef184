"""Deliberately broken backends, registered by import path so that worker processes find them too."""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from kernels.backends import register_backend
from kernels.backends.numpy_backend import NumpyBackend


class BiasedBackend(NumpyBackend):
    """The numpy backend with every estimate shifted by 5%: fails an accuracy gate."""

    name = "biased"

    def run_chunk(self, workload, config, chunk, out: np.ndarray) -> None:
        super().run_chunk(workload, config, chunk, out)
        if out.ndim == 1 and out.size and out.size != chunk.size:  # a statistics row: scale the sums
            out[1:] *= 1.05
        else:
            out *= 1.05


class FailingBackend(NumpyBackend):
    """Raises in every chunk."""

    name = "failing"

    def run_chunk(self, workload, config, chunk, out: np.ndarray) -> None:
        raise RuntimeError("this backend always fails")


class HangingBackend(NumpyBackend):
    """Never finishes a chunk."""

    name = "hanging"

    def run_chunk(self, workload, config, chunk, out: np.ndarray) -> None:
        time.sleep(3600)


class CrashingBackend(NumpyBackend):
    """Kills its own process, as the out-of-memory killer would."""

    name = "crashing"

    def run_chunk(self, workload, config, chunk, out: np.ndarray) -> None:
        os._exit(137)


class SegfaultingBackend(NumpyBackend):
    """Dies of a segmentation fault, as a broken native extension would."""

    name = "segfaulting"

    def run_chunk(self, workload, config, chunk, out: np.ndarray) -> None:
        os.kill(os.getpid(), signal.SIGSEGV)


def register() -> None:
    for name in ("biased", "failing", "hanging", "crashing", "segfaulting"):
        register_backend(name, f"tests.autotune.fake_backends:{name.capitalize()}Backend")
