"""The Optuna storage on the same database as our tables."""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from sqlalchemy import exc

from .._errors import StorageError
from ._engine import BUSY_TIMEOUT_S, Database, install_sqlite_hooks

if TYPE_CHECKING:
    import optuna

__all__ = ["optuna_errors", "rdb_storage"]

_CREATE_ATTEMPTS = 8


def rdb_storage(db: Database) -> optuna.storages.RDBStorage:
    """An ``optuna.storages.RDBStorage`` on ``db``'s URL (SQLite with the same busy timeout).

    Optuna keeps its own engine and tables (``studies``, ``trials``, ``version_info``, ...);
    none clash with ours. On SQLite its engine gets our connection settings (busy timeout, WAL)
    and begins every transaction with ``BEGIN IMMEDIATE``: Optuna reads a trial and then writes
    it (taking a WAITING trial from the queue checks that it is still WAITING), which is atomic
    only if the transaction holds the write lock from the start; otherwise two tuners could both
    take the same trial. On PostgreSQL Optuna locks the row itself (``SELECT ... FOR UPDATE``).

    Raises:
        StorageError: the database is in memory (Optuna's own engine would see another, empty
            one), read-only (a study is written as it runs), or cannot be opened.
    """
    import optuna  # imported here: only tuning needs it

    if db.is_memory:
        raise StorageError("an in-memory SQLite database cannot be shared with Optuna; use a file")
    if db.read_only is not None:
        raise StorageError(
            f"cannot tune into results database {db.path}: it is read-only ({db.read_only}), and tuning "
            "writes its Optuna study and measurements there; use a writable copy or point the storage URL elsewhere"
        )
    engine_kwargs: dict[str, Any] = {}
    if db.is_sqlite:
        engine_kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
    url = db.url.render_as_string(hide_password=False)
    for attempt in range(_CREATE_ATTEMPTS):
        try:
            storage = optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (exc.IntegrityError, exc.OperationalError, exc.ProgrammingError) as err:
            # Processes opening a new database together race to create Optuna's tables (its version
            # row is unique; PostgreSQL may report a table created meanwhile); the loser finds them
            # created on the next try.
            if attempt == _CREATE_ATTEMPTS - 1:
                raise db.error(err) from err
            time.sleep(0.05 * 2**attempt * (1 + random.random()))
            continue
        except exc.SQLAlchemyError as err:
            raise db.error(err) from err
        if db.is_sqlite:
            install_sqlite_hooks(storage.engine, writable=True)
            storage.engine.dispose()  # connections made before the hooks are dropped
        return storage
    raise AssertionError("unreachable")


@contextlib.contextmanager
def optuna_errors(db: Database) -> Iterator[None]:
    """Turn the storage errors of Optuna calls (``create_study``, ``ask``, ``tell``, ...) into StorageError.

    ``optuna.exceptions.StorageInternalError`` (which wraps the SQLAlchemy error) and SQLAlchemy
    errors Optuna lets through leave as :class:`StorageError` naming the database and the
    driver's message (a read-only file says so); the original is kept as ``__cause__``. Other
    exceptions (``DuplicatedStudyError``, ``TrialPruned``, ...) pass through unchanged.
    """
    from optuna.exceptions import StorageInternalError

    try:
        yield
    except StorageInternalError as err:
        cause = _sqlalchemy_cause(err)
        if cause is not None:
            raise db.error(cause) from err
        raise StorageError(f"results database {db.shown_url}: Optuna storage error: {err}") from err
    except exc.SQLAlchemyError as err:
        raise db.error(err) from err


def _sqlalchemy_cause(err: BaseException) -> exc.SQLAlchemyError | None:
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, exc.SQLAlchemyError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
