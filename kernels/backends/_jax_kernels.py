"""The traced functions behind the jax backend: one per workload kind (two for a policy group).

Each function takes its array arguments first and its static structure as keyword
arguments; :mod:`.jax_backend` binds the keywords and compiles it once per shape.
Workload parameters travel as float64 arrays, not constants, so one compilation
serves every workload of the same structure. Shapes are the padded chunk size:
the samples past ``n_valid`` are masked out of every sum.

Importing this module imports jax; the backend module enables 64-bit mode first.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import ndtri

from .._paths import BrownianBridge

F64 = jnp.float64
I64 = jnp.int64
KEY_IMPL = "threefry2x32"

# Indices into the packed option parameters.
OPTION_FIELDS = ("S0", "K", "T", "r", "sigma", "q")


def chunk_key(key_data: jax.Array) -> jax.Array:
    """The chunk's typed PRNG key from its two 32-bit words of seed state."""
    return jax.random.wrap_key_data(key_data, impl=KEY_IMPL)


def _moments(*arrays: jax.Array) -> list[jax.Array]:
    """``[sum(a), sum(a*a)]`` per array, in float64 (masked entries must already be zero)."""
    out: list[jax.Array] = []
    for a in arrays:
        a64 = a.astype(F64)
        out += [a64.sum(), jnp.dot(a64, a64)]
    return out


def _european_values(
    z: jax.Array, valid: jax.Array, params: jax.Array, dtype: np.dtype, is_call: bool
) -> tuple[jax.Array, ...]:
    """Per-path discounted payoff, pathwise delta and vega, and the control (discounted ``S_T``), in ``dtype``.

    The arithmetic of ``numpy_backend._european_values``; every value is zero where not ``valid``.
    """
    S0, K, T, r, sigma, q = (params[i] for i in range(len(OPTION_FIELDS)))
    sqrt_t = jnp.sqrt(T)
    drift = (r - q - 0.5 * sigma**2) * T
    disc = jnp.exp(-r * T)
    sign = 1.0 if is_call else -1.0
    st = jnp.exp(drift.astype(dtype) + (sigma * sqrt_t).astype(dtype) * z) * S0.astype(dtype)
    k = K.astype(dtype)
    itm = (st > k if is_call else st < k) & valid
    zero = jnp.zeros((), dtype)
    signed_disc = (sign * disc).astype(dtype)
    payoff = jnp.where(itm, (st - k) * signed_disc, zero)
    delta = jnp.where(itm, st * (sign * disc / S0).astype(dtype), zero)
    # dS_T/dsigma = S_T (sqrt(T) Z - sigma T)
    vega = jnp.where(itm, st * (sqrt_t.astype(dtype) * z - (sigma * T).astype(dtype)) * signed_disc, zero)
    control = jnp.where(valid, st * disc.astype(dtype), zero)
    return payoff, delta, vega, control


def european_stats(
    params: jax.Array, key_data: jax.Array, n_valid: jax.Array, u: jax.Array | None = None, *,
    size: int, dtype: np.dtype, is_call: bool, antithetic: bool,
) -> jax.Array:
    """The chunk's ``EUROPEAN_COLUMNS`` row; normals from the key, or by inverse CDF of uniforms ``u`` (size, 1).

    With ``antithetic`` each sample is the float64 average of the values of the paths from ``z`` and ``-z``.
    """
    if u is None:
        z = jax.random.normal(chunk_key(key_data), (size,), dtype)
    else:
        # float64 inverse CDF: a float32 uniform can round to 1, where ndtri is infinite
        z = ndtri(u[:, 0]).astype(dtype)
    valid = jnp.arange(size) < n_valid
    values = _european_values(z, valid, params, dtype, is_call)
    if antithetic:
        mirrored = _european_values(-z, valid, params, dtype, is_call)
        values = tuple(0.5 * (a.astype(F64) + b.astype(F64)) for a, b in zip(values, mirrored, strict=True))
    payoff, control = values[0].astype(F64), values[3].astype(F64)
    return jnp.stack([n_valid.astype(F64), *_moments(*values), jnp.dot(payoff, control)])


BridgeLevels = tuple[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray], ...]


