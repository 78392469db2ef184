"""Vectorized numpy backend: the reference implementation of every workload.

Quasi-random chunks of one size are valued in groups (:meth:`NumpyBackend.group_chunks`):
their Sobol points stacked, one vectorised pass over all their paths, and each chunk's
statistics row (or losses) split back out. A run to a loose target has one small chunk per
scramble per round, so its time is the fixed cost per chunk; a group pays it once. Every
chunk's output equals what :meth:`NumpyBackend.run_chunk` gives it alone, bit for bit: the
per-path arithmetic is elementwise on contiguous arrays, and a row-wise ``sum(axis=1)`` or
``einsum("ij,ij->i")`` adds each row in the order the 1-D reduction of that row does, for rows
of up to ``GROUP_MAX_SIZE`` elements (einsum's iterator buffer; longer rows are split
differently), which tests/kernels/test_qmc_batch.py checks.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
from scipy.special import ndtri

from .._chunks import EUROPEAN_BLOCK, Chunk, bytes_per_sim
from .._config import Config
from .._distributions import (
    Binomial,
    Exponential,
    Frequency,
    Gamma,
    Lognormal,
    NegativeBinomial,
    Pareto,
    Poisson,
    Severity,
    Weibull,
)
from .._estimators import EUROPEAN_COLUMNS, moment_row, vector_dot
from .._paths import brownian_bridge, sobol_uniforms, sobol_uniforms_many
from .._workloads import AsianOption, EuropeanOption, PolicyTerms, Portfolio, Workload
from ._base import Backend, float_dtype

# Quasi-random chunks of at most this many points are valued in groups: the largest row for which a
# row-wise einsum sums each row as the 1-D einsum of it does (numpy's default iterator buffer).
GROUP_MAX_SIZE = 8192
# A group's stacked arrays take at most about this much memory (its paths' working memory, as
# kernels._chunks.bytes_per_sim counts it; a portfolio's uniforms and counts): grouping adds at most
# this to the chunk in flight that kernels.estimate_memory counts.
GROUP_BYTES = 2**20


def normals(chunk: Chunk, dim: int, dtype: type) -> np.ndarray:
    """Step-major standard normals ``(dim, size)``: inverse-CDF Sobol points with QMC, else pseudo-random."""
    if chunk.replicate >= 0:
        return np.ascontiguousarray(ndtri(sobol_uniforms(chunk, dim)).T, dtype=dtype)
    return np.random.default_rng(chunk.seed).standard_normal((dim, chunk.size), dtype=dtype)


def _european_values(opt: EuropeanOption, z: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per-path discounted payoff, pathwise delta and vega, and the control (discounted ``S_T``)."""
    dt = z.dtype.type
    sqrt_t = math.sqrt(opt.T)
    drift = (opt.r - opt.q - 0.5 * opt.sigma**2) * opt.T
    st = np.exp(dt(drift) + dt(opt.sigma * sqrt_t) * z) * dt(opt.S0)
    disc = math.exp(-opt.r * opt.T)
    sign = 1.0 if opt.is_call else -1.0
    itm = st > opt.K if opt.is_call else st < opt.K
    payoff = np.where(itm, (st - dt(opt.K)) * dt(sign * disc), dt(0))
    delta = np.where(itm, st * dt(sign * disc / opt.S0), dt(0))
    # dS_T/dsigma = S_T (sqrt(T) Z - sigma T)
    vega = np.where(itm, st * (dt(sqrt_t) * z - dt(opt.sigma * opt.T)) * dt(sign * disc), dt(0))
    return payoff, delta, vega, st * dt(disc)


