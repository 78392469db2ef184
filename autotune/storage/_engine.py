"""Engine, URL resolution, and the one session scope that commits, rolls back and converts errors.

SQLite is the default and must survive several processes writing at once (parallel tuning
workers, online recording from many jobs). What makes that robust:

* WAL journal mode, so readers never block writers and a writer never blocks readers;
* a busy timeout, so a writer waits for the lock instead of failing at once;
* write transactions that start with ``BEGIN IMMEDIATE`` (SQLAlchemy's documented pysqlite
  recipe), so a transaction takes the write lock *before* it reads. A deferred transaction
  that reads and then tries to write can fail with "database is locked" at once, without
  the busy timeout ever applying, because SQLite cannot upgrade a stale read snapshot;
* as a last resort, :meth:`Database.transact` retries a whole transaction with backoff on
  a "locked"/"busy" error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session

from .._errors import StorageError

__all__ = ["BUSY_TIMEOUT_S", "DEFAULT_URL", "ENV_VAR", "Database", "resolve_url"]

_logger = logging.getLogger(__name__)

ENV_VAR = "AUTOTUNE_STORAGE"
DEFAULT_URL = "sqlite:///./results.db"
BUSY_TIMEOUT_S = 30.0
_PATH_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_EXPECTED = (
    "expected a SQLAlchemy URL such as 'sqlite:///path/to/results.db' or "
    "'postgresql+psycopg://user@host/dbname', or a file path ending in .db"
)
_READ_ONLY = "autotune_read_only"  # execution option: begin a deferred (reading) transaction
_RETRIES = 5
_BACKOFF_S = 0.05

T = TypeVar("T")


def resolve_url(url: str | None = None) -> URL:
    """The database URL: ``url``, else ``$AUTOTUNE_STORAGE``, else ``sqlite:///./results.db``.

    A plain file path ending in ``.db``/``.sqlite``/``.sqlite3`` becomes a SQLite URL. SQLite
    file paths are made absolute (relative to the current directory), so that the URL names
    the same file wherever it is used later.

    Raises:
        StorageError: the URL is malformed, names an unknown driver, or names a SQLite
            file in a directory that does not exist.
    """
    raw = url if url is not None else (os.environ.get(ENV_VAR) or DEFAULT_URL)
    if not isinstance(raw, str) or not raw.strip():
        raise StorageError(f"invalid results database URL {raw!r}: {_EXPECTED}")
    raw = raw.strip()
    if "://" not in raw:
        if not raw.lower().endswith(_PATH_SUFFIXES):
            raise StorageError(f"invalid results database URL {raw!r}: {_EXPECTED}")
        return _sqlite_file_url(URL.create("sqlite"), raw)
    try:
        parsed = make_url(raw)
    except exc.ArgumentError as err:
        raise StorageError(f"malformed results database URL {raw!r}: {_EXPECTED}") from err
    shown = parsed.render_as_string(hide_password=True)
    try:
        parsed.get_dialect()
    except exc.NoSuchModuleError as err:
        raise StorageError(
            f"unknown database driver {parsed.drivername!r} in results database URL {shown!r}: {_EXPECTED}"
        ) from err
    if parsed.get_backend_name() == "sqlite" and not _is_memory(parsed):
        return _sqlite_file_url(parsed, parsed.database or "")
    return parsed


def _is_memory(url: URL) -> bool:
    return url.database in (None, "", ":memory:") or (url.database or "").startswith("file:")


def _sqlite_file_url(url: URL, path_text: str) -> URL:
    path = Path(path_text).expanduser()
    path = (Path.cwd() / path if not path.is_absolute() else path).resolve()
    if not path.parent.is_dir():
        raise StorageError(
            f"cannot open results database {path}: directory {path.parent} does not exist "
            f"(create it first, or point {ENV_VAR} / the url argument elsewhere)"
        )
    if path.is_dir():
        raise StorageError(f"cannot open results database {path}: it is a directory, expected a file like results.db")
    return url.set(database=str(path))


def _is_lock_error(err: BaseException) -> bool:
    if not isinstance(err, exc.OperationalError):
        return False
    text = str(err.orig if err.orig is not None else err).lower()
    return "locked" in text or "busy" in text


class Database:
    """An engine on one database URL plus its session scope. Not shared across processes."""

    def __init__(self, url: URL) -> None:
        self.url = url
        self.shown_url = url.render_as_string(hide_password=True)
        self.is_sqlite = url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
        try:
            self.engine: Engine = create_engine(url, **kwargs)
        except ImportError as err:
            raise StorageError(
                f"the database driver for {self.shown_url!r} is not installed ({err}); "
                f"install it, or use a sqlite:/// URL"
            ) from err
        except exc.SQLAlchemyError as err:
            raise StorageError(f"cannot create an engine for {self.shown_url!r}: {err}; {_EXPECTED}") from err
        if self.is_sqlite:
            _install_sqlite_hooks(self.engine)
        self._read_engine = self.engine.execution_options(**{_READ_ONLY: True})

    def error(self, err: exc.SQLAlchemyError) -> StorageError:
        """A StorageError that names the database and the driver's own message (not the SQL)."""
        detail = err.orig if isinstance(err, exc.DBAPIError) and err.orig is not None else err
        return StorageError(f"results database {self.shown_url}: {type(err).__name__}: {detail}")

    @contextlib.contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error.

        ``sqlalchemy.exc.SQLAlchemyError`` leaves as :class:`StorageError` with the original
        as ``__cause__``. ``read_only=True`` begins a deferred transaction on SQLite, which
        takes no write lock (writing in it may then fail with "database is locked").
        """
        try:
            with self._raw_session(read_only) as session:
                yield session
        except exc.SQLAlchemyError as err:
            raise self.error(err) from err

    def transact(self, work: Callable[[Session], T], *, read_only: bool = False) -> T:
        """Run ``work(session)`` in one transaction, retrying it on a "locked"/"busy" error.

        A retry runs ``work`` again from the start after the failed attempt was rolled back, so
        ``work`` must have no effects outside the session and must build its ORM objects itself.
        """
        for attempt in range(_RETRIES + 1):
            try:
                with self._raw_session(read_only) as session:
                    return work(session)
            except exc.SQLAlchemyError as err:
                if attempt == _RETRIES or not _is_lock_error(err):
                    raise self.error(err) from err
                delay = _BACKOFF_S * 2**attempt * (0.5 + random.random())
                _logger.warning(
                    "results database %s is busy (%s); retrying in %.2f s (%d/%d)",
                    self.shown_url, err.orig, delay, attempt + 1, _RETRIES,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextlib.contextmanager
    def _raw_session(self, read_only: bool) -> Iterator[Session]:
        bind = self._read_engine if read_only else self.engine
        session = Session(bind=bind, expire_on_commit=False, autoflush=True)
        try:
            yield session
            session.commit()
        except BaseException:
            with contextlib.suppress(exc.SQLAlchemyError):
                session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()


def _install_sqlite_hooks(engine: Engine) -> None:
    busy_ms = int(BUSY_TIMEOUT_S * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; "begin" below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            mode = cursor.execute("PRAGMA journal_mode").fetchone()[0].lower()
            if mode not in ("wal", "memory"):
                cursor.execute("PRAGMA journal_mode = WAL")  # persistent: stored in the file
                mode = "wal"
            if mode == "wal":
                # Safe in WAL: a crash of the process loses nothing; power loss may lose the last commits.
                cursor.execute("PRAGMA synchronous = NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ_ONLY, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")
