"""What each chunk returns, and how chunk outputs become estimates and standard errors.

Options reduce each chunk to a row of float64 sums (``STATS_COLUMNS``); a
portfolio keeps every simulated annual loss, because VaR and TVaR need the
whole sample. Backends fill these layouts; nothing here depends on a backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ._analytic import geometric_asian_reference
from ._chunks import Chunk
from ._workloads import AsianOption, EuropeanOption, Portfolio, Workload

# Row layouts of the per-chunk sums (column 0 is the number of samples).
EUROPEAN_COLUMNS = ("n", "price", "price2", "delta", "delta2", "vega", "vega2")
ASIAN_COLUMNS = ("n", "arith", "arith2", "geo", "geo2", "arith_geo")

Estimates = tuple[dict[str, float], dict[str, float]]


def output_shape(workload: Workload, n_sims: int, n_chunks: int) -> tuple[int, ...]:
    """Shape of the float64 buffer all chunks of a run write into."""
    if isinstance(workload, Portfolio):
        return (n_sims,)
    width = len(EUROPEAN_COLUMNS) if isinstance(workload, EuropeanOption) else len(ASIAN_COLUMNS)
    return (n_chunks, width)


def chunk_view(buffer: np.ndarray, workload: Workload, chunk: Chunk) -> np.ndarray:
    """The part of the run's buffer that ``chunk`` writes."""
    if isinstance(workload, Portfolio):
        return buffer[chunk.start : chunk.start + chunk.size]
    return buffer[chunk.index]


def moment_row(*arrays: np.ndarray) -> list[float]:
    """``[sum(a), sum(a*a)]`` for each array, accumulated in float64."""
    row: list[float] = []
    for a in arrays:
        a64 = np.asarray(a, dtype=np.float64)
        row += [float(a64.sum()), float(np.dot(a64, a64))]
    return row


def _replicate_groups(chunks: Sequence[Chunk]) -> list[np.ndarray]:
    reps: dict[int, list[int]] = {}
    for c in chunks:
        reps.setdefault(c.replicate, []).append(c.index)
    return [np.asarray(v) for _, v in sorted(reps.items())]


def _mean_se(s1: float, s2: float, n: float) -> tuple[float, float]:
    mean = s1 / n
    var = max(s2 - s1 * s1 / n, 0.0) / max(n - 1, 1)
    return mean, math.sqrt(var / n)


def _replicate_mean_se(values: np.ndarray) -> tuple[float, float]:
    """Estimate and standard error from independent randomized-QMC replicates."""
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def reduce_european(stats: np.ndarray, chunks: Sequence[Chunk], qmc: bool) -> Estimates:
    est: dict[str, float] = {}
    se: dict[str, float] = {}
    names = ("price", "delta", "vega")
    if not qmc:
        tot = stats.sum(axis=0)
        n = tot[0]
        for i, name in enumerate(names):
            est[name], se[name] = _mean_se(tot[1 + 2 * i], tot[2 + 2 * i], n)
        return est, se
    per_rep = np.array([stats[idx].sum(axis=0) for idx in _replicate_groups(chunks)])
    for i, name in enumerate(names):
        est[name], se[name] = _replicate_mean_se(per_rep[:, 1 + 2 * i] / per_rep[:, 0])
    return est, se


def reduce_asian(stats: np.ndarray, chunks: Sequence[Chunk], qmc: bool, option: AsianOption) -> Estimates:
    """Arithmetic price (optionally with the geometric control variate) and the plain geometric price."""
    tot = stats.sum(axis=0)
    n, sa, saa, sg, sgg, sag = tot
    var_g = (sgg - sg * sg / n) / max(n - 1, 1)
    cov_ag = (sag - sa * sg / n) / max(n - 1, 1)
    beta = cov_ag / var_g if (option.control_variate and var_g > 0) else 0.0
    g_exact = geometric_asian_reference(option) if option.control_variate else 0.0

    if not qmc:
        var_a = (saa - sa * sa / n) / max(n - 1, 1)
        price = sa / n - beta * (sg / n - g_exact)
        var_cv = max(var_a - 2 * beta * cov_ag + beta * beta * var_g, 0.0)
        geo, geo_se = _mean_se(sg, sgg, n)
        return {"price": price, "geometric_price": geo}, {"price": math.sqrt(var_cv / n), "geometric_price": geo_se}
    per_rep = np.array([stats[idx].sum(axis=0) for idx in _replicate_groups(chunks)])
    mean_a = per_rep[:, 1] / per_rep[:, 0]
    mean_g = per_rep[:, 3] / per_rep[:, 0]
    price, price_se = _replicate_mean_se(mean_a - beta * (mean_g - g_exact))
    geo, geo_se = _replicate_mean_se(mean_g)
    return {"price": price, "geometric_price": geo}, {"price": price_se, "geometric_price": geo_se}


