"""Chunk planning and per-chunk seeding.

A simulation of ``n_sims`` is cut into chunks of at most ``chunk_size``. Each
chunk draws from its own stream, spawned from the run's ``SeedSequence`` by the
chunk's index alone, so a chunk's numbers do not depend on which worker runs it,
on the executor, or on how many chunks there are.

With QMC the sims are split into ``qmc_scrambles`` replicates; replicate ``r``
is one independently scrambled Sobol sequence, and its points are cut into
chunks at offsets within that sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ._limits import DEFAULT_QMC_SCRAMBLES, MAX_CHUNKS
from ._workloads import AsianOption, EuropeanOption, Portfolio, Workload

# Spawn-key namespaces, so that pseudo-random chunk streams, scramble seeds and
# the auxiliary streams of QMC chunks never coincide.
_PRNG, _SCRAMBLE, _QMC_AUX = 0, 1, 2

# Target for the working memory of one chunk when chunk_size is automatic.
AUTO_CHUNK_BYTES = 64 * 2**20
MIN_AUTO_CHUNK = 4096
AUTO_CHUNKS = 64
# Automatic chunks hold at least this many random draws, so that a chunk's fixed cost (its seed,
# its generator, one call into the backend: tens of microseconds) stays a few per cent of its work
# even where one simulation is a single draw (a European path: 65,536 paths take about 0.6 ms).
MIN_CHUNK_DRAWS = 2**16
# Paths the numpy backend values at once within a European chunk: a block's temporaries (a dozen
# arrays) stay in a core's cache. Measured on 1e6 paths: 16,384-path blocks are 1.4x faster than 65,536.
EUROPEAN_BLOCK = 16384
# Automatic chunks stay at MIN_AUTO_CHUNK sims or more unless that would take more than this.
MAX_AUTO_CHUNK_BYTES = 2**30


@dataclass(frozen=True)
class Chunk:
    """One unit of work.

    Attributes:
        index: position in the plan (0-based); options write their statistics row here.
        start: index of the chunk's first simulation in the run; portfolios write per-sim losses at
            ``[start, start + size)``.
        size: simulations in the chunk.
        replicate: the QMC scramble the chunk belongs to, or -1 for pseudo-random.
        offset: position of the chunk's first point in its replicate's Sobol sequence.
        seed_root: the ``SeedSequence`` that :attr:`seed` is spawned from by ``seed_key``, or (with an
            empty key) :attr:`seed` itself.
        scramble_seed: with QMC, the replicate's ``SeedSequence`` for scrambling; otherwise None.
        seed_key: the chunk's spawn key below ``seed_root``.
    """

    index: int
    start: int
    size: int
    replicate: int
    offset: int
    seed_root: np.random.SeedSequence
    scramble_seed: np.random.SeedSequence | None = None
    seed_key: tuple[int, ...] = ()

    @cached_property
    def seed(self) -> np.random.SeedSequence:
        """The chunk's own ``SeedSequence`` (pseudo-random draws; with QMC, the draws that are not
        quasi-random, e.g. claim sizes).

        Spawned on first use, by the worker that runs the chunk: planning a run makes no
        ``SeedSequence`` per chunk (~6 us each, on the calling thread before any work starts), and
        chunks that never draw (quasi-random options) never make theirs.
        """
        return _child(self.seed_root, *self.seed_key) if self.seed_key else self.seed_root


def _child(root: np.random.SeedSequence, *key: int) -> np.random.SeedSequence:
    return np.random.SeedSequence(root.entropy, spawn_key=tuple(root.spawn_key) + key)


def plan_chunks(
    n_sims: int, chunk_size: int, root: np.random.SeedSequence, *, qmc: bool = False,
    scrambles: int = DEFAULT_QMC_SCRAMBLES,
) -> list[Chunk]:
    """Cut ``n_sims`` into chunks and give each its seed."""
    chunks: list[Chunk] = []
    if not qmc:
        for index, start in enumerate(range(0, n_sims, chunk_size)):
            size = min(chunk_size, n_sims - start)
            chunks.append(Chunk(index, start, size, -1, 0, root, seed_key=(_PRNG, index)))
        return chunks
    base, extra = divmod(n_sims, scrambles)
    start = 0
    for r in range(scrambles):
        n_r = base + (1 if r < extra else 0)
        scramble = _child(root, _SCRAMBLE, r)
        for offset in range(0, n_r, chunk_size):
            size = min(chunk_size, n_r - offset)
            index = len(chunks)
            chunks.append(Chunk(index, start, size, r, offset, root, scramble, (_QMC_AUX, index)))
            start += size
    return chunks


def count_chunks(n_sims: int, chunk_size: int, *, qmc: bool = False, scrambles: int = DEFAULT_QMC_SCRAMBLES) -> int:
    """How many chunks :func:`plan_chunks` makes, without making them (O(1))."""
    if not qmc:
        return -(-n_sims // chunk_size)
    base, extra = divmod(n_sims, scrambles)
    return extra * -(-(base + 1) // chunk_size) + (scrambles - extra) * -(-base // chunk_size)


def bytes_per_sim(workload: Workload, itemsize: int = 8) -> float:
    """Rough working memory of one simulation (one path; an antithetic pair needs twice it)."""
    if isinstance(workload, EuropeanOption):
        return 8 * itemsize
    if isinstance(workload, AsianOption):
        return 3 * workload.n_steps * itemsize
    if isinstance(workload, Portfolio):
        claims = workload.expected_claims()
        per_policy = sum(g.n_policies for g in workload.groups if not g.pooled)
        # draws, payments, cumulative sums (float64) and counts (int64) per claim; counts per policy
        return claims * (2 * itemsize + 16) + per_policy * 24 + 32
    raise ValueError(f"unknown workload type {type(workload).__name__}")


def draws_per_sim(workload: Workload) -> float:
    """Expected random draws of one simulation: the unit of work that sizes automatic chunks."""
    if isinstance(workload, EuropeanOption):
        return 1.0
    if isinstance(workload, AsianOption):
        return float(workload.n_steps)
    if isinstance(workload, Portfolio):
        counts = sum(1 if g.pooled else g.n_policies for g in workload.groups)
        return workload.expected_claims() + counts
    raise ValueError(f"unknown workload type {type(workload).__name__}")


def auto_chunk_size(workload: Workload, n_sims: int) -> int:
    """The chunk size used when ``Config.chunk_size`` is None.

    A power of two that cuts the run into about ``AUTO_CHUNKS`` chunks (so that
    parallel workers have work to share, and the choice does not depend on the
    worker count), at least ``MIN_AUTO_CHUNK`` sims and ``MIN_CHUNK_DRAWS`` random
    draws (:func:`draws_per_sim`), and small enough that one
    chunk needs about ``AUTO_CHUNK_BYTES`` of working memory at most. Two
    exceptions: where ``MIN_AUTO_CHUNK`` sims would need more than
    ``MAX_AUTO_CHUNK_BYTES``, the memory target wins (down to one sim); and the
    run never has more than ``MAX_CHUNKS / 2`` chunks (huge runs get larger chunks).
    """
    per_sim = max(bytes_per_sim(workload), 1.0)
    memory_cap = int(AUTO_CHUNK_BYTES // per_sim)
    if memory_cap < MIN_AUTO_CHUNK and MIN_AUTO_CHUNK * per_sim <= MAX_AUTO_CHUNK_BYTES:
        memory_cap = MIN_AUTO_CHUNK
    smallest = max(MIN_AUTO_CHUNK, 1 << (int(MIN_CHUNK_DRAWS / max(draws_per_sim(workload), 1.0))).bit_length() - 1)
    size = max(1, min(memory_cap, max(smallest, n_sims // AUTO_CHUNKS)))
    size = 1 << (size.bit_length() - 1)
    fewest = -(-n_sims // (MAX_CHUNKS // 2))  # smallest size that keeps the plan within MAX_CHUNKS / 2
    if size < fewest:
        size = 1 << (fewest - 1).bit_length()
    return int(min(size, n_sims))
