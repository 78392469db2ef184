"""The results database: machines, workloads, configs, tuning sessions, measurements, models.

One SQLAlchemy database (SQLite by default, ``sqlite:///./results.db``) that also holds
the Optuna studies, so ``optuna-dashboard <url>`` shows them beside our tables.
"""

from ._engine import BUSY_TIMEOUT_S, DEFAULT_URL, ENV_VAR, resolve_url
from ._log import ResultsLog, library_versions
from ._mapping import MEASUREMENT_COLUMNS, Column
from ._models import SCHEMA_VERSION
from ._records import (
    SOURCES,
    MachineRow,
    ModelRow,
    ProfileRow,
    TuningSessionRow,
    WorkloadRow,
)
from ._runs import RUN_COLUMNS, measurement_table, write_rows
from ._storage import MAX_NAME_LENGTH, Storage, check_workload_name, config_id, open_storage
from ._transfer import EXPORT_FORMAT, EXPORT_VERSION, TransferCounts, export_results, import_results

__all__ = [
    "BUSY_TIMEOUT_S",
    "DEFAULT_URL",
    "ENV_VAR",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "MAX_NAME_LENGTH",
    "MEASUREMENT_COLUMNS",
    "RUN_COLUMNS",
    "SCHEMA_VERSION",
    "SOURCES",
    "Column",
    "MachineRow",
    "ModelRow",
    "ProfileRow",
    "ResultsLog",
    "Storage",
    "TransferCounts",
    "TuningSessionRow",
    "WorkloadRow",
    "check_workload_name",
    "config_id",
    "export_results",
    "import_results",
    "library_versions",
    "measurement_table",
    "open_storage",
    "resolve_url",
    "write_rows",
]