def european_chunk_row(opt: EuropeanOption, chunk: Chunk, dtype: type, *, antithetic: bool) -> np.ndarray:
    """The chunk's European row, valued ``EUROPEAN_BLOCK`` paths at a time.

    Pseudo-random normals are drawn block by block from the chunk's generator, which
    gives the same numbers as one draw of the whole chunk.
    """
    rng = np.random.default_rng(chunk.seed) if chunk.replicate < 0 else None
    z_all = normals(chunk, 1, dtype)[0] if rng is None else None
    row = np.zeros(len(EUROPEAN_COLUMNS))
    for start in range(0, chunk.size, EUROPEAN_BLOCK):
        m = min(EUROPEAN_BLOCK, chunk.size - start)
        z = rng.standard_normal(m, dtype=dtype) if rng is not None else z_all[start : start + m]
        row += european_row(opt, z, antithetic=antithetic)
    return row


def european_row(opt: EuropeanOption, z: np.ndarray, *, antithetic: bool = False) -> list[float]:
    """Chunk statistics (``EUROPEAN_COLUMNS``) from normals ``z`` of any float dtype.

    With ``antithetic`` each sample is the average over the pair ``z``, ``-z``.
    """
    values = _european_values(opt, z)
    if antithetic:
        mirrored = _european_values(opt, -z)
        values = tuple(0.5 * (a.astype(np.float64) + b) for a, b in zip(values, mirrored, strict=True))
    payoff, control = np.asarray(values[0], np.float64), np.asarray(values[3], np.float64)
    return [float(z.size), *moment_row(*values), float(vector_dot(payoff, control))]


