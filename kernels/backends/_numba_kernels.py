"""The numba backend's compiled loops: one pass per path or simulation year, small per-block buffers only.

Every kernel is ``njit(nogil=True, cache=True)``: it releases the GIL so that
thread workers run chunks in parallel, and its machine code is cached on disk,
so compilation is paid once per machine. Kernels take the chunk's
``numpy.random.Generator`` (numba draws from its bit generator directly; a
Generator must not be shared between threads, and each chunk has its own) and
work in the per-path float type ``dt`` (``np.float32`` or ``np.float64``), which picks
the specialization: the option kernels read it from their constants' dtype, the
portfolio kernel takes it as an argument. Per-path arithmetic is in ``dt``; every sum is float64.

Per-path arithmetic mirrors :mod:`kernels.backends.numpy_backend` operation for
operation (the same constants cast to ``dt``, the same order of operations), except
that the option kernels take ``exp`` from :func:`_exp` (within 1 ulp of numpy's, and
vectorisable) and let the compiler reorder their sums, so on the same (quasi-random)
normals the two backends agree to about 1e-15 relative, not to the bit.

Keep this module self-contained: numba invalidates a cached kernel only when
the file that defines it changes.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

# Frequency and severity family codes (``Frequency.code`` / ``Severity.code``).
POISSON, NEGATIVE_BINOMIAL, BINOMIAL = 0, 1, 2
GAMMA, LOGNORMAL, PARETO, EXPONENTIAL, WEIBULL = 0, 1, 2, 3, 4

# Layout of the European constants array (cast to ``dt`` on the host). ``EU_DISC`` is the
# discount signed by the payoff (-1 for puts); ``EU_CONTROL`` the plain discount, for the control.
EU_DRIFT, EU_VOL, EU_S0, EU_K, EU_DISC, EU_DELTA, EU_SQRT_T, EU_SIGMA_T, EU_CONTROL = range(9)
EU_CONSTANTS = 9

_jit = numba.njit(nogil=True, cache=True)


@_jit
def _normal(rng, dt):  # pragma: no cover - compiled
    """A standard normal in ``dt``, drawn in float64.

    numba's float32 ziggurat (``standard_normal(dtype=np.float32)``) is about 4x
    slower than its float64 one, so float32 paths cast a float64 draw instead.
    """
    return dt(rng.standard_normal())


@intrinsic
def _bits_to_float64(typingctx, bits):  # pragma: no cover - compiled
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits`` (an LLVM ``bitcast``)."""
    sig = types.float64(types.int64)

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return sig, codegen


_LOG2_E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that k * _LN2_HI is exact for |k| < 2^11
_LN2_LO = 1.90821492927058770002e-10
_C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = (1.0 / math.factorial(i) for i in range(2, 14))


@_jit
def _exp(x):  # pragma: no cover - compiled
    """``exp`` of a float64 in straight-line arithmetic, within 1 ulp of ``numpy.exp``.

    numba compiles ``np.exp`` to a call of the C library's scalar ``exp``, which the
    compiler cannot vectorise (the SIMD math library numba could use needs an
    Intel-patched LLVM that pip's llvmlite is not), and at about 5 ns it was half of a
    European path. Here ``x = k ln 2 + r`` with ``|r| <= ln 2 / 2`` (Cody and Waite's two-part
    ln 2), ``exp(r)`` is its degree-13 Taylor polynomial (truncation < 1e-17 relative),
    and ``2^k`` is assembled from its exponent bits in two halves, so that results that
    overflow, underflow or are subnormal come out as ``numpy.exp``'s do. Straight-line,
    so a loop over a block of paths compiles to SIMD code.
    """
    x = -746.0 if x < -746.0 else x  # exp is 0 / inf beyond: keeps k small (selects, not min/max,
    x = 710.0 if x > 710.0 else x  # which compile to branches), and a NaN stays NaN
    k = np.floor((x if x == x else 0.0) * _LOG2_E + 0.5)
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = _C13
    p = p * r + _C12
    p = p * r + _C11
    p = p * r + _C10
    p = p * r + _C9
    p = p * r + _C8
    p = p * r + _C7
    p = p * r + _C6
    p = p * r + _C5
    p = p * r + _C4
    p = p * r + _C3
    p = p * r + _C2
    p = p * r + 1.0
    p = p * r + 1.0
    ki = np.int64(k)
    half = ki >> 1
    return p * _bits_to_float64((half + 1023) << 52) * _bits_to_float64((ki - half + 1023) << 52)


