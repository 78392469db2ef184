"""Quasi-random point sets and the Brownian-bridge construction shared by all backends."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._chunks import Chunk

# Uniforms are kept away from 0 and 1 so that inverse CDFs stay finite.
_U_EPS = 2.0**-53


def sobol_uniforms(chunk: Chunk, dim: int) -> np.ndarray:
    """The chunk's points of its replicate's scrambled Sobol sequence, shape ``(size, dim)``, float64.

    Each replicate is one scrambled sequence (its scramble seed); a chunk takes the
    points ``[offset, offset + size)`` of that sequence.
    """
    if chunk.scramble_seed is None:
        raise ValueError("sobol_uniforms needs a QMC chunk (one with a scramble seed)")
    # scipy spawns from the generator's SeedSequence, which would change the replicate's shared
    # seed object; a fresh copy gives every chunk of a replicate the same scramble.
    s = chunk.scramble_seed
    fresh = np.random.SeedSequence(s.entropy, spawn_key=s.spawn_key, pool_size=s.pool_size)
    from scipy.stats import qmc  # imported on first use: scipy.stats takes about a second

    engine = qmc.Sobol(d=dim, scramble=True, seed=np.random.default_rng(fresh))
    if chunk.offset:
        engine.fast_forward(chunk.offset)
    with warnings.catch_warnings():
        # Balance properties are best at powers of two; any count is still a valid RQMC estimate.
        warnings.simplefilter("ignore", UserWarning)
        u = engine.random(chunk.size)
    np.clip(u, _U_EPS, 1.0 - _U_EPS, out=u)
    return u


@dataclass(frozen=True)
class BrownianBridge:
    """Brownian-bridge schedule for ``W(t_1), ..., W(t_n)`` at ``t_k = k T / n``.

    Step ``j`` sets ``W[target[j]] = lw[j] * W[left[j]] + rw[j] * W[right[j]] + sd[j] * z[j]``
    with ``W[0] = 0`` (time zero); indices are 0..n with 0 meaning time 0. The first
    normal builds ``W(T)``, the next ones the midpoints, so the first (best)
    low-discrepancy dimensions carry the coarse shape of the path.
    """

    target: np.ndarray
    left: np.ndarray
    right: np.ndarray
    lw: np.ndarray
    rw: np.ndarray
    sd: np.ndarray

    def apply(self, z: np.ndarray) -> np.ndarray:
        """Brownian values at ``t_1..t_n`` from normals ``z`` of shape ``(n, paths)`` (step-major)."""
        n, paths = z.shape
        w = np.zeros((n + 1, paths), dtype=z.dtype)
        # Python floats keep float32 paths in float32 (NumPy 2 promotion rules).
        steps = zip(self.target.tolist(), self.left.tolist(), self.right.tolist(),
                    self.lw.tolist(), self.rw.tolist(), self.sd.tolist(), strict=False)
        for j, (t, lo, hi, lw, rw, sd) in enumerate(steps):
            acc = sd * z[j]
            if lw:
                acc += lw * w[lo]
            if rw:
                acc += rw * w[hi]
            w[t] = acc
        return w[1:]

    def matrix(self) -> np.ndarray:
        """The linear map as an ``(n, n)`` matrix ``B`` with ``W = B @ z``."""
        n = len(self.target)
        return self.apply(np.eye(n))


@lru_cache(maxsize=64)
def brownian_bridge(n_steps: int, T: float) -> BrownianBridge:
    """The breadth-first bridge schedule for ``n_steps`` equal steps to ``T``."""
    times = np.arange(n_steps + 1) * (T / n_steps)
    target, left, right, lw, rw, sd = [n_steps], [0], [0], [0.0], [0.0], [math.sqrt(T)]
    queue = [(0, n_steps)]
    while queue:
        nxt = []
        for lo, hi in queue:
            if hi - lo < 2:
                continue
            mid = (lo + hi) // 2
            tl, tm, th = times[lo], times[mid], times[hi]
            target.append(mid)
            left.append(lo)
            right.append(hi)
            lw.append((th - tm) / (th - tl))
            rw.append((tm - tl) / (th - tl))
            sd.append(math.sqrt((tm - tl) * (th - tm) / (th - tl)))
            nxt += [(lo, mid), (mid, hi)]
        queue = nxt
    arrays = [np.asarray(a) for a in (target, left, right)] + [np.asarray(a, dtype=np.float64) for a in (lw, rw, sd)]
    return BrownianBridge(*arrays)
