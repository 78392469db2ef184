"""The report's figures: matplotlib :class:`~matplotlib.figure.Figure` objects and their PNG bytes.

Figures are drawn without pyplot (no global state, no GUI backend); matplotlib is imported only
when a figure is drawn. The section builders in :mod:`._html` choose the data and call these.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "convergence_figure",
    "heatmap_figure",
    "instances_figure",
    "png_bytes",
    "predicted_figure",
    "speedup_figure",
]

_DPI = 100


def speedup_figure(names: Sequence[str], speedups: Sequence[float], *, log_scale: bool) -> Figure:
    """Horizontal bars of speed-up over the default config, bottom to top in the order given."""
    fig = _figure(8.0, 1.4 + 0.3 * len(names))
    ax = fig.add_subplot()
    ax.barh(range(len(names)), speedups, color="#4c72b0")
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.axvline(1.0, color="black", linewidth=0.8)
    if log_scale:
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    ax.set_xlabel("speed-up over Config()  (t_default / t_best)")
    return fig


def predicted_figure(measured: np.ndarray, predicted: np.ndarray, machines: Sequence[str],
                     machine_names: Mapping[str, str]) -> Figure:
    """Predicted against measured time on log axes, one colour per machine, with y = x and factor-2 lines."""
    fig = _figure(6.5, 6.0)
    ax = fig.add_subplot()
    for i, mid in enumerate(sorted(set(machines), key=lambda m: machine_names.get(m, m))):
        mask = np.array([m == mid for m in machines])
        ax.scatter(measured[mask], predicted[mask], s=12, alpha=0.6, color=f"C{i % 10}",
                   label=machine_names.get(mid, mid))
    lo = float(min(measured.min(), predicted.min())) / 1.5
    hi = float(max(measured.max(), predicted.max())) * 1.5
    ax.plot([lo, hi], [lo, hi], color="black", linewidth=1, label="y = x")
    for factor in (2.0, 0.5):
        ax.plot([lo, hi], [lo * factor, hi * factor], color="grey", linewidth=0.7, linestyle="--")
    ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured median time (s)",
           ylabel="predicted time (s)")
    _plain_log(ax.xaxis)
    _plain_log(ax.yaxis)
    ax.legend(fontsize=7, loc="upper left")
    return fig


def heatmap_figure(ratio: np.ndarray, rows: list[str], columns: list[str], machine: str) -> Figure:
    """Time / best time, workloads down and configs across, on a log colour scale; NaN cells stay blank."""
    import matplotlib
    from matplotlib.colors import LogNorm

    fig = _figure(3.5 + 0.42 * len(columns), 3.0 + 0.3 * len(rows))
    ax = fig.add_subplot()
    top = float(np.nanmax(ratio))
    cmap = matplotlib.colormaps["YlOrRd"].with_extremes(bad="white")
    image = ax.imshow(np.ma.masked_invalid(ratio), cmap=cmap, norm=LogNorm(vmin=1.0, vmax=max(top, 1.01)),
                      aspect="auto")
    ax.set_xticks(range(len(columns)), columns, rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), rows, fontsize=8)
    if ratio.size <= 400:
        for (i, j), value in np.ndenumerate(ratio):
            if math.isfinite(value):
                ax.text(j, i, f"{value:.2g}", ha="center", va="center", fontsize=6,
                        color="white" if value > math.sqrt(max(top, 1.01)) else "black")
    ax.set_title(machine, fontsize=10)
    _plain_log(fig.colorbar(image, ax=ax, label="time / best time").ax.yaxis)
    return fig


def convergence_figure(curves: Sequence[tuple[str, Sequence[float]]]) -> Figure:
    """Step lines of best-so-far / final best against the trial number, one per ``(label, ratios)``."""
    fig = _figure(8.0, 5.0)
    ax = fig.add_subplot()
    for i, (name, ratio) in enumerate(curves):
        trial = np.arange(1, len(ratio) + 1)
        shown = np.where(np.isfinite(ratio), ratio, np.nan)
        ax.step(trial, shown, where="post", color=f"C{i % 10}", label=name)
    ax.set_yscale("log")
    ax.set(xlabel="trial (measurement) number", ylabel="best so far / final best")
    ax.axhline(1.0, color="black", linewidth=0.8)
    _plain_log(ax.yaxis)
    fig.legend(loc="outside lower center", ncols=2, fontsize=7)
    return fig


def instances_figure(workloads: Sequence[str], bars: Sequence[tuple[str, Sequence[float | None]]], *,
                     n_rows: int, xlabel: str) -> Figure:
    """Grouped horizontal bars: one group per workload, one bar per ``(machine label, values)``; None is no bar.

    ``n_rows`` (the comparison's row count) sizes the figure.
    """
    height = 0.8 / len(bars)
    fig = _figure(8.0, 1.6 + 0.22 * n_rows + 0.25 * len(workloads))
    ax = fig.add_subplot()
    for j, (label, values) in enumerate(bars):
        ax.barh([i + (j - (len(bars) - 1) / 2) * height for i in range(len(workloads))],
                [math.nan if b is None else b for b in values], height=height, color=f"C{j % 10}", label=label)
    ax.set_yticks(range(len(workloads)), workloads, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    _plain_log(ax.xaxis)
    ax.set_xlabel(xlabel)
    fig.legend(loc="outside lower center", ncols=min(len(bars), 3), fontsize=7)
    return fig


def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, min(height, 40.0)), dpi=_DPI, layout="constrained")


def _plain_log(axis: Any) -> None:
    """Plain numbers (0.002, not 2×10⁻³) on a log axis; fewer minor tick labels the more decades it spans."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    low, high = axis.get_view_interval()
    span = high / low if 0 < low < high else math.inf
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    if span < 10:
        axis.set_minor_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    elif span < 1000:  # label 2 and 5 of each decade
        axis.set_minor_formatter(FuncFormatter(
            lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "25" else ""))
    else:
        axis.set_minor_formatter(NullFormatter())


def png_bytes(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=_DPI, facecolor="white")
    fig.clear()
    return buffer.getvalue()
