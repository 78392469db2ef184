"""Runs to a :class:`~kernels.Target`: batches of simulations until the confidence interval is narrow enough.

Pseudo-random runs grow chunk by chunk: chunk ``i`` draws from the stream spawned
from the run's seed by ``i``, as in a fixed-size run, so a batch extends the
sample without redrawing it. Quasi-random runs grow every scramble's Sobol
sequence by a power of two (points ``[m, 2^k m)`` of the same scrambled
sequence), so their point sets are nested, as in qmcpy's ``CubQMCNetG``.

The stopping rule:

* a pilot of at least ``PILOT_SIMS`` simulations (``PILOT_POINTS`` points per
  scramble with QMC), and for a tail estimate (VaR, TVaR at level ``p``) enough
  simulations that ``MIN_TAIL_SIMS`` of them fall beyond it;
* after each batch, every named estimate's half-width (normal quantile, or
  Student-t with ``qmc_scrambles - 1`` degrees of freedom for errors that come from
  the scatter of the scrambles) is compared with its tolerance;
* otherwise the next size is projected from the current error: pseudo-random
  errors fall as ``n^-1/2``, so ``n (half / tol)^2`` times ``SAFETY``; quasi-random
  points grow by the power of two that would suffice at the ``n^-1`` rate (at
  least doubling). Growth per batch is at most ``MAX_GROWTH``, so a pilot that
  badly over-states the error cannot waste a lot.

Projecting a little past the required size means the last look usually stops with
room to spare rather than on a lucky dip of the estimated error, which keeps the
bias of looking repeatedly small; the coverage tests measure it.

Portfolios keep every simulated loss (VaR and TVaR need the whole sample): a run
to ``n`` simulations holds ``8 n (1 + REDUCE_COPIES)`` bytes of results at its
peak, checked against :func:`kernels.memory_limit` before every batch. Like
``max_sims``, the memory limit clamps the last batch rather than dropping it: a
batch that would not fit shrinks to the largest size that does (at least
``MIN_GROWTH`` times the run so far; a doubling of the points with QMC).
"""

from __future__ import annotations

import logging
import math
import time
import warnings
from collections.abc import Sequence

import numpy as np

from . import _executors
from ._chunks import Chunk, _child, auto_chunk_size
from ._config import Config
from ._estimators import reduce, tail_levels
from ._limits import MAX_CHUNKS, MAX_QMC_POINTS, MAX_SIMS
from ._resources import check_run
from ._results import SimulationResult, Timing, degrees_of_freedom
from ._target import Target, TargetNotMetWarning, interval_quantile
from ._workloads import Workload

__all__ = ["DEFAULT_MAX_SIMS", "run_to_target"]

log = logging.getLogger(__name__)

# Spawn-key namespaces of kernels._chunks (pseudo-random chunks, scrambles, QMC auxiliary streams).
_PRNG, _SCRAMBLE, _QMC_AUX = 0, 1, 2

PILOT_SIMS = 2**14
PILOT_POINTS = 2**8
MIN_TAIL_SIMS = 100
SAFETY = 1.1
MIN_GROWTH = 1.25
MAX_GROWTH = 64
DEFAULT_MAX_SIMS = 2**30
"""The cap of a run to a target when neither ``max_sims`` nor ``n_sims`` is given."""


def _pow2_ceil(n: float) -> int:
    return 1 << max(math.ceil(n) - 1, 0).bit_length()


