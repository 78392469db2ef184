"""Quasi-random point sets and the Brownian-bridge construction shared by all backends."""

from __future__ import annotations

import math
import sys
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ._chunks import Chunk

# Uniforms are kept away from 0 and 1 so that inverse CDFs stay finite.
_U_EPS = 2.0**-53


# Scipy's Sobol engine keeps 30 bits per coordinate (its default; 2^30 points per sequence).
_SOBOL_BITS = 30
# Scrambled direction numbers kept per (scramble seed, dimension): a run's rounds and chunks reuse
# their replicate's scramble instead of redrawing it; 256 entries of dim x 30 uint32 (30 KB at 252 dims).
_SCRAMBLE_CACHE = 256
# Dimensions above this are drawn per chunk and never cached (at scipy's 21,201 dimensions one
# scramble's matrices take 76 MB; there the simulation, not the scramble, dominates a chunk).
_CACHED_DIM = 1024


def _seed_key(seed: np.random.SeedSequence) -> tuple:
    entropy = seed.entropy
    if not isinstance(entropy, int):
        entropy = tuple(int(e) for e in np.atleast_1d(entropy))
    return entropy, tuple(seed.spawn_key), seed.pool_size


def _direction_bits(dim: int) -> np.ndarray | None:
    """The unscrambled direction numbers' bits, ``[d, j, m]`` = bit ``bits-1-m`` of ``sv[d, j]``, float32."""
    if dim <= _CACHED_DIM:
        return _cached_direction_bits(dim)
    return _unscrambled_bits(dim)


def _unscrambled_bits(dim: int) -> np.ndarray | None:
    try:
        from scipy.stats._sobol import _initialize_v
    except ImportError:  # pragma: no cover - a scipy that moved its private Sobol routines
        return None
    bits = _SOBOL_BITS
    sv = np.zeros((dim, bits), dtype=np.uint32)
    _initialize_v(sv, dim=dim, bits=bits)
    k = np.arange(bits, dtype=np.uint32)
    vbits = ((sv[:, :, None] >> k[::-1]) & 1).astype(np.float32)
    vbits.flags.writeable = False
    return vbits


_cached_direction_bits = lru_cache(maxsize=16)(_unscrambled_bits)


_POWERS = (np.uint32(1) << np.arange(_SOBOL_BITS, dtype=np.uint32)).astype(np.uint32)  # 2^k
_TOP_DOWN = _POWERS[::-1].copy()  # 2^(bits-1-p)
_STRICT_LOWER = np.tril(np.ones((_SOBOL_BITS, _SOBOL_BITS), dtype=np.float32), -1)
_EYE = np.eye(_SOBOL_BITS, dtype=np.float32)


