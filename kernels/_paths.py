"""Quasi-random point sets and the Brownian-bridge construction shared by all backends."""

from __future__ import annotations

import math
import sys
import threading
import warnings
from collections import OrderedDict
from collections.abc import Sequence
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
# Scrambles drawn in one product hold at most this many dimensions together (a few MB of temporaries).
_BATCH_DIMS = 1024
# Most uint32 entries of the Gray-code table that values a group's Sobol points at once (4 MB).
_TABLE_ENTRIES = 2**20
# The cache of scrambled direction numbers: (seed key, dim) -> (sv, shift), least recently used first.
_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _seed_key(seed: np.random.SeedSequence) -> tuple:
    entropy = seed.entropy
    if not isinstance(entropy, int):
        entropy = tuple(int(e) for e in np.atleast_1d(entropy))
    return entropy, tuple(seed.spawn_key), seed.pool_size


def _direction_numbers(dim: int) -> np.ndarray | None:
    """The unscrambled direction numbers ``sv[d, j]`` (uint32, ``bits`` bits each), as scipy's engine starts."""
    if dim <= _CACHED_DIM:
        return _cached_direction_numbers(dim)
    return _unscrambled_numbers(dim)


def _unscrambled_numbers(dim: int) -> np.ndarray | None:
    try:
        from scipy.stats._sobol import _initialize_v
    except ImportError:  # pragma: no cover - a scipy that moved its private Sobol routines
        return None
    sv = np.zeros((dim, _SOBOL_BITS), dtype=np.uint32)
    _initialize_v(sv, dim=dim, bits=_SOBOL_BITS)
    sv.flags.writeable = False
    return sv


_cached_direction_numbers = lru_cache(maxsize=16)(_unscrambled_numbers)


_POWERS = (np.uint32(1) << np.arange(_SOBOL_BITS, dtype=np.uint32)).astype(np.uint32)  # 2^k
_TOP_DOWN = _POWERS[::-1].copy()  # 2^(bits-1-p)
_STRICT_LOWER = np.tril(np.ones((_SOBOL_BITS, _SOBOL_BITS), dtype=np.uint32), -1)


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


