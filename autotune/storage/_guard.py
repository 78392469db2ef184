"""Looking into an existing SQLite file before autotune changes anything in it.

A SQLite file that holds tables but no ``schema_version`` table is someone else's database
(unless it holds only Optuna's tables: a study stored before autotune opened the file).
Opening it would add autotune's tables and switch it to WAL journal mode, so it is refused
unless the caller adopts it explicitly. The look is taken through a separate ``mode=ro``
connection, before the engine's first connection (whose hook switches to WAL).
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3

from .._errors import StorageError
from ._engine import BUSY_TIMEOUT_S, Database

__all__ = ["OPTUNA_TABLES", "check_sqlite_file", "sqlite_tables"]

_logger = logging.getLogger(__name__)

# The tables ``optuna.storages.RDBStorage`` creates (its models, plus alembic's version table).
OPTUNA_TABLES = frozenset({
    "alembic_version", "studies", "study_directions", "study_system_attributes", "study_user_attributes",
    "trial_heartbeats", "trial_intermediate_values", "trial_params", "trial_system_attributes",
    "trial_user_attributes", "trial_values", "trials", "version_info",
})
_OURS = "schema_version"
_SHOWN = 5


def sqlite_tables(db: Database) -> list[str]:
    """The tables of ``db``'s SQLite file (none if it does not exist), read without changing it.

    Raises:
        StorageError: the file is not a SQLite database or cannot be read.
    """
    if db.path is None or not db.path.exists():
        return []
    try:
        with contextlib.closing(sqlite3.connect(db.read_only_uri(), uri=True, timeout=BUSY_TIMEOUT_S)) as connection:
            rows = connection.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
                "ORDER BY name"
            ).fetchall()
    except sqlite3.Error as err:
        raise db.error(err) from err
    return [name for (name,) in rows]


def check_sqlite_file(db: Database, *, adopt: bool) -> None:
    """Refuse a SQLite file that holds another application's tables, unless ``adopt``.

    Empty or new files, autotune's own databases and files holding only Optuna's tables pass.

    Raises:
        StorageError: the file holds tables but no ``schema_version`` table, and ``adopt`` is
            false (nothing in the file was changed); or the file cannot be read.
    """
    tables = sqlite_tables(db)
    if not tables or _OURS in tables or set(tables) <= OPTUNA_TABLES:
        return
    foreign = [t for t in tables if t not in OPTUNA_TABLES]
    shown = ", ".join(foreign[:_SHOWN]) + (f", ... ({len(foreign)} in all)" if len(foreign) > _SHOWN else "")
    if adopt:
        _logger.info("adopting %s: adding autotune's tables beside its own (%s)", db.path, shown)
        return
    raise StorageError(
        f"{db.path} is not an autotune results database: it holds other tables ({shown}) and no "
        f"{_OURS} table. Nothing was changed in it. Point the storage URL at a new or autotune file "
        "(e.g. results.db), or adopt this one explicitly (adopt=True; CLI: --adopt-database) to add "
        "autotune's tables to it and switch it to WAL journal mode"
    )
