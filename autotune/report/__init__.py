"""Reports over a results database: machines compared on the same workloads, and an HTML report.

``compare_instances(store, prices, weights=...)`` backs ``autotune instances``: each machine's best
config on the workloads measured on at least two machines, as a median with a confidence interval
(ties where intervals overlap), in seconds and (with a price table from :func:`load_prices`) US
dollars per 1,000 runs, and a weighted geometric mean over the workload mix (:func:`load_weights`).
``write_report(store, out_dir)`` backs
``autotune report``: a self-contained ``report.html`` (figures embedded, also kept as PNG files)
with the speed-up over the default config, the model's predicted against measured times, config
heat maps, tuning convergence and the instance comparison.
"""

from ._html import SECTIONS, ReportResult, write_report
from ._instances import (
    InstanceComparison,
    InstanceRow,
    InstanceSummary,
    compare_instances,
    load_prices,
    load_weights,
    median_interval,
)
from ._sessions import SessionSummary, stored_report

__all__ = [
    "SECTIONS",
    "InstanceComparison",
    "InstanceRow",
    "InstanceSummary",
    "ReportResult",
    "SessionSummary",
    "compare_instances",
    "load_prices",
    "load_weights",
    "median_interval",
    "stored_report",
    "write_report",
]
