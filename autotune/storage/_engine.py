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

A SQLite file that this process cannot write (``mode=ro`` in a ``file:`` URI, a file it may
not write, a read-only file system) is opened read-only: its engine connects with
``mode=ro`` (plus ``immutable=1`` on a read-only file system, where SQLite could not create
the ``-shm`` file that reading a WAL database needs), never switches the journal mode, and a
write fails with a :class:`StorageError` that says the database is read-only and why.

An in-memory database (``sqlite://``, ``sqlite:///:memory:``) lives in one connection that
every thread of the process shares (``StaticPool``); it is gone once the engine is disposed.
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
from urllib.parse import quote, unquote

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session
from sqlalchemy.pool import StaticPool
from sqlalchemy.util import asbool

from .._errors import StorageError

__all__ = ["BUSY_TIMEOUT_S", "DEFAULT_URL", "ENV_VAR", "Database", "install_sqlite_hooks", "resolve_url"]

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
_SQLITE_READONLY = 8  # the primary result code of "attempt to write a readonly database"
_POSTGRES_ALIASES = ("postgresql", "postgres")

T = TypeVar("T")


def resolve_url(url: str | None = None) -> URL:
    """The database URL: ``url``, else ``$AUTOTUNE_STORAGE``, else ``sqlite:///./results.db``.

    A plain file path ending in ``.db``/``.sqlite``/``.sqlite3`` becomes a SQLite URL; a
    ``postgresql://`` (or ``postgres://``) URL uses psycopg 3 (``postgresql+psycopg://``). SQLite
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
    if parsed.drivername in _POSTGRES_ALIASES:
        # SQLAlchemy's default PostgreSQL driver is psycopg2; autotune[postgres] installs psycopg 3.
        parsed = parsed.set(drivername="postgresql+psycopg")
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


def _query(url: URL, key: str) -> str:
    value = url.query.get(key, "")
    return value[-1] if isinstance(value, tuple) else value


def _is_uri(url: URL) -> bool:
    """Whether a SQLite URL passes its database to the driver as a ``file:`` URI (``?uri=true``)."""
    return asbool(_query(url, "uri") or False) and (url.database or "").startswith("file:")


def _uri_path(uri: str) -> str:
    """The file path of a SQLite ``file:`` URI (``file:rel.db``, ``file:/abs.db``, ``file:///abs.db``)."""
    rest = uri[len("file:"):]
    if rest.startswith("//"):  # an authority: empty or "localhost"
        slash = rest.find("/", 2)
        rest = rest[slash:] if slash >= 0 else ""
    return unquote(rest)


def _is_memory(url: URL) -> bool:
    if url.database in (None, "", ":memory:"):
        return True
    if _is_uri(url):
        return _uri_path(url.database or "") in ("", ":memory:") or _query(url, "mode") == "memory"
    return False


def _sqlite_path(url: URL) -> Path:
    database = url.database or ""
    return Path(_uri_path(database) if _is_uri(url) else database)


def _sqlite_file_url(url: URL, path_text: str) -> URL:
    is_uri = _is_uri(url)
    path = Path(_uri_path(path_text) if is_uri else path_text).expanduser()
    path = (Path.cwd() / path if not path.is_absolute() else path).resolve()
    if not path.parent.is_dir():
        raise StorageError(
            f"cannot open results database {path}: directory {path.parent} does not exist "
            f"(create it first, or point {ENV_VAR} / the url argument elsewhere)"
        )
    if path.is_dir():
        raise StorageError(f"cannot open results database {path}: it is a directory, expected a file like results.db")
    return url.set(database=_file_uri(path) if is_uri else str(path))


def _file_uri(path: Path) -> str:
    return "file:" + quote(str(path), safe="/")


def _on_read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path if path.exists() else path.parent).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _read_only_options(path: Path) -> dict[str, str]:
    return {"mode": "ro", "immutable": "1"} if _on_read_only_fs(path) else {"mode": "ro"}


def _read_only_reason(url: URL, path: Path) -> str | None:
    """Why this process cannot write the SQLite file at ``path``, or ``None`` if it can (as far as is cheap to tell).

    A file in a directory that is not writable can still be written in WAL mode while its
    ``-wal``/``-shm`` files exist, so the directory alone does not make it read-only here.
    """
    if _is_uri(url) and _query(url, "mode") == "ro":
        return "the URL opens it with mode=ro"
    if _is_uri(url) and asbool(_query(url, "immutable") or False):
        return "the URL opens it with immutable=1"
    if _on_read_only_fs(path):
        return "it is on a read-only file system"
    if path.exists() and not os.access(path, os.W_OK):
        return "this process may not write the file: its owner, permissions or immutable flag forbid it"
    return None


def _is_read_only_error(detail: BaseException) -> bool:
    code = getattr(detail, "sqlite_errorcode", None)
    if isinstance(code, int) and code & 0xFF == _SQLITE_READONLY:
        return True
    return "readonly database" in str(detail).lower()


def _driver_message(detail: BaseException) -> str:
    """The driver's message without the SQL: PostgreSQL's primary message and detail, not its ``LINE 1: ...``."""
    diag = getattr(detail, "diag", None)
    primary = getattr(diag, "message_primary", None)
    if not primary:
        return str(detail)
    extra = getattr(diag, "message_detail", None)
    return f"{primary} ({extra})" if extra else str(primary)


def _is_lock_error(err: BaseException) -> bool:
    if not isinstance(err, exc.OperationalError):
        return False
    text = str(err.orig if err.orig is not None else err).lower()
    # SQLite: "database is locked"/"busy"; PostgreSQL: a deadlock or serialization failure, which
    # it resolves by aborting one transaction, to be run again.
    return any(word in text for word in ("locked", "busy", "deadlock detected", "could not serialize"))


class Database:
    """An engine on one database URL plus its session scope. Not shared across processes.

    Attributes:
        path: the SQLite file, ``None`` for an in-memory or non-SQLite database.
        is_memory: an in-memory SQLite database (one connection shared by every thread).
        read_only: why the SQLite file cannot be written here, ``None`` if it can. Reading a
            read-only database works; writing raises :class:`StorageError` saying so.

    Raises:
        StorageError: the driver is missing, or a SQLite file does not exist and cannot be
            created (read-only URL, directory on a read-only file system or not writable).
    """

    def __init__(self, url: URL) -> None:
        self.url = url
        self.shown_url = url.render_as_string(hide_password=True)
        self.is_sqlite = url.get_backend_name() == "sqlite"
        self.is_memory = self.is_sqlite and _is_memory(url)
        self.path: Path | None = _sqlite_path(url) if self.is_sqlite and not self.is_memory else None
        self.read_only: str | None = None
        engine_url = url
        kwargs: dict[str, Any] = {}
        if self.is_memory:
            # One connection for the whole process: each new connection would be a new, empty database.
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
            kwargs["poolclass"] = StaticPool
        elif self.path is not None:
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
            self.read_only = _read_only_reason(url, self.path)
            _check_creatable(self.path, self.read_only)
            if self.read_only is not None:
                engine_url = url.set(database=_file_uri(self.path),
                                     query={**url.query, "uri": "true", **_read_only_options(self.path)})
        try:
            self.engine: Engine = create_engine(engine_url, **kwargs)
        except ImportError as err:
            hint = ("pip install 'autotune[postgres]' (psycopg 3)" if url.get_backend_name() == "postgresql"
                    else "install it")
            raise StorageError(
                f"the database driver for {self.shown_url!r} is not installed ({err}); "
                f"{hint}, or use a sqlite:/// URL"
            ) from err
        except exc.SQLAlchemyError as err:
            raise StorageError(f"cannot create an engine for {self.shown_url!r}: {err}; {_EXPECTED}") from err
        if self.is_sqlite:
            install_sqlite_hooks(self.engine, writable=self.read_only is None)
        self._read_engine = self.engine.execution_options(**{_READ_ONLY: True})

    def read_only_uri(self) -> str:
        """A SQLite ``file:`` URI that opens :attr:`path` read-only and changes nothing in it.

        ``immutable=1`` on a read-only file system: there SQLite cannot create the ``-shm``
        file that reading a WAL database needs, and nothing on that mount can change the file.
        """
        if self.path is None:
            raise StorageError(f"results database {self.shown_url} is not a SQLite file")
        return _file_uri(self.path) + "?" + "&".join(f"{k}={v}" for k, v in _read_only_options(self.path).items())

    def error(self, err: BaseException) -> StorageError:
        """A StorageError that names the database and the driver's own message (not the SQL).

        A write refused because the SQLite file is read-only says so, and why.
        """
        detail = err.orig if isinstance(err, exc.DBAPIError) and err.orig is not None else err
        if self.path is not None and _is_read_only_error(detail):
            reason = self.read_only or _read_only_reason(self.url, self.path) or "SQLite refused the write"
            return StorageError(
                f"cannot write to results database {self.path}: it is read-only ({reason}; SQLite: {detail}). "
                "Reading it works; to record results, use a writable copy or point the storage URL elsewhere"
            )
        if self.path is not None and "unable to open database file" in str(detail):
            return StorageError(
                f"results database {self.shown_url}: {type(err).__name__}: {detail} (SQLite must open the file "
                f"and create its -wal/-shm/-journal files in {self.path.parent}: is that directory writable?)"
            )
        return StorageError(f"results database {self.shown_url}: {type(err).__name__}: {_driver_message(detail)}")

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


def _check_creatable(path: Path, read_only: str | None) -> None:
    """Refuse at once a SQLite file that does not exist and cannot be created."""
    if path.exists():
        return
    if read_only is not None:
        raise StorageError(f"results database {path} does not exist, and cannot be created: {read_only}")
    if not os.access(path.parent, os.W_OK | os.X_OK):
        raise StorageError(
            f"cannot create results database {path}: this process may not write its directory {path.parent}"
        )


def install_sqlite_hooks(engine: Engine, *, writable: bool) -> None:
    """Per-connection settings; a read-only connection gets no journal-mode change and no BEGIN IMMEDIATE."""
    busy_ms = int(BUSY_TIMEOUT_S * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module; "begin" below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not writable:
                return
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
        connection.exec_driver_sql("BEGIN" if read_only or not writable else "BEGIN IMMEDIATE")