def bridge_levels(bridge: BrownianBridge) -> BridgeLevels:
    """The bridge's steps grouped into levels whose end points are all known from earlier levels.

    Each level is ``(steps, target, left, right, lw, rw, sd)``; a level is one
    vectorized update, so a path of ``n`` steps takes about ``log2(n)`` updates
    and no ``(n, n)`` matrix.
    """
    known = {0: -1}
    levels: dict[int, list[int]] = {}
    for j, (t, lo, hi) in enumerate(zip(bridge.target.tolist(), bridge.left.tolist(), bridge.right.tolist(),
                                        strict=True)):
        level = 1 + max(known[lo], known[hi])
        known[t] = level
        levels.setdefault(level, []).append(j)
    out = []
    for _, steps in sorted(levels.items()):
        s = np.asarray(steps)
        out.append((s, bridge.target[s], bridge.left[s], bridge.right[s], bridge.lw[s], bridge.rw[s], bridge.sd[s]))
    return tuple(out)


def _apply_levels(levels: BridgeLevels, z: jax.Array) -> jax.Array:
    """Brownian values ``(paths, n)`` at ``t_1..t_n`` from path-major normals, level by level."""
    paths, n = z.shape
    w = jnp.zeros((paths, n + 1), z.dtype)
    for steps, target, left, right, lw, rw, sd in levels:
        c = [jnp.asarray(a, z.dtype) for a in (lw, rw, sd)]
        w = w.at[:, target].set(c[2] * z[:, steps] + c[0] * w[:, left] + c[1] * w[:, right])
    return w[:, 1:]


def _asian_payoffs(log_s: jax.Array, K: jax.Array, disc: jax.Array, is_call: bool) -> tuple[jax.Array, jax.Array]:
    """Discounted arithmetic and geometric payoffs (float64) from path-major log prices."""
    geo = jnp.exp(jnp.mean(log_s, axis=1, dtype=F64))
    arith = jnp.mean(jnp.exp(log_s), axis=1, dtype=F64)
    if is_call:
        return disc * jnp.maximum(arith - K, 0.0), disc * jnp.maximum(geo - K, 0.0)
    return disc * jnp.maximum(K - arith, 0.0), disc * jnp.maximum(K - geo, 0.0)


def asian_stats(
    params: jax.Array, key_data: jax.Array, n_valid: jax.Array, u: jax.Array | None = None,
    bridge_matrix: jax.Array | None = None, *,
    size: int, n_steps: int, dtype: np.dtype, is_call: bool, antithetic: bool, levels: BridgeLevels | None = None,
) -> jax.Array:
    """The chunk's ``ASIAN_COLUMNS`` row.

    Pseudo-random paths are cumulative sums of ``(size, n_steps)`` normals from the
    key. With uniforms ``u`` (QMC) the normals come by inverse CDF and the path by
    the Brownian bridge: the matrix ``B`` (``W = z @ B.T``) when given, else the
    bridge ``levels``.
    """
    S0, K, T, r, sigma, q = (params[i] for i in range(len(OPTION_FIELDS)))
    h = T / n_steps
    if u is None:
        z = jax.random.normal(chunk_key(key_data), (size, n_steps), dtype)
        w = jnp.cumsum(z * jnp.sqrt(h).astype(dtype), axis=1)
    else:
        z = ndtri(u).astype(dtype)
        if bridge_matrix is not None:
            # HIGHEST: no TF32 (or bf16 passes) for float32 products on GPUs
            w = jnp.matmul(z, bridge_matrix.T, precision=jax.lax.Precision.HIGHEST)
        else:
            w = _apply_levels(levels, z)
    mu = r - q - 0.5 * sigma**2
    times = (jnp.arange(1, n_steps + 1, dtype=F64) * h).astype(dtype)
    drift = mu.astype(dtype) * times + jnp.log(S0).astype(dtype)
    sw = w * sigma.astype(dtype)
    disc = jnp.exp(-r * T)
    arith, geo = _asian_payoffs(sw + drift, K, disc, is_call)
    if antithetic:
        # the path of -z is drift - sigma W, exactly
        a2, g2 = _asian_payoffs(drift - sw, K, disc, is_call)
        arith, geo = 0.5 * (arith + a2), 0.5 * (geo + g2)
    valid = jnp.arange(size) < n_valid
    arith = jnp.where(valid, arith, 0.0)
    geo = jnp.where(valid, geo, 0.0)
    return jnp.stack([n_valid.astype(F64), *_moments(arith, geo), jnp.dot(arith, geo)])


