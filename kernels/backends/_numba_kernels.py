"""The numba backend's compiled loops: one pass per path or simulation year, no temporary arrays.

Every kernel is ``njit(nogil=True, cache=True)``: it releases the GIL so that
thread workers run chunks in parallel, and its machine code is cached on disk,
so compilation is paid once per machine. Kernels take the chunk's
``numpy.random.Generator`` (numba draws from its bit generator directly; a
Generator must not be shared between threads, and each chunk has its own) and
the per-path float type ``dt`` (``np.float32`` or ``np.float64``), which picks
the specialization. Per-path arithmetic is in ``dt``; every sum is float64.

Per-path arithmetic mirrors :mod:`kernels.backends.numpy_backend` operation for
operation (the same constants cast to ``dt``, the same order of operations). The
European kernel lets the compiler reorder its running sums, so on the same
(quasi-random) normals the two backends agree to about 1e-13 relative, not to the bit.

Keep this module self-contained: numba invalidates a cached kernel only when
the file that defines it changes.
"""

from __future__ import annotations

import numba
import numpy as np

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


# Paths per block of the European kernel: its normals are drawn into a block first, so that the
# second loop, free of the generator's branches, keeps every path's values in registers.
EU_BLOCK = 1024


@_jit
def _european_path(zi, is_call, c):  # pragma: no cover - compiled
    """One path's discounted payoff, pathwise delta and vega, and control (discounted ``S_T``), as float64.

    The arithmetic is in the type of ``zi`` and ``c``, as in ``numpy_backend._european_values``; out of the
    money, payoff, delta and vega are exactly zero. Selects rather than branches, so that the
    block loop of :func:`european_stats` has no data-dependent jumps.
    """
    st = np.exp(c[EU_DRIFT] + c[EU_VOL] * zi) * c[EU_S0]
    k = c[EU_K]
    disc = c[EU_DISC]
    ctrl = np.float64(st * c[EU_CONTROL])
    itm = st > k if is_call else st < k
    pay = np.float64((st - k) * disc) if itm else 0.0
    delta = np.float64(st * c[EU_DELTA]) if itm else 0.0
    # dS_T/dsigma = S_T (sqrt(T) Z - sigma T)
    vega = np.float64(st * (c[EU_SQRT_T] * zi - c[EU_SIGMA_T]) * disc) if itm else 0.0
    return pay, delta, vega, ctrl


@numba.njit(nogil=True, cache=True, fastmath={"reassoc"})
def european_stats(rng, z, n, is_call, antithetic, control, c, dt, out):  # pragma: no cover - compiled
    """Fill ``out`` with the European row (``EUROPEAN_COLUMNS``) of ``n`` samples.

    ``z`` holds the samples' normals (QMC) or is empty (draw from ``rng``); ``c`` the
    constants at ``EU_*`` in ``dt``. With ``antithetic`` a sample is the float64
    average of the values of the paths from ``z`` and ``-z``. Without ``control`` or
    ``antithetic`` the control columns stay zero (the estimators read them only with the
    control variate), in a loop of its own, so that no path pays for them; the antithetic
    loops always fill them.

    Pseudo-random normals are drawn ``EU_BLOCK`` at a time into a buffer, then the
    block's paths are valued in a loop without tests that the compiler may reorder
    (``fastmath`` reassociation, for the nine running sums only: the per-path values are
    computed exactly as written). The sums' rounding therefore differs from a sequential loop's
    in the last bits, but is fixed for a given chunk: results stay bit-identical
    across executors and worker counts.
    """
    draw = z.shape[0] == 0
    buf = np.empty(EU_BLOCK if draw else 0, dtype=dt)
    first = np.empty((4, EU_BLOCK if antithetic else 0))  # the block's unmirrored values, with antithetic
    sp = sp2 = sd = sd2 = sv = sv2 = sc = sc2 = spc = 0.0
    for b in range(0, n, EU_BLOCK):
        m = min(EU_BLOCK, n - b)
        if draw:
            for j in range(m):
                buf[j] = _normal(rng, dt)
            block = buf[:m]
        else:
            block = z[b : b + m]
        if antithetic:  # the mirrored paths in a loop of their own: one loop with both is not reordered
            for j in range(m):
                first[0, j], first[1, j], first[2, j], first[3, j] = _european_path(block[j], is_call, c)
            for j in range(m):
                pay, delta, vega, ctrl = _european_path(-block[j], is_call, c)
                pay = 0.5 * (first[0, j] + pay)
                delta = 0.5 * (first[1, j] + delta)
                vega = 0.5 * (first[2, j] + vega)
                ctrl = 0.5 * (first[3, j] + ctrl)
                sp, sp2, sd, sd2 = sp + pay, sp2 + pay * pay, sd + delta, sd2 + delta * delta
                sv, sv2, sc, sc2, spc = sv + vega, sv2 + vega * vega, sc + ctrl, sc2 + ctrl * ctrl, spc + pay * ctrl
        elif control:
            for j in range(m):
                pay, delta, vega, ctrl = _european_path(block[j], is_call, c)
                sp, sp2, sd, sd2 = sp + pay, sp2 + pay * pay, sd + delta, sd2 + delta * delta
                sv, sv2, sc, sc2, spc = sv + vega, sv2 + vega * vega, sc + ctrl, sc2 + ctrl * ctrl, spc + pay * ctrl
        else:
            for j in range(m):
                pay, delta, vega, _ = _european_path(block[j], is_call, c)
                sp, sp2, sd, sd2 = sp + pay, sp2 + pay * pay, sd + delta, sd2 + delta * delta
                sv, sv2 = sv + vega, sv2 + vega * vega
    out[0] = n
    out[1] = sp
    out[2] = sp2
    out[3] = sd
    out[4] = sd2
    out[5] = sv
    out[6] = sv2
    out[7] = sc
    out[8] = sc2
    out[9] = spc


@_jit
def asian_stats(
    rng, z, n, drift, sqrt_h, sigma, target, left, right, lw, rw, sd, strike, disc, is_call, antithetic, dt, out
):  # pragma: no cover - compiled
    """Fill ``out`` with the 6-column Asian row of ``n`` simulations.

    ``z`` is ``(n, n_steps)`` QMC normals, built into paths by the Brownian bridge
    ``target, left, right, lw, rw, sd``; or ``(0, n_steps)`` for random walks from
    ``rng``. ``drift[j] = mu t_j + log S0`` and ``sqrt_h``, ``sigma`` are in ``dt``.
    With ``antithetic`` the mirrored path (normals ``-z``) has Brownian values
    exactly ``-W``, so both paths come from one pass.
    """
    m = drift.shape[0]
    bridge = z.shape[0] > 0
    w_b = np.zeros(m + 1, dtype=dt)
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
        w = dt(0.0)
        sum_log = sum_exp = sum_log2 = sum_exp2 = 0.0
        for j in range(m):
            if bridge:
                w = w_b[j + 1]
            else:
                w += _normal(rng, dt) * sqrt_h
            sw = w * sigma
            ls = sw + drift[j]
            sum_log += np.float64(ls)
            sum_exp += np.float64(np.exp(ls))
            if antithetic:
                ls2 = drift[j] - sw
                sum_log2 += np.float64(ls2)
                sum_exp2 += np.float64(np.exp(ls2))
        a, g = _asian_payoffs(sum_exp / m, np.exp(sum_log / m), strike, disc, is_call)
        if antithetic:
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
