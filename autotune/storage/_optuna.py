"""The Optuna storage on the same database as our tables."""

from __future__ import annotations

import random
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc

from .._errors import StorageError
from ._engine import BUSY_TIMEOUT_S, Database

if TYPE_CHECKING:
    import optuna

__all__ = ["rdb_storage"]

_CREATE_ATTEMPTS = 8


def rdb_storage(db: Database) -> optuna.storages.RDBStorage:
    """An ``optuna.storages.RDBStorage`` on ``db``'s URL (SQLite with the same busy timeout).

    Optuna keeps its own engine and tables (``studies``, ``trials``, ``version_info``, ...);
    none clash with ours. Its engine uses the sqlite3 module's default transaction handling,
    which begins a transaction only at the first write, so the busy timeout covers its writes.
    """
    import optuna  # imported here: only tuning needs it

    if db.is_sqlite and db.url.database in (None, "", ":memory:"):
        raise StorageError("an in-memory SQLite database cannot be shared with Optuna; use a file")
    engine_kwargs: dict[str, Any] = {}
    if db.is_sqlite:
        engine_kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
    url = db.url.render_as_string(hide_password=False)
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (exc.IntegrityError, exc.OperationalError) as err:
            # Processes opening a new file together race to create Optuna's tables (its version
            # row is unique); the loser finds them created on the next try.
            if attempt == _CREATE_ATTEMPTS - 1:
                raise db.error(err) from err
            time.sleep(0.05 * 2**attempt * (1 + random.random()))
        except exc.SQLAlchemyError as err:
            raise db.error(err) from err
    raise AssertionError("unreachable")
