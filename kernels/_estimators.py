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
from ._config import Config
from ._workloads import AsianOption, EuropeanOption, Portfolio, Workload

# Row layouts of the per-chunk sums (column 0 is the number of samples). With antithetic
# pairs every per-sample value is the average over the pair. ``control`` is the European's
# control variate, the discounted terminal spot; the Asian's is its geometric payoff.
EUROPEAN_COLUMNS = ("n", "price", "price2", "delta", "delta2", "vega", "vega2", "control", "control2",
                    "price_control")
ASIAN_COLUMNS = ("n", "arith", "arith2", "geo", "geo2", "arith_geo")

def vector_dot(a: np.ndarray, b: np.ndarray) -> float:
    """``sum(a * b)`` without BLAS: ``np.dot`` hands vectors over ~10k elements to OpenBLAS threads, which on
    a busy machine made reductions 20-50x slower than the simulation itself; ``einsum`` loops in C."""
    return float(np.einsum("i,i->", a, b))


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
        row += [float(a64.sum()), float(vector_dot(a64, a64))]
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


def _replicate_sums(rows: np.ndarray, groups: list[np.ndarray]) -> np.ndarray:
    """Column sums of each scramble's chunk rows, ``(scrambles, columns)``.

    One scramble-major pass when every scramble has a single chunk in order (a one-round run to a
    target, or a fixed run of one chunk per scramble), one batched sum when every scramble has as
    many chunks (the later rounds of a run to a target): the same sums, without a Python loop.
    """
    if all(len(g) == 1 for g in groups) and len(groups) == len(rows):
        order = np.concatenate(groups)
        return rows if np.array_equal(order, np.arange(len(rows))) else rows[order]
    if len({len(g) for g in groups}) == 1:  # as many chunks in every scramble: one (scramble, chunk, column) sum
        # Along the chunk axis, not the inner one: each column adds its rows in order, as the loop does.
        return rows[np.stack(groups)].sum(axis=1)
    return np.array([rows[idx].sum(axis=0) for idx in groups])


def _controlled(
    sums: np.ndarray, cols: tuple[int, int, int, int, int], exact: float | None, per_rep: np.ndarray | None,
) -> tuple[float, float]:
    """Mean of ``y`` corrected by a control ``c`` of known mean ``exact`` (None: no correction), with its SE.

    ``cols`` are the columns of sum y, sum y^2, sum c, sum c^2, sum y c. The coefficient
    ``beta = cov(y, c) / var(c)`` comes from the pooled sums. Pseudo-random: the SE of the
    regression estimator from the residual variance. Quasi-random (``per_rep``, the column sums of
    each scramble's chunk rows, :func:`_replicate_sums`): the SE from the scatter of the corrected
    scramble means.
    """
    sy, syy, sc, scc, syc = cols
    n = sums[0]
    var_c = (sums[scc] - sums[sc] ** 2 / n) / max(n - 1, 1)
    cov = (sums[syc] - sums[sy] * sums[sc] / n) / max(n - 1, 1)
    beta = cov / var_c if (exact is not None and var_c > 0) else 0.0
    shift = exact if exact is not None else 0.0
    if per_rep is None:
        var_y = (sums[syy] - sums[sy] ** 2 / n) / max(n - 1, 1)
        var = max(var_y - 2 * beta * cov + beta * beta * var_c, 0.0)
        return float(sums[sy] / n - beta * (sums[sc] / n - shift)), math.sqrt(var / n)
    values = per_rep[:, sy] / per_rep[:, 0] - beta * (per_rep[:, sc] / per_rep[:, 0] - shift)
    return _replicate_mean_se(values)


def reduce_european(stats: np.ndarray, chunks: Sequence[Chunk], config: Config, option: EuropeanOption) -> Estimates:
    """Price (with the terminal-spot control variate when asked), pathwise delta and vega."""
    tot = stats.sum(axis=0)
    per_rep = _replicate_sums(stats, _replicate_groups(chunks)) if config.qmc else None
    exact = option.S0 * math.exp(-option.q * option.T) if config.control_variate else None
    est: dict[str, float] = {}
    se: dict[str, float] = {}
    est["price"], se["price"] = _controlled(tot, (1, 2, 7, 8, 9), exact, per_rep)
    for i, name in ((3, "delta"), (5, "vega")):
        # No control: the cross-sum column is unused when exact is None.
        est[name], se[name] = _controlled(tot, (i, i + 1, 7, 8, 9), None, per_rep)
    return est, se


def reduce_asian(stats: np.ndarray, chunks: Sequence[Chunk], config: Config, option: AsianOption) -> Estimates:
    """Arithmetic price (with the geometric control variate when asked) and the plain geometric price."""
    tot = stats.sum(axis=0)
    per_rep = _replicate_sums(stats, _replicate_groups(chunks)) if config.qmc else None
    exact = geometric_asian_reference(option) if config.control_variate else None
    price, price_se = _controlled(tot, (1, 2, 3, 4, 5), exact, per_rep)
    geo, geo_se = _controlled(tot, (3, 4, 3, 4, 4), None, per_rep)
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
    m2 = float(vector_dot(centered, centered) / n)
    np.square(centered, out=centered)
    m4 = float(vector_dot(centered, centered) / n)
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
        std_excess = math.sqrt(float(vector_dot(excess, excess)) / max(n - 1, 1))
        key = f"{p:g}"
        est[f"VaR_{key}"] = var_p
        est[f"TVaR_{key}"] = var_p + mean_excess / (1 - p)
        se[f"VaR_{key}"] = (hi - lo) / 2
        se[f"TVaR_{key}"] = std_excess / ((1 - p) * math.sqrt(n))
    return est, se


def reduce(workload: Workload, buffer: np.ndarray, chunks: Sequence[Chunk], config: Config) -> Estimates:
    """Estimates and standard errors from a filled run buffer."""
    if isinstance(workload, Portfolio):
        return reduce_portfolio(buffer, chunks, config.qmc, workload)
    if isinstance(workload, EuropeanOption):
        return reduce_european(buffer, chunks, config, workload)
    return reduce_asian(buffer, chunks, config, workload)


def estimate_names(workload: Workload) -> tuple[str, ...]:
    """The names of the estimates a run of ``workload`` returns, headline first."""
    if isinstance(workload, Portfolio):
        names = ["mean", "std"]
        for p in workload.levels:
            names += [f"VaR_{p:g}", f"TVaR_{p:g}"]
        return tuple(names)
    if isinstance(workload, EuropeanOption):
        return ("price", "delta", "vega")
    return ("price", "geometric_price")


def tail_levels(names: Sequence[str]) -> list[float]:
    """The risk levels of the VaR/TVaR estimates among ``names`` (``"TVaR_0.99"`` -> 0.99)."""
    return [float(name.split("_", 1)[1]) for name in names if name.startswith(("VaR_", "TVaR_"))]


def replicate_based(workload: Workload, name: str) -> bool:
    """Whether a quasi-random run's standard error of ``name`` comes from the scatter of its scrambles.

    Those errors have ``qmc_scrambles - 1`` degrees of freedom (Student-t intervals); the
    portfolio's std, VaR and TVaR errors use i.i.d. formulas and normal quantiles.
    """
    return not isinstance(workload, Portfolio) or name == "mean"
