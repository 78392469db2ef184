"""Printing for the ``autotune`` command: plain tables for people, JSON for scripts."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from kernels import Config, SimulationResult

__all__ = ["emit", "fmt_seconds", "json_default", "table"]


def json_default(value: Any) -> Any:
    """JSON for what ``json`` cannot write itself (configs, datetimes, numpy scalars...)."""
    if isinstance(value, Config):
        return value.to_dict()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


def _clean(value: Any) -> Any:
    # JSON has no NaN or infinity: write null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit(data: Any, *, as_json: bool, text: str | None = None, stream: TextIO | None = None) -> None:
    """Print ``data`` as JSON (``as_json``) or ``text``."""
    stream = stream or sys.stdout
    if as_json:
        stream.write(json.dumps(_clean(data), indent=1, default=json_default, allow_nan=False) + "\n")
    elif text is not None:
        stream.write(text.rstrip("\n") + "\n")


def fmt_seconds(value: float | None) -> str:
    """``0.0123`` -> ``12.3 ms``; ``None`` -> ``-``."""
    if value is None or not math.isfinite(value):
        return "-"
    if value >= 1.0:
        return f"{value:.2f} s"
    if value >= 1e-3:
        return f"{value * 1e3:.1f} ms"
    return f"{value * 1e6:.0f} us"


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """A left-aligned plain-text table."""
    cells = [[str(h) for h in header], *[["-" if v is None else str(v) for v in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def estimates_table(result: SimulationResult) -> str:
    """Each estimate with its standard error (an FFT run's: its error estimate)."""
    errors, header = ((result.error_bounds, "error estimate") if result.grid is not None
                      else (result.standard_errors, "std error"))
    rows = []
    for name, value in result.estimates.items():
        se = errors.get(name)
        rows.append((name, f"{value:.6g}", "-" if se is None else f"{se:.3g}"))
    return table(rows, ("estimate", "value", header))