def _asian_payoffs(opt: AsianOption, log_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Discounted arithmetic and geometric payoffs from step-major log prices ``(n_steps, paths)``."""
    disc = math.exp(-opt.r * opt.T)
    geo = np.exp(log_s.mean(axis=0, dtype=np.float64))
    arith = np.exp(log_s).mean(axis=0, dtype=np.float64)
    if opt.is_call:
        return disc * np.maximum(arith - opt.K, 0.0), disc * np.maximum(geo - opt.K, 0.0)
    return disc * np.maximum(opt.K - arith, 0.0), disc * np.maximum(opt.K - geo, 0.0)


def asian_log_prices(opt: AsianOption, z: np.ndarray, *, bridge: bool) -> np.ndarray:
    """Step-major log prices ``(n_steps, paths)`` from step-major normals (modified in place)."""
    n = opt.n_steps
    dt = z.dtype.type
    h = opt.T / n
    mu = opt.r - opt.q - 0.5 * opt.sigma**2
    times = (np.arange(1, n + 1) * h).astype(z.dtype)[:, None]
    if bridge:
        w = brownian_bridge(n, opt.T).apply(z)
    else:
        z *= dt(math.sqrt(h))
        w = np.cumsum(z, axis=0, out=z)
    w *= dt(opt.sigma)
    w += dt(mu) * times + dt(math.log(opt.S0))
    return w


def _asian_samples(opt: AsianOption, z: np.ndarray, *, bridge: bool, antithetic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Arithmetic and geometric payoffs of each sample from step-major normals ``(n_steps, paths)``
    (``z`` is overwritten; with ``antithetic`` a sample averages the paths of ``z`` and ``-z``)."""
    if not antithetic:
        return _asian_payoffs(opt, asian_log_prices(opt, z, bridge=bridge))
    a1, g1 = _asian_payoffs(opt, asian_log_prices(opt, z.copy(), bridge=bridge))
    np.negative(z, out=z)
    a2, g2 = _asian_payoffs(opt, asian_log_prices(opt, z, bridge=bridge))
    return 0.5 * (a1 + a2), 0.5 * (g1 + g2)


def asian_row(opt: AsianOption, z: np.ndarray, *, bridge: bool, antithetic: bool = False) -> list[float]:
    """Chunk statistics of the Asian option from step-major normals ``(n_steps, paths)``."""
    arith, geo = _asian_samples(opt, z, bridge=bridge, antithetic=antithetic)
    return [float(arith.size), *moment_row(arith, geo), float(vector_dot(arith, geo))]


def draw_counts(rng: np.random.Generator, freq: Frequency, size: int) -> np.ndarray:
    """Pseudo-random counts from a frequency distribution."""
    if isinstance(freq, Poisson):
        return rng.poisson(freq.lam, size)
    if isinstance(freq, NegativeBinomial):
        return rng.negative_binomial(freq.n, freq.p, size)
    if isinstance(freq, Binomial):
        return rng.binomial(freq.n, freq.p, size)
    raise ValueError(f"unsupported frequency {type(freq).__name__}")


def draw_severities(rng: np.random.Generator, sev: Severity, size: int, dtype: type) -> np.ndarray:
    """Pseudo-random ground-up claim sizes in ``dtype``."""
    dt = np.dtype(dtype).type
    if isinstance(sev, Gamma):
        x = rng.standard_gamma(sev.shape, size, dtype=dtype)
        x *= dt(sev.scale)
    elif isinstance(sev, Lognormal):
        x = rng.standard_normal(size, dtype=dtype)
        x *= dt(sev.sigma)
        x += dt(sev.mu)
        np.exp(x, out=x)
    elif isinstance(sev, Pareto):  # Lomax: scale * (exp(E / shape) - 1)
        x = rng.standard_exponential(size, dtype=dtype)
        x *= dt(1.0 / sev.shape)
        np.expm1(x, out=x)
        x *= dt(sev.scale)
    elif isinstance(sev, Exponential):
        x = rng.standard_exponential(size, dtype=dtype)
        x *= dt(sev.scale)
    elif isinstance(sev, Weibull):
        x = rng.standard_exponential(size, dtype=dtype)
        np.power(x, dt(1.0 / sev.shape), out=x)
        x *= dt(sev.scale)
    else:
        raise ValueError(f"unsupported severity {type(sev).__name__}")
    return x


def segment_sums(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Sums of consecutive segments of ``values`` with lengths ``counts`` (float64; empty segments give 0)."""
    csum = np.zeros(values.size + 1, dtype=np.float64)
    np.cumsum(values, dtype=np.float64, out=csum[1:])
    ends = np.cumsum(counts)
    return csum[ends] - csum[ends - counts]


def layer(x: np.ndarray, deductible: float, limit: float) -> np.ndarray:
    """``min(max(x - deductible, 0), limit)`` in place."""
    dt = x.dtype.type
    if deductible:
        x -= dt(deductible)
    return np.clip(x, dt(0), dt(limit) if math.isfinite(limit) else None, out=x)


def group_losses(
    rng: np.random.Generator, group_counts: np.ndarray, sev: Severity, terms: PolicyTerms, dtype: type
) -> np.ndarray:
    """Layered totals per count cell: occurrence terms on each claim, summed per cell."""
    pay = layer(draw_severities(rng, sev, int(group_counts.sum()), dtype), terms.deductible, terms.limit)
    return segment_sums(pay, group_counts)


def portfolio_losses(
    pf: Portfolio, chunk: Chunk, dtype: type, pooled_counts: dict[int, np.ndarray] | None = None
) -> np.ndarray:
    """Annual aggregate losses of the chunk's simulations (float64).

    Groups without aggregate terms use one pooled count per simulation; groups with
    them draw one count per policy. With QMC the pooled counts come from Sobol
    coordinates (one per pooled group, by inverse CDF) and everything else from the
    chunk's pseudo-random stream: a mixed, still unbiased, randomized QMC. ``pooled_counts``
    (group index -> counts), when given, are those quasi-random counts, computed beforehand.
    """
    n = chunk.size
    rng = np.random.default_rng(chunk.seed)
    pooled_idx = [i for i, g in enumerate(pf.groups) if g.pooled]
    u = None
    if pooled_counts is None and chunk.replicate >= 0 and pooled_idx:
        u = sobol_uniforms(chunk, len(pooled_idx))
    total = np.zeros(n, dtype=np.float64)
    for gi, g in enumerate(pf.groups):
        if g.pooled:
            freq = g.frequency.pooled(g.n_policies)
            if pooled_counts is not None:
                counts = pooled_counts[gi]
            elif u is not None:
                counts = freq.scipy().ppf(u[:, pooled_idx.index(gi)]).astype(np.int64)
            else:
                counts = draw_counts(rng, freq, n)
            total += group_losses(rng, counts, g.severity, g.terms, dtype)
        else:
            counts = draw_counts(rng, g.frequency, n * g.n_policies)
            per_policy = layer(
                group_losses(rng, counts, g.severity, g.terms, dtype),
                g.terms.aggregate_deductible,
                g.terms.aggregate_limit,
            )
            total += per_policy.reshape(n, g.n_policies).sum(axis=1)
    return total


def _pooled_indices(pf: Portfolio) -> list[int]:
    return [i for i, g in enumerate(pf.groups) if g.pooled]


def _quasi_dims(workload: Workload) -> int:
    """Sobol dimensions of one simulation of ``workload`` (0: a portfolio with no pooled group)."""
    if isinstance(workload, EuropeanOption):
        return 1
    if isinstance(workload, AsianOption):
        return workload.n_steps
    if isinstance(workload, Portfolio):
        return len(_pooled_indices(workload))
    return 0


def _groupable(chunk: Chunk) -> bool:
    return chunk.replicate >= 0 and 2 <= chunk.size <= GROUP_MAX_SIZE


def _row_sums(n: int, arrays: Sequence[np.ndarray], cross: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    """Rows ``[n, sum a, sum a^2 (each array), sum of the cross product]``, one per row of ``(k, n)`` arrays.

    Row ``i`` equals ``[n, *moment_row(a[i] ...), vector_dot(*cross[i])]`` bit for bit (rows up
    to ``GROUP_MAX_SIZE``), added to a zero row as :func:`european_chunk_row` does.
    """
    cols = [np.full(len(cross[0]), float(n))]
    for a in arrays:
        a64 = np.asarray(a, dtype=np.float64)
        cols += [a64.sum(axis=1), np.einsum("ij,ij->i", a64, a64)]
    cols.append(np.einsum("ij,ij->i", np.asarray(cross[0], np.float64), np.asarray(cross[1], np.float64)))
    rows = np.zeros((len(cross[0]), len(cols)))
    rows += np.stack(cols, axis=1)
    return rows


def _group_normals(chunks: Sequence[Chunk], dim: int, dtype: type) -> np.ndarray:
    """Step-major normals of a group, ``(dim, k, size)``: ``[:, i]`` is :func:`normals` of ``chunks[i]``."""
    u = sobol_uniforms_many(chunks, dim)  # (k, size, dim)
    return np.ascontiguousarray(ndtri(u).transpose(2, 0, 1), dtype=dtype)


def european_group_rows(opt: EuropeanOption, chunks: Sequence[Chunk], dtype: type, *, antithetic: bool) -> np.ndarray:
    """:func:`european_chunk_row` of each chunk of a group (quasi-random, one size up to ``GROUP_MAX_SIZE``)."""
    z = _group_normals(chunks, 1, dtype)[0]  # (k, size)
    values = _european_values(opt, z)
    if antithetic:
        mirrored = _european_values(opt, -z)
        values = tuple(0.5 * (a.astype(np.float64) + b) for a, b in zip(values, mirrored, strict=True))
    return _row_sums(z.shape[1], values, (values[0], values[3]))  # EUROPEAN_COLUMNS


def asian_group_rows(opt: AsianOption, chunks: Sequence[Chunk], dtype: type, *, antithetic: bool) -> np.ndarray:
    """:func:`asian_row` of each chunk of a group (quasi-random, one size up to ``GROUP_MAX_SIZE``).

    The group's paths are one ``(n_steps, k * size)`` array; the payoffs reduce over the steps of
    each path (axis 0), in the same order whatever the number of paths.
    """
    z3 = _group_normals(chunks, opt.n_steps, dtype)
    k, size = z3.shape[1], z3.shape[2]
    arith, geo = _asian_samples(opt, z3.reshape(opt.n_steps, k * size), bridge=True, antithetic=antithetic)
    arith, geo = arith.reshape(k, size), geo.reshape(k, size)
    return _row_sums(size, (arith, geo), (arith, geo))  # ASIAN_COLUMNS


def portfolio_group_losses(pf: Portfolio, chunks: Sequence[Chunk], dtype: type) -> Iterator[np.ndarray]:
    """:func:`portfolio_losses` of each chunk of a group, one at a time: the quasi-random counts of all at once."""
    pooled_idx = _pooled_indices(pf)
    if not pooled_idx:
        yield from (portfolio_losses(pf, c, dtype) for c in chunks)
        return
    u = sobol_uniforms_many(chunks, len(pooled_idx))  # (k, size, pooled groups)
    counts = {
        gi: pf.groups[gi].frequency.pooled(pf.groups[gi].n_policies).scipy().ppf(u[:, :, j]).astype(np.int64)
        for j, gi in enumerate(pooled_idx)
    }
    for i, c in enumerate(chunks):
        yield portfolio_losses(pf, c, dtype, {gi: v[i] for gi, v in counts.items()})


class NumpyBackend(Backend):
    """Vectorized numpy; releases the GIL inside large array operations."""

    name = "numpy"

    def prepare(self, workload: Workload, config: Config, chunk_size: int) -> None:
        return None

    def run_chunk(self, workload: Workload, config: Config, chunk: Chunk, out: np.ndarray) -> None:
        dtype = float_dtype(config)
        if isinstance(workload, Portfolio):
            out[:] = portfolio_losses(workload, chunk, dtype)
        elif isinstance(workload, EuropeanOption):
            out[:] = european_chunk_row(workload, chunk, dtype, antithetic=config.antithetic)
        elif isinstance(workload, AsianOption):
            z = normals(chunk, workload.n_steps, dtype)
            out[:] = asian_row(workload, z, bridge=chunk.replicate >= 0, antithetic=config.antithetic)
        else:
            raise ValueError(f"unsupported workload {type(workload).__name__}")

    def group_chunks(self, workload: Workload, config: Config, chunks: Sequence[Chunk]) -> list[list[int]]:
        """Quasi-random chunks of one size (2 to ``GROUP_MAX_SIZE`` points) in groups of up to ``GROUP_BYTES``.

        Everything else (pseudo-random chunks, large chunks, a portfolio without quasi-random
        counts) is a group of one.
        """
        dims = _quasi_dims(workload) if config.qmc else 0
        if not dims:
            return [[i] for i in range(len(chunks))]
        groups: list[list[int]] = []
        by_size: dict[int, list[int]] = {}
        for i, c in enumerate(chunks):
            if _groupable(c):
                by_size.setdefault(c.size, []).append(i)
            else:
                groups.append([i])
        if isinstance(workload, Portfolio):  # the group holds its uniforms and counts; the claims are per chunk
            per_sim = 16.0 * dims
        else:
            per_sim = bytes_per_sim(workload, np.dtype(float_dtype(config)).itemsize) * (2 if config.antithetic else 1)
        for size, idx in by_size.items():
            per = max(1, int(GROUP_BYTES // (size * per_sim)))
            groups += [idx[j : j + per] for j in range(0, len(idx), per)]
        return groups

    def run_group(
        self, workload: Workload, config: Config, chunks: Sequence[Chunk], outs: Sequence[np.ndarray]
    ) -> None:
        if len(chunks) != len(outs):
            raise ValueError(f"run_group got {len(chunks)} chunks and {len(outs)} outputs")
        if (len(chunks) < 2 or not _quasi_dims(workload) or not all(map(_groupable, chunks))
                or len({c.size for c in chunks}) > 1):
            super().run_group(workload, config, chunks, outs)
            return
        dtype = float_dtype(config)
        if isinstance(workload, Portfolio):
            parts: Iterable[np.ndarray] = portfolio_group_losses(workload, chunks, dtype)
        elif isinstance(workload, EuropeanOption):
            parts = european_group_rows(workload, chunks, dtype, antithetic=config.antithetic)
        else:
            parts = asian_group_rows(workload, chunks, dtype, antithetic=config.antithetic)
        for out, part in zip(outs, parts, strict=True):
            out[:] = part