# Paths per block of the European kernel: its normals are drawn into a block first, then the
# block's paths are valued in a loop free of the generator's branches, which compiles to SIMD code.
EU_BLOCK = 1024


@numba.njit(inline="always")
def _european_path(zi, is_call, c, dt):  # pragma: no cover - compiled
    """One path's discounted payoff, pathwise delta and vega, and control (discounted ``S_T``), as float64.

    The arithmetic is in the type of ``zi`` and ``c``, as in ``numpy_backend._european_values``; out of the
    money, payoff, delta and vega are exactly zero. Selects rather than branches, so that the
    block loop of :func:`_european_values` has no data-dependent jumps.
    """
    st = dt(_exp(np.float64(c[EU_DRIFT] + c[EU_VOL] * zi))) * c[EU_S0]
    k = c[EU_K]
    disc = c[EU_DISC]
    ctrl = np.float64(st * c[EU_CONTROL])
    itm = st > k if is_call else st < k
    pay = np.float64((st - k) * disc) if itm else 0.0
    delta = np.float64(st * c[EU_DELTA]) if itm else 0.0
    # dS_T/dsigma = S_T (sqrt(T) Z - sigma T)
    vega = np.float64(st * (c[EU_SQRT_T] * zi - c[EU_SIGMA_T]) * disc) if itm else 0.0
    return pay, delta, vega, ctrl


@_jit
def _european_values(block, sign, is_call, c, dt, vals):  # pragma: no cover - compiled
    """``vals[:, j]``: the values of the path from the normal ``sign * block[j]`` (``sign`` is +-1).

    Compiled without ``fastmath``: every path's values are computed exactly as written.
    """
    for j in range(block.shape[0]):
        vals[0, j], vals[1, j], vals[2, j], vals[3, j] = _european_path(sign * block[j], is_call, c, dt)


@numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
def _european_sums(vals, mirror, m, antithetic, control, s):  # pragma: no cover - compiled
    """Add the first ``m`` samples of a block to the running sums ``s`` (the columns after ``n``).

    With ``antithetic`` a sample is the average of a path in ``vals`` and its mirror in
    ``mirror``. Without ``control`` or ``antithetic`` the control's sums are left alone.
    The compiler may reorder these sums (``fastmath`` reassociation, here only), so their
    rounding differs from a sequential loop's in the last bits, but is fixed for a given
    chunk: results stay bit-identical across executors and worker counts.
    """
    sp, sp2, sd, sd2, sv, sv2, sc, sc2, spc = s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8]
    if antithetic:
        for j in range(m):
            pay = 0.5 * (vals[0, j] + mirror[0, j])
            delta = 0.5 * (vals[1, j] + mirror[1, j])
            vega = 0.5 * (vals[2, j] + mirror[2, j])
            ctrl = 0.5 * (vals[3, j] + mirror[3, j])
            sp, sp2, sd, sd2 = sp + pay, sp2 + pay * pay, sd + delta, sd2 + delta * delta
            sv, sv2, sc, sc2, spc = sv + vega, sv2 + vega * vega, sc + ctrl, sc2 + ctrl * ctrl, spc + pay * ctrl
    elif control:
        for j in range(m):
            pay, delta, vega, ctrl = vals[0, j], vals[1, j], vals[2, j], vals[3, j]
            sp, sp2, sd, sd2 = sp + pay, sp2 + pay * pay, sd + delta, sd2 + delta * delta
            sv, sv2, sc, sc2, spc = sv + vega, sv2 + vega * vega, sc + ctrl, sc2 + ctrl * ctrl, spc + pay * ctrl
    else:
        for j in range(m):
            pay, delta, vega = vals[0, j], vals[1, j], vals[2, j]
            sp, sp2, sd, sd2 = sp + pay, sp2 + pay * pay, sd + delta, sd2 + delta * delta
            sv, sv2 = sv + vega, sv2 + vega * vega
    s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7], s[8] = sp, sp2, sd, sd2, sv, sv2, sc, sc2, spc