class _Plan:
    """Chunks of a growing run: global seeds by chunk index, rows and offsets local to each batch."""

    def __init__(self, workload: Workload, config: Config, root: np.random.SeedSequence) -> None:
        self.workload, self.config, self.root = workload, config, root
        self.chunks: list[Chunk] = []  # global: index = row in the accumulated stats, start = sim index
        self.n = 0
        self.points = 0  # per scramble, with QMC
        self._scrambles: list[np.random.SeedSequence] = []  # replicate r's scramble seed, made once per run

    def _chunk_size(self, batch: int) -> int:
        return self.config.chunk_size or auto_chunk_size(self.workload, batch)

    def batch(self, n_total: int) -> list[Chunk]:
        """Chunks (local rows and starts) that take the run from ``self.n`` to about ``n_total`` sims."""
        local: list[Chunk] = []
        first = len(self.chunks)
        if not self.config.qmc:
            size = self._chunk_size(n_total - self.n)
            for start in range(0, n_total - self.n, size):
                i = first + len(local)
                step = min(size, n_total - self.n - start)
                local.append(Chunk(len(local), start, step, -1, 0, self.root, seed_key=(_PRNG, i)))
            return local
        scrambles = self.config.qmc_scrambles
        points = n_total // scrambles
        new = points - self.points
        size = min(self._chunk_size(new * scrambles), new)
        start = 0
        if not self._scrambles:
            self._scrambles = [_child(self.root, _SCRAMBLE, r) for r in range(scrambles)]
        for r, scramble in enumerate(self._scrambles):
            for offset in range(self.points, points, size):
                i = first + len(local)
                step = min(size, points - offset)
                local.append(Chunk(len(local), start, step, r, offset, self.root, scramble, (_QMC_AUX, i)))
                start += step
        return local

    def commit(self, local: Sequence[Chunk]) -> None:
        first, n0 = len(self.chunks), self.n
        for c in local:  # the constructor, not dataclasses.replace: a tenth of the cost per chunk
            self.chunks.append(Chunk(first + c.index, n0 + c.start, c.size, c.replicate, c.offset, c.seed_root,
                                     c.scramble_seed, c.seed_key))
        added = sum(c.size for c in local)
        self.n += added
        if self.config.qmc:
            self.points += added // self.config.qmc_scrambles


def _first_size(workload: Workload, config: Config, target: Target, names: Sequence[str], cap: int,
                cap_name: str) -> int:
    n = PILOT_POINTS * config.qmc_scrambles if config.qmc else PILOT_SIMS
    levels = tail_levels(names)
    if levels:
        n = max(n, _pow2_ceil(MIN_TAIL_SIMS / (1 - max(levels))))
    if config.qmc:
        n = _pow2_ceil(n / config.qmc_scrambles) * config.qmc_scrambles
    if n > cap:
        raise ValueError(
            f"{cap_name}={cap} is below the pilot of {n} simulations a run to {target.label()} needs "
            f"for this workload and config; raise {cap_name}"
        )
    return n


