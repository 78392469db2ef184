"""The small interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .._chunks import Chunk
    from .._config import Config
    from .._workloads import Workload


class Backend(ABC):
    """A way of computing chunks of a simulation.

    Contract:
        * :meth:`prepare` does the one-time work for a (workload, config, chunk size)
          in this process: JIT compilation, loading a compile cache, allocating a
          device. It is idempotent and cheap once done. :func:`kernels.simulate`
          times it as overhead, apart from steady-state compute.
        * :meth:`run_chunk` fills ``out`` with the chunk's output in the layout of
          :mod:`kernels._estimators` (a statistics row for options, the per-sim
          annual losses for portfolios), drawing only from ``chunk.seed`` (and
          ``chunk.scramble_seed`` with QMC), so that its numbers depend on the chunk
          alone. It must be safe to call from several threads at once.
        * :meth:`group_chunks` and :meth:`run_group` (optional) let a backend value several
          chunks in one call; each chunk's output must equal, bit for bit, what
          :meth:`run_chunk` writes for it. By default every chunk is its own group.
        * The estimate must be the same quantity for every config: a backend may
          differ from another only by its own Monte Carlo error.
    """

    name: str = ""

    @abstractmethod
    def prepare(self, workload: Workload, config: Config, chunk_size: int) -> None:
        """Do the one-time work (compile, warm up) for this workload and config in this process."""

    @abstractmethod
    def run_chunk(self, workload: Workload, config: Config, chunk: Chunk, out: np.ndarray) -> None:
        """Compute one chunk and write its output into ``out``."""

    def group_chunks(self, workload: Workload, config: Config, chunks: Sequence[Chunk]) -> list[list[int]]:
        """Positions in ``chunks`` that :meth:`run_group` values together; every position in one group."""
        return [[i] for i in range(len(chunks))]

    def run_group(
        self, workload: Workload, config: Config, chunks: Sequence[Chunk], outs: Sequence[np.ndarray]
    ) -> None:
        """Compute a group of chunks (one of :meth:`group_chunks`), writing chunk ``k``'s output into ``outs[k]``."""
        for chunk, out in zip(chunks, outs, strict=True):
            self.run_chunk(workload, config, chunk, out)


def float_dtype(config: Config) -> type[np.floating]:
    """The numpy dtype for per-path arithmetic under ``config.precision``."""
    return np.float32 if config.precision == "float32" else np.float64