@_jit
def european_stats(rng, z, n, is_call, antithetic, control, c, out):  # pragma: no cover - compiled
    """Fill ``out`` with the European row (``EUROPEAN_COLUMNS``) of ``n`` samples.

    ``z`` holds the samples' normals (QMC) or is empty (draw from ``rng``); ``c`` the
    constants at ``EU_*`` in the per-path type ``dt``, which it sets (a type passed as an
    argument cost ~5 us of dispatch per call). With ``antithetic`` a sample is the float64
    average of the values of the paths from ``z`` and ``-z``. Without ``control`` or
    ``antithetic`` the control columns stay zero (the estimators read them only with the
    control variate); the antithetic sums always fill them.

    Pseudo-random normals are drawn ``EU_BLOCK`` at a time into a buffer; each block's
    paths are then valued (:func:`_european_values`) and summed (:func:`_european_sums`).
    """
    dt = c.dtype.type
    draw = z.shape[0] == 0
    c = (c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8])  # in registers, not read from memory per path
    buf = np.empty(EU_BLOCK if draw else 0, dtype=dt)
    vals = np.empty((4, EU_BLOCK))
    mirror = np.empty((4, EU_BLOCK if antithetic else 0))
    out[0] = n
    out[1:] = 0.0
    for b in range(0, n, EU_BLOCK):
        m = min(EU_BLOCK, n - b)
        if draw:
            for j in range(m):
                buf[j] = _normal(rng, dt)
            block = buf[:m]
        else:
            block = z[b : b + m]
        _european_values(block, dt(1.0), is_call, c, dt, vals)
        if antithetic:
            _european_values(block, dt(-1.0), is_call, c, dt, mirror)
        _european_sums(vals, mirror, m, antithetic, control, out[1:])


@_jit
def _asian_logs(sw, drift, mirror, logs, exps):  # pragma: no cover - compiled
    """Per date ``j``: ``logs[j]`` the log-price ``drift[j] + sw[j]`` (``drift[j] - sw[j]`` when ``mirror``)
    and ``exps[j]`` its exp, both as float64 of the per-path type's values.

    Straight-line code without ``fastmath``: each value exactly as written, and the loop compiles to SIMD.
    """
    dt = drift.dtype.type
    for j in range(sw.shape[0]):
        ls = drift[j] - sw[j] if mirror else sw[j] + drift[j]
        logs[j] = np.float64(ls)
        exps[j] = np.float64(dt(_exp(np.float64(ls))))


@numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
def _sums(a, b):  # pragma: no cover - compiled
    """``(sum(a), sum(b))``, in an order the compiler may choose (fixed for given inputs)."""
    sa = sb = 0.0
    for j in range(a.shape[0]):
        sa += a[j]
        sb += b[j]
    return sa, sb


@_jit
def asian_stats(
    rng, z, n, drift, sqrt_h, sigma, target, left, right, lw, rw, sd, strike, disc, is_call, antithetic, out
):  # pragma: no cover - compiled
    """Fill ``out`` with the 6-column Asian row of ``n`` simulations.

    ``z`` is ``(n, n_steps)`` QMC normals, built into paths by the Brownian bridge
    ``target, left, right, lw, rw, sd``; or ``(0, n_steps)`` for random walks from
    ``rng``. ``drift[j] = mu t_j + log S0`` and ``sqrt_h``, ``sigma`` are in the per-path
    type ``dt``, which ``drift`` sets. With ``antithetic`` the mirrored path (normals ``-z``)
    has Brownian values exactly ``-W``, so both paths come from one pass.

    A path's ``sigma W`` per date is built first (the walk's draws and running sum are
    sequential), then its log-prices and their exps in a loop that compiles to SIMD
    (:func:`_asian_logs`), then their sums (:func:`_sums`).
    """
    dt = drift.dtype.type
    m = drift.shape[0]
    bridge = z.shape[0] > 0
    w_b = np.zeros(m + 1, dtype=dt)
    sw = np.empty(m, dtype=dt)
    logs = np.empty(m)
    exps = np.empty(m)
    sa = saa = sg = sgg = sag = 0.0
    for i in range(n):
        if bridge:
            for j in range(m):
                acc = sd[j] * z[i, j]
                if lw[j] != 0:
                    acc += lw[j] * w_b[left[j]]
                if rw[j] != 0:
                    acc += rw[j] * w_b[right[j]]
                w_b[target[j]] = acc
            for j in range(m):
                sw[j] = w_b[j + 1] * sigma
        else:
            w = dt(0.0)
            for j in range(m):
                w += _normal(rng, dt) * sqrt_h
                sw[j] = w * sigma
        _asian_logs(sw, drift, False, logs, exps)
        sum_log, sum_exp = _sums(logs, exps)
        a, g = _asian_payoffs(sum_exp / m, np.exp(sum_log / m), strike, disc, is_call)
        if antithetic:
            _asian_logs(sw, drift, True, logs, exps)
            sum_log2, sum_exp2 = _sums(logs, exps)
            a2, g2 = _asian_payoffs(sum_exp2 / m, np.exp(sum_log2 / m), strike, disc, is_call)
            a, g = 0.5 * (a + a2), 0.5 * (g + g2)
        sa += a
        saa += a * a
        sg += g
        sgg += g * g
        sag += a * g
    out[0] = n
    out[1] = sa
    out[2] = saa
    out[3] = sg
    out[4] = sgg
    out[5] = sag