def _random_bits(bitgen: np.random.PCG64, n: int) -> np.ndarray:
    """``Generator(bitgen).integers(2, size=n, dtype=np.uint32)`` (``n`` even), from the raw stream.

    numpy draws each bounded uint32 from one 32-bit output (the low half of a 64-bit draw, then
    the high half) by Lemire's multiply-shift, which for two values is the output's top bit.
    Reading the top bits of the raw stream skips the per-call cost of ``integers`` (two calls per
    scramble); :func:`_raw_bits_match` checks once per process that this numpy agrees, else
    ``integers`` is used.
    """
    if not _raw_bits_match():  # pragma: no cover - a numpy that draws bounded integers otherwise
        return np.random.Generator(bitgen).integers(2, size=n, dtype=np.uint32)
    return bitgen.random_raw(n // 2).view(np.uint32) >> np.uint32(31)


@lru_cache(maxsize=1)
def _raw_bits_match() -> bool:
    n = 2 * 3 * 31 * 30
    seed = np.random.SeedSequence(12345)
    expected = np.random.Generator(np.random.PCG64(seed)).integers(2, size=n, dtype=np.uint32)
    raw = np.random.PCG64(seed).random_raw(n // 2)
    return sys.byteorder == "little" and np.array_equal(raw.view(np.uint32) >> np.uint32(31), expected)


def _scrambled_directions(key: tuple, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """:func:`_draw_directions`, cached for dimensions up to ``_CACHED_DIM``."""
    if dim <= _CACHED_DIM:
        return _cached_directions(key, dim)
    return _draw_directions(key, dim)


def _draw_directions(key: tuple, dim: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Scipy's LMS + digital-shift scramble of the Sobol direction numbers for the seed ``key``.

    Returns read-only ``(sv, shift)`` equal to those ``qmc.Sobol(d=dim, scramble=True,
    seed=np.random.default_rng(SeedSequence(*key)))`` builds, drawn the way scipy draws them
    (a Generator on the seed's first spawned child; the shift bits, then the lower-triangular
    matrices), without the engine's per-construction costs (a deep copy of its generator, the
    optimiser lookup). Scipy's ``_cscramble`` (a bits^3 loop per dimension) is one batched
    product over GF(2): bit ``p`` (from the top) of the scrambled ``sv[d, j]`` is the parity of
    ``sum_m L[d, p, m] * bit_(bits-1-m)(sv[d, j])`` with ``L`` the lower-triangular matrix, its
    diagonal set to 1 (float32 sums of at most ``bits`` ones: exact). None if this scipy lacks
    the private routines: the engine is used then.
    """
    vbits = _direction_bits(dim)
    if vbits is None:  # pragma: no cover
        return None
    entropy, spawn_key, pool_size = key
    child = np.random.SeedSequence(entropy, spawn_key=(*spawn_key, 0), pool_size=pool_size)
    bits = _SOBOL_BITS
    draws = _random_bits(np.random.PCG64(child), dim * bits * (1 + bits))
    shift = draws[: dim * bits].reshape(dim, bits) @ _POWERS
    lower = draws[dim * bits :].reshape(dim, bits, bits) * _STRICT_LOWER
    lower += _EYE
    parity = (vbits @ lower.transpose(0, 2, 1)).astype(np.uint32) & 1  # [d, j, p]
    sv = parity @ _TOP_DOWN
    sv.flags.writeable = False
    shift.flags.writeable = False
    return sv, shift


_cached_directions = lru_cache(maxsize=_SCRAMBLE_CACHE)(_draw_directions)


def _sobol_points(sv: np.ndarray, shift: np.ndarray, offset: int, size: int) -> np.ndarray:
    """Points ``[offset, offset + size)`` of the scrambled sequence, as scipy's engine draws them."""
    from scipy.stats._sobol import _draw, _fast_forward

    dim, scale = sv.shape[0], 1.0 / 2**_SOBOL_BITS
    quasi = shift.copy()
    u = np.empty((size, dim), dtype=np.float64)
    if size == 0:
        return u
    if offset == 0:  # the engine's first point is the shift itself, then draws from num_gen=0
        u[0] = quasi * scale
        if size > 1:
            _draw(n=size - 1, num_gen=0, dim=dim, scale=scale, sv=sv, quasi=quasi, sample=u[1:])
        return u
    _fast_forward(n=offset - 1, num_gen=0, dim=dim, sv=sv, quasi=quasi)
    _draw(n=size, num_gen=offset - 1, dim=dim, scale=scale, sv=sv, quasi=quasi, sample=u)
    return u


def sobol_uniforms(chunk: Chunk, dim: int) -> np.ndarray:
    """The chunk's points of its replicate's scrambled Sobol sequence, shape ``(size, dim)``, float64.

    Each replicate is one scrambled sequence (its scramble seed); a chunk takes the
    points ``[offset, offset + size)`` of that sequence. The points are bit-identical to
    ``scipy.stats.qmc.Sobol(d=dim, scramble=True, seed=default_rng(scramble_seed))``
    fast-forwarded to ``offset``; the scrambled direction numbers are cached per seed and
    dimension (tests/kernels/test_paths.py compares both ways).
    """
    if chunk.scramble_seed is None:
        raise ValueError("sobol_uniforms needs a QMC chunk (one with a scramble seed)")
    s = chunk.scramble_seed
    if chunk.offset + chunk.size > 2**_SOBOL_BITS:
        raise ValueError(f"a Sobol sequence holds 2**{_SOBOL_BITS} points; chunk asks for "
                         f"[{chunk.offset}, {chunk.offset + chunk.size})")
    directions = _scrambled_directions(_seed_key(s), dim)
    if directions is not None:
        u = _sobol_points(*directions, chunk.offset, chunk.size)
    else:  # pragma: no cover - see _scrambled_directions
        u = _engine_uniforms(s, dim, chunk.offset, chunk.size)
    np.clip(u, _U_EPS, 1.0 - _U_EPS, out=u)
    return u


def _engine_uniforms(s: np.random.SeedSequence, dim: int, offset: int, size: int) -> np.ndarray:
    """The same points through scipy's public engine (the reference of the fast path)."""
    # scipy spawns from the generator's SeedSequence, which would change the replicate's shared
    # seed object; a fresh copy gives every chunk of a replicate the same scramble.
    fresh = np.random.SeedSequence(s.entropy, spawn_key=s.spawn_key, pool_size=s.pool_size)
    from scipy.stats import qmc  # imported on first use: scipy.stats takes about a second

    engine = qmc.Sobol(d=dim, scramble=True, seed=np.random.default_rng(fresh))
    if offset:
        engine.fast_forward(offset)
    with warnings.catch_warnings():
        # Balance properties are best at powers of two; any count is still a valid RQMC estimate.
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(size)


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