def _quantile_index(n: int, level: float) -> int:
    """0-based index of the order statistic that is VaR at ``level``: ``ceil(n * level)``-th smallest."""
    return min(max(math.ceil(n * level - 1e-9) - 1, 0), n - 1)


def reduce_portfolio(losses: np.ndarray, chunks: Sequence[Chunk], qmc: bool, portfolio: Portfolio) -> Estimates:
    """Mean, std, VaR and TVaR of the annual aggregate loss, with standard errors.

    VaR at level p is the ``ceil(n p)``-th smallest loss. TVaR is
    ``VaR + E[(L - VaR)^+] / (1 - p)`` (Rockafellar–Uryasev), which is the mean of
    the worst ``1 - p`` share of years and stays right when losses have atoms.
    Standard errors: the mean's from the sample (or from the scrambles with QMC);
    the std's by the delta method; VaR's from the order statistics ``sqrt(n p (1-p))``
    places either side; TVaR's from ``Var((L - VaR)^+) / (n (1 - p)^2)``. The last
    three use the i.i.d. formulas also with QMC, where they are conservative.
    """
    n = losses.size
    est: dict[str, float] = {}
    se: dict[str, float] = {}
    mean = float(losses.mean())
    # At most two whole-sample temporaries are alive at once (kernels._resources.REDUCE_COPIES).
    centered = losses - mean
    m2 = float(np.dot(centered, centered) / n)
    np.square(centered, out=centered)
    m4 = float(np.dot(centered, centered) / n)
    del centered
    est["mean"] = mean
    if qmc:
        reps = np.array([losses[chunks[i].start : chunks[i].start + chunks[i].size].sum() for i in range(len(chunks))])
        sizes = np.array([c.size for c in chunks], dtype=np.float64)
        groups = _replicate_groups(chunks)
        _, se["mean"] = _replicate_mean_se(np.array([reps[g].sum() / sizes[g].sum() for g in groups]))
    else:
        se["mean"] = math.sqrt(m2 * n / max(n - 1, 1) / n)
    std = math.sqrt(m2 * n / max(n - 1, 1))
    est["std"] = std
    se["std"] = math.sqrt(max(m4 - m2 * m2, 0.0) / n) / (2 * std) if std > 0 else 0.0

    levels = portfolio.levels
    idx = sorted({_quantile_index(n, p) for p in levels})
    half = {p: max(1, math.ceil(math.sqrt(n * p * (1 - p)))) for p in levels}
    extra = set()
    for p in levels:
        k = _quantile_index(n, p)
        extra.update((max(k - half[p], 0), min(k + half[p], n - 1)))
    part = np.partition(losses, sorted(set(idx) | extra))
    excess = np.empty_like(losses)
    for p in levels:
        k = _quantile_index(n, p)
        var_p = float(part[k])
        lo, hi = float(part[max(k - half[p], 0)]), float(part[min(k + half[p], n - 1)])
        np.subtract(losses, var_p, out=excess)
        np.maximum(excess, 0.0, out=excess)
        mean_excess = float(excess.mean())
        excess -= mean_excess  # in place: the standard deviation without another temporary
        std_excess = math.sqrt(float(np.dot(excess, excess)) / max(n - 1, 1))
        key = f"{p:g}"
        est[f"VaR_{key}"] = var_p
        est[f"TVaR_{key}"] = var_p + mean_excess / (1 - p)
        se[f"VaR_{key}"] = (hi - lo) / 2
        se[f"TVaR_{key}"] = std_excess / ((1 - p) * math.sqrt(n))
    return est, se


def reduce(workload: Workload, buffer: np.ndarray, chunks: Sequence[Chunk], qmc: bool) -> Estimates:
    """Estimates and standard errors from a filled run buffer."""
    if isinstance(workload, Portfolio):
        return reduce_portfolio(buffer, chunks, qmc, workload)
    if isinstance(workload, EuropeanOption):
        return reduce_european(buffer, chunks, qmc)
    return reduce_asian(buffer, chunks, qmc, workload)