@_jit
def _asian_payoffs(arith, geo, strike, disc, is_call):  # pragma: no cover - compiled
    if is_call:
        return disc * max(arith - strike, 0.0), disc * max(geo - strike, 0.0)
    return disc * max(strike - arith, 0.0), disc * max(strike - geo, 0.0)


@_jit
def _count(rng, code, a, b):  # pragma: no cover - compiled
    if code == POISSON:
        return rng.poisson(a)
    if code == NEGATIVE_BINOMIAL:
        return rng.negative_binomial(a, b)
    return rng.binomial(np.int64(a), b)


@_jit
def _layered_claims(rng, count, code, a, b, ded, lim, dt):  # pragma: no cover - compiled
    """Float64 sum of ``count`` occurrence payments ``min(max(X - ded, 0), lim)``, ``X`` and the layer in ``dt``."""
    total = 0.0
    for _ in range(count):
        if code == GAMMA:
            x = rng.standard_gamma(a, dtype=dt) * dt(b)
        elif code == LOGNORMAL:
            x = np.exp(_normal(rng, dt) * dt(b) + dt(a))
        elif code == PARETO:  # Lomax: scale * (exp(E / shape) - 1)
            x = np.expm1(rng.standard_exponential(dtype=dt) * dt(1.0 / a)) * dt(b)
        elif code == EXPONENTIAL:
            x = rng.standard_exponential(dtype=dt) * dt(a)
        else:  # Weibull: scale * E ** (1 / shape)
            x = rng.standard_exponential(dtype=dt) ** dt(1.0 / a) * dt(b)
        x = x - ded
        if x < 0:
            x = dt(0.0)
        if x > lim:
            x = lim
        total += np.float64(x)
    return total


@_jit
def portfolio_losses(
    rng, n, freq_code, freq_a, freq_b, sev_code, sev_a, sev_b, terms, n_policies, pooled, counts, dt, out
):  # pragma: no cover - compiled
    """Write the annual aggregate loss of ``n`` simulated years into ``out`` (float64).

    Per group ``g``: ``freq_*`` are the parameters of the count actually drawn (the
    pooled frequency for pooled groups, the per-policy one otherwise); ``sev_*``
    are ``Severity.params()``; ``terms[g]`` is ``PolicyTerms.as_tuple()``. A
    pooled group draws one count per year, taken from ``counts[i, g]`` when
    ``counts`` has rows (QMC); other groups draw one count per policy and apply
    the aggregate layer to each policy's year.
    """
    n_groups = freq_code.shape[0]
    host_counts = counts.shape[0] > 0
    for i in range(n):
        total = 0.0
        for g in range(n_groups):
            ded = dt(terms[g, 0])
            lim = dt(terms[g, 1])
            if pooled[g]:
                k = counts[i, g] if host_counts else _count(rng, freq_code[g], freq_a[g], freq_b[g])
                total += _layered_claims(rng, k, sev_code[g], sev_a[g], sev_b[g], ded, lim, dt)
            else:
                agg_ded, agg_lim = terms[g, 2], terms[g, 3]
                for _ in range(n_policies[g]):
                    k = _count(rng, freq_code[g], freq_a[g], freq_b[g])
                    s = _layered_claims(rng, k, sev_code[g], sev_a[g], sev_b[g], ded, lim, dt)
                    total += min(max(s - agg_ded, 0.0), agg_lim)
        out[i] = total
