"""Reports over a results database: machines compared on the same workloads, and an HTML report.

``compare_instances(store, prices)`` backs ``autotune instances``: each machine's fastest config on
the workloads measured on at least two machines, in seconds and (with a price table from
:func:`load_prices`) US dollars per million simulations. ``write_report(store, out_dir)`` backs
``autotune report``: a self-contained ``report.html`` (figures embedded, also kept as PNG files)
with the speed-up over the default config, the model's predicted against measured times, config
heat maps, tuning convergence and the instance comparison.
"""

from ._html import SECTIONS, ReportResult, write_report
from ._instances import InstanceComparison, InstanceRow, compare_instances, load_prices
from ._sessions import SessionSummary, stored_report

__all__ = [
    "SECTIONS",
    "InstanceComparison",
    "InstanceRow",
    "ReportResult",
    "SessionSummary",
    "compare_instances",
    "load_prices",
    "stored_report",
    "write_report",
]