def group_counts(
    key_data: jax.Array, stream: jax.Array, n_valid: jax.Array, fparams: jax.Array, *,
    family: str, size: int, per_sim: int,
) -> tuple[jax.Array, jax.Array]:
    """Claim counts of ``size * per_sim`` cells (sim-major; zero past ``n_valid`` sims) and their total.

    ``fparams`` are the frequency's packed ``params()``. The negative binomial is
    drawn as a Poisson-gamma mixture: ``N ~ Poisson(G)``, ``G ~ Gamma(n) (1 - p) / p``.
    """
    key = jax.random.fold_in(chunk_key(key_data), stream)
    cells = size * per_sim
    a, b = fparams[0], fparams[1]
    if family == "poisson":
        counts = jax.random.poisson(key, a, (cells,), dtype=I64)
    elif family == "negative_binomial":
        k_gamma, k_poisson = jax.random.split(key)
        lam = jax.random.gamma(k_gamma, a, (cells,), F64) * ((1.0 - b) / b)
        counts = jax.random.poisson(k_poisson, lam, dtype=I64)
    elif family == "binomial":
        counts = jax.random.binomial(key, a, b, (cells,), F64).astype(I64)
    else:
        raise ValueError(f"unsupported frequency {family!r}")
    counts = jnp.where(jnp.arange(cells) < n_valid * per_sim, counts, 0)
    return counts, counts.sum()


def severities(key: jax.Array, family: str, sparams: jax.Array, size: int, dtype: np.dtype) -> jax.Array:
    """Ground-up claim sizes in ``dtype``, with the numpy backend's definitions."""
    a, b = sparams[0].astype(dtype), sparams[1].astype(dtype)
    if family == "gamma":
        return jax.random.gamma(key, a, (size,), dtype) * b
    if family == "lognormal":
        return jnp.exp(jax.random.normal(key, (size,), dtype) * b + a)
    if family == "pareto":  # Lomax: scale * (exp(E / shape) - 1)
        return jnp.expm1(jax.random.exponential(key, (size,), dtype) * (1.0 / sparams[0]).astype(dtype)) * b
    if family == "exponential":
        return jax.random.exponential(key, (size,), dtype) * a
    if family == "weibull":
        return jax.random.exponential(key, (size,), dtype) ** (1.0 / sparams[0]).astype(dtype) * b
    raise ValueError(f"unsupported severity {family!r}")


def group_losses(
    key_data: jax.Array, stream: jax.Array, counts: jax.Array, sparams: jax.Array, terms: jax.Array, *,
    family: str, dtype: np.dtype, bucket: int, size: int, per_sim: int, aggregate: bool,
) -> jax.Array:
    """Per-sim float64 totals of one policy group from its cell counts.

    Draws ``bucket >= counts.sum()`` severities (the extra are masked), pays
    ``min(max(X - d, 0), limit)`` per occurrence, sums per cell in float64 (as
    the numpy backend does, by differences of a running sum), and with
    ``aggregate`` applies the per-policy aggregate layer before summing the
    ``per_sim`` policies of each simulation. ``terms`` is ``PolicyTerms.as_tuple()``.
    """
    key = jax.random.fold_in(chunk_key(key_data), stream)
    deductible, limit = terms[0].astype(dtype), terms[1].astype(dtype)
    pay = jnp.minimum(jnp.maximum(severities(key, family, sparams, bucket, dtype) - deductible, 0), limit)
    pay64 = jnp.where(jnp.arange(bucket) < counts.sum(), pay.astype(F64), 0.0)
    # Claims are laid out cell after cell: a cell's sum is a difference of the running sum at its ends.
    csum = jnp.concatenate([jnp.zeros(1, F64), jnp.cumsum(pay64)])
    ends = jnp.cumsum(counts)
    sums = csum[ends] - csum[ends - counts]
    if aggregate:
        sums = jnp.minimum(jnp.maximum(sums - terms[2], 0.0), terms[3])
        sums = sums.reshape(size, per_sim).sum(axis=1)
    return sums