def _random_bits_many(keys: Sequence[tuple], n: int) -> np.ndarray:
    """:func:`_random_bits` of each key's scramble stream (its seed's first spawned child), ``(len(keys), n)``.

    The raw outputs of all streams are gathered first and their top bits taken in one pass.
    """
    streams = (np.random.PCG64(np.random.SeedSequence(entropy, spawn_key=(*spawn_key, 0), pool_size=pool_size))
               for entropy, spawn_key, pool_size in keys)
    if not _raw_bits_match():  # pragma: no cover - see _random_bits
        return np.array([_random_bits(bitgen, n) for bitgen in streams], dtype=np.uint32).reshape(len(keys), n)
    raw = np.empty((len(keys), n // 2), dtype=np.uint64)
    for row, bitgen in zip(raw, streams, strict=True):
        row[:] = bitgen.random_raw(n // 2)
    return raw.view(np.uint32) >> np.uint32(31)


@lru_cache(maxsize=1)
def _raw_bits_match() -> bool:
    n = 2 * 3 * 31 * 30
    seed = np.random.SeedSequence(12345)
    expected = np.random.Generator(np.random.PCG64(seed)).integers(2, size=n, dtype=np.uint32)
    raw = np.random.PCG64(seed).random_raw(n // 2)
    return sys.byteorder == "little" and np.array_equal(raw.view(np.uint32) >> np.uint32(31), expected)


def _scrambled_directions_many(keys: Sequence[tuple], dim: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """:func:`_draw_directions_many` for each seed key, cached per (key, dimension) up to ``_CACHED_DIM``.

    The scrambles missing from the cache are drawn together (:func:`_draw_directions_many`); cached
    ones are reused. None if this scipy lacks the private Sobol routines (the engine is used then).
    """
    if dim > _CACHED_DIM:
        return _draw_directions_many(keys, dim)
    with _CACHE_LOCK:
        found = []
        for key in keys:
            hit = _CACHE.get((key, dim))
            if hit is not None:
                _CACHE.move_to_end((key, dim))
            found.append(hit)
    missing = [i for i, hit in enumerate(found) if hit is None]
    if missing:
        # A repeated key (two chunks of one scramble) is drawn once.
        unique = list(dict.fromkeys(keys[i] for i in missing))
        drawn = _draw_directions_many(unique, dim)
        if drawn is None:  # pragma: no cover - see _draw_directions_many
            return None
        new = dict(zip(unique, drawn, strict=True))
        with _CACHE_LOCK:
            for key, value in new.items():
                _CACHE[(key, dim)] = value
            while len(_CACHE) > _SCRAMBLE_CACHE:
                _CACHE.popitem(last=False)
        for i in missing:
            found[i] = new[keys[i]]
    return found


def _clear_scramble_cache() -> None:
    """Forget every cached scramble (benchmarks: a run then pays for its own scrambles, as a fresh seed does)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _draw_directions_many(keys: Sequence[tuple], dim: int) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Scipy's LMS + digital-shift scramble of the Sobol direction numbers, for each seed key.

    Each ``(sv, shift)`` (read-only) equals those ``qmc.Sobol(d=dim, scramble=True,
    seed=np.random.default_rng(SeedSequence(*key)))`` builds, drawn the way scipy draws them
    (a Generator on the seed's first spawned child; the shift bits, then the lower-triangular
    matrices), without the engine's per-construction costs (a deep copy of its generator, the
    optimiser lookup). Scipy's ``_cscramble`` (a bits^3 loop per dimension) is bit operations
    over GF(2): bit ``p`` (from the top) of the scrambled ``sv[d, j]`` is the parity of
    ``sum_m L[d, p, m] * bit_(bits-1-m)(sv[d, j])`` with ``L`` the lower-triangular matrix, its
    diagonal set to 1, i.e. the parity of ``popcount(sv[d, j] & row_p)`` where ``row_p`` holds
    ``L[d, p, :]`` as the bits of one integer. The scrambles of several keys are one pass (up to
    ``_BATCH_DIMS`` dimensions at a time): each key still reads its own random stream, and
    integer arithmetic gives every key the bits it gets alone. None if this scipy lacks the
    private routines: the engine is used then.
    """
    sv0 = _direction_numbers(dim)
    if sv0 is None:  # pragma: no cover
        return None
    bits = _SOBOL_BITS
    per_key = dim * bits * (1 + bits)
    step = max(1, _BATCH_DIMS // dim)
    out: list[tuple[np.ndarray, np.ndarray]] = []
    for first in range(0, len(keys), step):
        group = keys[first : first + step]
        draws = _random_bits_many(group, per_key)
        shift = draws[:, : dim * bits].reshape(len(group), dim, bits) @ _POWERS  # [k, d]
        lower = draws[:, dim * bits :].reshape(len(group), dim, bits, bits)  # [k, d, p, m]
        lower *= _STRICT_LOWER
        rows = (lower @ _TOP_DOWN) | _TOP_DOWN  # [k, d, p]: L[d, p, :] as bits, the diagonal set
        parity = np.bitwise_count(sv0[:, :, None] & rows[:, :, None, :]) & np.uint8(1)  # [k, d, j, p]
        sv = parity.astype(np.uint32) @ _TOP_DOWN  # [k, d, j]
        sv.flags.writeable = False
        shift.flags.writeable = False
        out += [(sv[k], shift[k]) for k in range(len(group))]
    return out


def _sobol_points(
    sv: np.ndarray, shift: np.ndarray, offset: int, size: int, out: np.ndarray | None = None
) -> np.ndarray:
    """Points ``[offset, offset + size)`` of the scrambled sequence, as scipy's engine draws them.

    Written into ``out`` (C-contiguous float64 ``(size, dim)``) when given.
    """
    from scipy.stats._sobol import _draw, _fast_forward

    dim, scale = sv.shape[0], 1.0 / 2**_SOBOL_BITS
    quasi = shift.copy()
    u = np.empty((size, dim), dtype=np.float64) if out is None else out
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


def _check_qmc_chunk(chunk: Chunk) -> np.random.SeedSequence:
    if chunk.scramble_seed is None:
        raise ValueError("sobol_uniforms needs a QMC chunk (one with a scramble seed)")
    if chunk.offset + chunk.size > 2**_SOBOL_BITS:
        raise ValueError(f"a Sobol sequence holds 2**{_SOBOL_BITS} points; chunk asks for "
                         f"[{chunk.offset}, {chunk.offset + chunk.size})")
    return chunk.scramble_seed


def sobol_uniforms(chunk: Chunk, dim: int) -> np.ndarray:
    """The chunk's points of its replicate's scrambled Sobol sequence, shape ``(size, dim)``, float64.

    Each replicate is one scrambled sequence (its scramble seed); a chunk takes the
    points ``[offset, offset + size)`` of that sequence. The points are bit-identical to
    ``scipy.stats.qmc.Sobol(d=dim, scramble=True, seed=default_rng(scramble_seed))``
    fast-forwarded to ``offset``; the scrambled direction numbers are cached per seed and
    dimension (tests/kernels/test_paths.py compares both ways).
    """
    return sobol_uniforms_many([chunk], dim)[0]


def sobol_uniforms_many(chunks: Sequence[Chunk], dim: int) -> np.ndarray:
    """:func:`sobol_uniforms` of several QMC chunks of one size, stacked: shape ``(len(chunks), size, dim)``.

    The chunks may belong to different scrambles and offsets; the scrambles not yet cached are
    drawn together. Each ``[k]`` equals ``sobol_uniforms(chunks[k], dim)`` bit for bit.
    """
    seeds = [_check_qmc_chunk(c) for c in chunks]
    sizes = {c.size for c in chunks}
    if len(sizes) > 1:
        raise ValueError(f"sobol_uniforms_many needs chunks of one size, got sizes {sorted(sizes)}")
    size = sizes.pop() if sizes else 0
    directions = _scrambled_directions_many([_seed_key(s) for s in seeds], dim)
    offsets = [c.offset for c in chunks]
    u = _gray_code_points(directions, offsets, size, dim) if directions is not None else None
    if u is None:
        u = np.empty((len(chunks), size, dim), dtype=np.float64)
        for k, (chunk, s) in enumerate(zip(chunks, seeds, strict=True)):
            if directions is not None:
                _sobol_points(*directions[k], chunk.offset, size, out=u[k])
            else:  # pragma: no cover - see _scrambled_directions_many
                u[k] = _engine_uniforms(s, dim, chunk.offset, size)
    np.clip(u, _U_EPS, 1.0 - _U_EPS, out=u)
    return u


def _gray_code_points(
    directions: Sequence[tuple[np.ndarray, np.ndarray]], offsets: Sequence[int], size: int, dim: int
) -> np.ndarray | None:
    """Points ``[offset, offset + size)`` of each scrambled sequence at once, or None where a table would be too big.

    Scipy's engine steps point ``i`` from point ``i - 1`` by XOR-ing ``sv[:, ctz(i)]``, so point
    ``i`` is ``shift ^ XOR of sv[:, j]`` over the set bits ``j`` of the Gray code ``i ^ (i >> 1)``.
    A table of those XORs for every code below ``2^B`` (``B`` the bits of the last index) is built
    by doubling, for all sequences together, and each point looked up in it; the scale
    (``2^-bits``, a power of two) makes the float64 values exact, as the engine's are. Used when
    the table is at most four times the points asked for and ``_TABLE_ENTRIES`` in all.
    """
    if not size or not offsets:
        return None
    bits_needed = (max(offsets) + size - 1).bit_length()
    table_size = 1 << bits_needed
    if table_size > 4 * size or len(offsets) * table_size * dim > _TABLE_ENTRIES:
        return None
    k = len(offsets)
    sv = np.array([d[0] for d in directions])  # [k, dim, bits]
    table = np.empty((k, table_size, dim), dtype=np.uint32)
    table[:, 0] = 0
    for j in range(bits_needed):
        half = 1 << j
        np.bitwise_xor(table[:, :half], sv[:, None, :, j], out=table[:, half : 2 * half])
    if len(set(offsets)) == 1:  # one range for all (a round of a run to a target): one set of codes
        codes = np.arange(offsets[0], offsets[0] + size, dtype=np.int64)
        codes ^= codes >> 1  # Gray codes
        points = np.take(table, codes, axis=1)  # [k, size, dim]
    else:
        index = np.asarray(offsets, dtype=np.int64)[:, None] + np.arange(size, dtype=np.int64)
        index ^= index >> 1
        index += np.arange(k, dtype=np.int64)[:, None] * table_size
        points = table.reshape(k * table_size, dim)[index]
    points ^= np.array([d[1] for d in directions])[:, None, :]
    return points * (1.0 / 2**_SOBOL_BITS)


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