def _next_size(n: int, ratio: float, config: Config, cap: int) -> int:
    """The next total size, from the current one and ``ratio = max(half / tol)``."""
    if config.qmc:
        points = n // config.qmc_scrambles
        factor = min(max(_pow2_ceil(ratio * SAFETY), 2), MAX_GROWTH)
        return min(points * factor, cap // config.qmc_scrambles) * config.qmc_scrambles
    wanted = math.ceil(n * min(max(ratio * ratio * SAFETY, MIN_GROWTH), MAX_GROWTH))
    if config.chunk_size:  # whole chunks: the run then equals a fixed-size run of the size it stops at
        wanted = -(-wanted // config.chunk_size) * config.chunk_size
    return int(min(wanted, cap))


def _fits(workload: Workload, config: Config, n: int) -> bool:
    try:
        check_run(workload, n, config)
    except ValueError:
        return False
    return True


def _fit_memory(workload: Workload, config: Config, n: int, n_next: int) -> int:
    """The largest size below ``n_next`` worth a batch that fits the memory limit, or ``n`` if none does."""
    if config.qmc:
        points, s = n // config.qmc_scrambles, config.qmc_scrambles
        for k in range((n_next // s // points).bit_length() - 1, 0, -1):
            if points << k < n_next // s and _fits(workload, config, (points << k) * s):
                return (points << k) * s
        return n
    lo, hi = math.ceil(n * MIN_GROWTH), n_next - 1
    if lo > hi or not _fits(workload, config, lo):
        return n
    while lo < hi:  # the largest size in [lo, hi] that fits (lo always does)
        mid = (lo + hi + 1) // 2
        if _fits(workload, config, mid):
            lo = mid
        else:
            hi = mid - 1
    return lo


def _cap(config: Config, max_sims: int | None) -> int:
    cap = DEFAULT_MAX_SIMS if max_sims is None else max_sims
    cap = min(cap, MAX_SIMS)
    if config.qmc:
        cap = min(cap, MAX_QMC_POINTS * config.qmc_scrambles)
    return cap


def run_to_target(
    workload: Workload, config: Config, root: np.random.SeedSequence, target: Target, max_sims: int | None,
    cap_name: str = "max_sims",
) -> SimulationResult:
    """Simulate ``workload`` under ``config`` until ``target`` is met or the cap (``cap_name``) is reached.

    The result's ``config`` is ``config`` as given: batches may use different chunk sizes when
    ``chunk_size`` is automatic. With an explicit ``chunk_size``, a pseudo-random run's batches
    are whole chunks (but the last at the cap), so its estimates equal those of
    ``simulate(workload, n_sims)`` with the same seed and config at the size it stopped at.
    """
    t0 = time.perf_counter()
    names = target.names(workload)
    cap = _cap(config, max_sims)
    n_next = _first_size(workload, config, target, names, cap, cap_name)
    check_run(workload, n_next, config)
    plan = _Plan(workload, config, root)
    buffer = np.empty(0)
    overhead = 0.0
    rounds = 0
    met, why = False, ""
    configs: dict[int, Config] = {}  # config with chunk_size set, by chunk size
    while True:
        local = plan.batch(n_next)
        if len(plan.chunks) + len(local) > MAX_CHUNKS:
            if not rounds:
                raise ValueError(f"Config.chunk_size={config.chunk_size} cuts the pilot into {len(local)} chunks, "
                                 f"over the limit of {MAX_CHUNKS} (kernels.MAX_CHUNKS); raise chunk_size")
            why = f"the chunk limit (kernels.MAX_CHUNKS={MAX_CHUNKS}); raise Config.chunk_size"
            break
        chunk_size = max(c.size for c in local)
        used = configs.get(chunk_size)
        if used is None:  # rounds of one chunk size (a quasi-random run's pilot and doubling) share it
            used = configs[chunk_size] = config.replace(chunk_size=chunk_size)
        t_prep = time.perf_counter()
        _executors.prepare(workload, used, chunk_size)
        overhead += time.perf_counter() - t_prep
        n_batch = sum(c.size for c in local)
        part = _executors.run_chunks(workload, used, local, n_batch, lambda b: np.array(b, dtype=np.float64))
        plan.commit(local)
        rounds += 1
        # Losses (portfolios) or statistics rows (options) of every batch so far, in plan order.
        buffer = part if not buffer.size else np.concatenate([buffer, part])
        estimates, errors = reduce(workload, buffer, plan.chunks, config)
        halves = {
            name: interval_quantile(target.confidence, degrees_of_freedom(workload, config, name)) * errors[name]
            for name in names
        }
        ratio = target.shortfall(estimates, halves)
        log.debug("round %d: n=%d, half-width / tolerance = %.3g", rounds, plan.n, ratio)
        if ratio <= 1:
            met = True
            break
        if plan.n >= cap:
            why = f"{cap_name}={cap}"
            break
        n_next = _next_size(plan.n, ratio, config, cap)
        if n_next <= plan.n:
            why = f"{cap_name}={cap}"
            break
        try:
            check_run(workload, n_next, config)
        except ValueError as exc:
            n_next = _fit_memory(workload, config, plan.n, n_next)
            if n_next <= plan.n:
                why = f"the memory limit ({exc})"
                break
    if not met:
        warnings.warn(
            TargetNotMetWarning(
                f"the run stopped at n_sims={plan.n}, at {why}, before reaching {target.label()}: half-widths "
                + ", ".join(f"{k}={v:.3g}" for k, v in halves.items())
            ),
            stacklevel=3,
        )
    t_end = time.perf_counter()
    return SimulationResult(
        estimates=estimates,
        standard_errors=errors,
        config=config,
        n_sims=plan.n,
        timing=Timing(overhead_s=overhead, compute_s=t_end - t0 - overhead, total_s=t_end - t0),
        workload=workload,
        seed_entropy=int(root.entropy) if isinstance(root.entropy, int) else 0,
        target=target,
        half_widths=halves,
        target_met=met,
        rounds=rounds,
    )
