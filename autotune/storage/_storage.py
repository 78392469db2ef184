"""The Storage facade: small typed methods over the results database."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from kernels import Config

from .._errors import StorageError
from .._outcome import Outcome, Source
from ..measure import Measurement, config_key
from ._configs import config_columns, config_id
from ._engine import Database, resolve_url
from ._guard import check_sqlite_file
from ._mapping import MEASUREMENT_COLUMNS, from_values, to_values
from ._models import (
    ConfigClaimModel,
    ConfigModel,
    MachineModel,
    MeasurementModel,
    PredictorModel,
    ProfileModel,
    TuningSessionModel,
    WorkloadModel,
    WorkloadNameModel,
    utcnow,
)
from ._optuna import optuna_errors, rdb_storage
from ._process import process_alive, process_identity
from ._records import (
    MachineRow,
    ModelRow,
    ProfileRow,
    TuningSessionRow,
    WorkloadRow,
    from_orm,
)
from ._schema import ensure_schema, read_schema_version, schema_is_current

if TYPE_CHECKING:
    import optuna

__all__ = ["MAX_NAME_LENGTH", "Storage", "check_workload_name", "config_id", "open_storage"]

MAX_NAME_LENGTH = 128
"""The longest display name of a workload (the ``workload_names.name`` column's length)."""


def check_workload_name(name: object, field: str = "name") -> str:
    """``name`` stripped, if it is a usable display name of a workload; else a ValueError naming ``field``."""
    if not isinstance(name, str) or not name.strip() or len(name.strip()) > MAX_NAME_LENGTH:
        raise ValueError(f"{field} must be a non-empty string of at most {MAX_NAME_LENGTH} characters "
                         f"(a display name of the workload), got {name!r}")
    return name.strip()

TARGET_SAMPLER = "target"
"""The ``sampler`` of tuning sessions that tuned for a precision target (see ``autotune.tune(target=...)``)."""

_logger = logging.getLogger(__name__)

R = TypeVar("R")


def open_storage(url: str | None = None, *, adopt: bool = False) -> Storage:
    """Open (creating if new) the results database.

    A SQLite file this process cannot write (``sqlite:///file:/path/results.db?mode=ro&uri=true``,
    a file it may not write, a read-only file system) opens read-only if it already is an
    autotune database: reading works, and every write raises :class:`StorageError` saying
    that the database is read-only and why. ``sqlite://`` is an in-memory database private
    to this process (and to this Storage), gone once it is closed.

    Args:
        url: a SQLAlchemy URL or a file path ending in ``.db``; ``None`` reads the
            ``AUTOTUNE_STORAGE`` environment variable, else uses ``sqlite:///./results.db``.
        adopt: add autotune's tables to an existing SQLite file that holds other tables
            (and switch it to WAL journal mode). Without it such a file is refused unchanged.

    Raises:
        StorageError: the URL is invalid, the database cannot be opened, the SQLite file is
            another application's database (and ``adopt`` is false), or it is read-only and
            holds no autotune tables.
        SchemaVersionError: the database was written with another schema version.
    """
    return Storage(url, adopt=adopt)


class Storage:
    """The results database: machines, workloads, configs, sessions, measurements, models.

    Every method runs in its own transaction (retried if the database is busy); use
    :meth:`session` for anything else. One instance per process: open it again in a
    child process from :attr:`url`. See :func:`open_storage` for ``url`` and ``adopt``.
    """

    def __init__(self, url: str | None = None, *, adopt: bool = False) -> None:
        self._db = Database(resolve_url(url))
        try:
            if self._db.path is not None:
                # Before the engine's first connection, which would switch the file to WAL.
                check_sqlite_file(self._db, adopt=adopt)
            if self._db.read_only is not None:
                self._open_read_only()
            elif not self._db.transact(lambda s: schema_is_current(s.connection()), read_only=True):
                # One write transaction (BEGIN IMMEDIATE on SQLite): processes opening a new file create it once.
                self._db.transact(lambda s: ensure_schema(s.connection(), self._db.shown_url))
        except BaseException:
            self._db.dispose()
            raise
        _logger.debug("opened results database %s", self._db.shown_url)

    def _open_read_only(self) -> None:
        version = self._db.transact(lambda s: read_schema_version(s.connection()), read_only=True)
        if version is None:
            raise StorageError(
                f"results database {self._db.path} is read-only ({self._db.read_only}) and holds no autotune "
                "tables: there is nothing to read, and they cannot be created; open a writable file"
            )
        self._db.transact(lambda s: ensure_schema(s.connection(), self._db.shown_url), read_only=True)
        _logger.info("results database %s is read-only (%s): opened for reading", self._db.path, self._db.read_only)

    @property
    def read_only(self) -> bool:
        """Whether the database was opened read-only (every write raises :class:`StorageError`)."""
        return self._db.read_only is not None

    @property
    def url(self) -> str:
        """The resolved database URL (SQLite paths absolute), usable to reopen it elsewhere."""
        return self._db.url.render_as_string(hide_password=False)

    def __repr__(self) -> str:
        return f"Storage({self._db.shown_url!r})"

    def __enter__(self) -> Storage:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections (the Storage may still be used; it reconnects)."""
        self._db.dispose()

    @contextlib.contextmanager
    def session(self, *, read_only: bool = False) -> Iterator[Session]:
        """An ORM session in one transaction: commits, rolls back on error, raises StorageError."""
        with self._db.session(read_only=read_only) as session:
            yield session

    def schema_version(self) -> int:
        """The schema version stored in the database."""
        version = self._db.transact(lambda s: read_schema_version(s.connection()), read_only=True)
        if version is None:  # pragma: no cover - ensured at open
            raise StorageError(f"results database {self._db.shown_url} has no schema version")
        return version

    # -- machines, workloads, configs ---------------------------------------------------

    def upsert_machine(
        self,
        machine_id: str,
        fingerprint: Mapping[str, Any],
        *,
        cpu_model: str | None = None,
        usable_cores: int | None = None,
        provider: str | None = None,
        instance_type: str | None = None,
    ) -> None:
        """Insert a machine, or update its fields if ``machine_id`` is already stored."""
        values = dict(fingerprint=dict(fingerprint), cpu_model=cpu_model, usable_cores=usable_cores,
                      provider=provider, instance_type=instance_type)
        self._db.transact(lambda s: _upsert(s, MachineModel, machine_id, values))

    def upsert_workload(self, key: str, kind: str, spec: Mapping[str, Any], features: Mapping[str, Any]) -> None:
        """Insert a workload, or update its kind, spec and features if ``key`` is already stored."""
        values = dict(kind=kind, spec=dict(spec), features=dict(features))
        self._db.transact(lambda s: _upsert(s, WorkloadModel, key, values))

    def upsert_config(self, knobs: Mapping[str, Any]) -> str:
        """Store a config (``Config.to_dict()``) if new, and return its :func:`config_id`."""
        values = config_columns(knobs)
        cid = config_id(knobs)
        self._db.transact(lambda s: _upsert(s, ConfigModel, cid, values, update=False))
        return cid

    def name_workload(self, key: str, name: str) -> None:
        """Give the stored workload ``key`` the display name ``name`` (the key stays the workload's id).

        A workload keeps every name it was given; giving a name again makes it the latest, the one
        :meth:`workload_names` lists first and reports show.

        Raises:
            ValueError: ``name`` is not a non-empty string of at most ``MAX_NAME_LENGTH`` characters.
            StorageError: no workload ``key`` is stored, or the database cannot be written.
        """
        name = check_workload_name(name)

        def work(session: Session) -> None:
            if session.get(WorkloadModel, key) is None:
                raise StorageError(f"no workload {key!r} in {self._db.shown_url}: store it before naming it")
            now = utcnow()
            # Race-free: tuners naming the same workload at once insert the pair once, then refresh its time.
            if not _insert_new(session, WorkloadNameModel,
                               {"workload_id": key, "name": name, "first_named_at": now, "last_named_at": now}):
                t = WorkloadNameModel.__table__.c
                session.execute(update(WorkloadNameModel.__table__)
                                .where(t.workload_id == key, t.name == name).values(last_named_at=now))

        self._db.transact(work)

    def workload_names(self, keys: Iterable[str] | None = None) -> dict[str, tuple[str, ...]]:
        """The display names of stored workloads: ``{key: names, latest first}`` (unnamed workloads left out).

        Args:
            keys: only these workloads (``None``: every named workload).
        """
        query = select(WorkloadNameModel.workload_id, WorkloadNameModel.name).order_by(
            WorkloadNameModel.last_named_at.desc(), WorkloadNameModel.id.desc())
        wanted = None if keys is None else set(keys)

        def work(session: Session) -> dict[str, tuple[str, ...]]:
            names: dict[str, list[str]] = {}
            for key, name in session.execute(query):
                if wanted is None or key in wanted:
                    names.setdefault(key, []).append(name)
            return {key: tuple(n) for key, n in names.items()}

        return self._db.transact(work, read_only=True)

    def workloads_named(self, name: str) -> list[str]:
        """The keys of the stored workloads ever given the display name ``name`` (sorted; empty if none)."""
        query = select(WorkloadNameModel.workload_id).where(WorkloadNameModel.name == name).distinct()
        return sorted(self._db.transact(lambda s: list(s.scalars(query)), read_only=True))

    def machine(self, machine_id: str) -> MachineRow | None:
        """The stored machine, or ``None``."""
        return self._get(MachineModel, machine_id, MachineRow)

    def workload(self, key: str) -> WorkloadRow | None:
        """The stored workload, or ``None``."""
        return self._get(WorkloadModel, key, WorkloadRow)

    def config(self, config_id: str) -> dict[str, Any] | None:
        """The knobs of a stored config, or ``None``."""
        return self._db.transact(lambda s: _knobs(s.get(ConfigModel, config_id)), read_only=True)

    # -- measurements ---------------------------------------------------------------------

    def add_measurements(self, measurements: Iterable[Measurement]) -> int:
        """Store measurements in one transaction, with their configs if new; returns how many.

        Each needs ``machine_id`` and ``workload_id`` of stored rows; :class:`ResultsLog` is the
        writer that sets them. A ``uid`` already stored is an error (nothing is written).
        """
        ms = list(measurements)
        for m in ms:
            if not isinstance(m, Measurement):
                raise TypeError(f"expected autotune.measure.Measurement, got {type(m).__name__}")
        if not ms:
            return 0
        values = [to_values(m) for m in ms]
        configs = {config_key(m.config): m.config for m in ms}

        def work(session: Session) -> None:
            known = set(session.scalars(select(ConfigModel.id).where(ConfigModel.id.in_(list(configs)))))
            new = [{"id": cid, **config_columns(c.to_dict())} for cid, c in configs.items() if cid not in known]
            for row in new:  # ON CONFLICT DO NOTHING: another process may store the same new config meanwhile
                _insert_new(session, ConfigModel, row)
            session.execute(insert(MeasurementModel), values)

        self._db.transact(work)
        return len(ms)

    def measurements(
        self,
        *,
        machine_id: str | None = None,
        workload_id: str | None = None,
        config_id: str | None = None,
        session_id: int | None = None,
        outcome: Outcome | str | None = None,
        source: Source | str | None = None,
        n_sims: int | None = None,
        limit: int | None = None,
    ) -> list[Measurement]:
        """Stored measurements matching every filter given, oldest first.

        Rows whose config no longer makes a :class:`kernels.Config` (written by another version)
        are left out, with a log line saying how many.
        """
        query = (select(MeasurementModel, ConfigModel.knobs)
                 .join(ConfigModel, ConfigModel.id == MeasurementModel.config_id)
                 .order_by(MeasurementModel.id))
        for column, value in ((MeasurementModel.machine_id, machine_id), (MeasurementModel.workload_id, workload_id),
                              (MeasurementModel.config_id, config_id), (MeasurementModel.session_id, session_id),
                              (MeasurementModel.source, None if source is None else Source(source).value),
                              (MeasurementModel.n_sims, n_sims)):
            if value is not None:
                query = query.where(column == value)
        if outcome is not None:
            query = query.where(MeasurementModel.outcome == Outcome(outcome))
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limit must be an integer >= 0 or None, got {limit!r}")
            query = query.limit(limit)
        return self._db.transact(lambda s: _measurements(s.execute(query).all()), read_only=True)

    def count_measurements(self, *, outcome: Outcome | str | None = None, steady: bool = False) -> int:
        """How many measurements are stored, without loading them.

        Args:
            outcome: count only these.
            steady: count only rows a model can train on: a steady-state time with today's meaning
                (``steady_s`` set, not ``legacy_timing``).
        """
        query = select(func.count()).select_from(MeasurementModel)
        if outcome is not None:
            query = query.where(MeasurementModel.outcome == Outcome(outcome))
        if steady:
            query = query.where(MeasurementModel.steady_s.is_not(None), MeasurementModel.legacy_timing.is_(False))
        return self._db.transact(lambda s: int(s.execute(query).scalar_one()), read_only=True)

    def best_measurement(
        self, machine_id: str, workload_id: str, *, n_sims: int | None = None
    ) -> Measurement | None:
        """The COMPLETE measurement with the smallest steady-state time, or ``None`` if there is none."""
        query = (
            select(MeasurementModel, ConfigModel.knobs)
            .join(ConfigModel, ConfigModel.id == MeasurementModel.config_id)
            .where(MeasurementModel.machine_id == machine_id, MeasurementModel.workload_id == workload_id,
                   MeasurementModel.outcome == Outcome.COMPLETE, MeasurementModel.steady_s.is_not(None),
                   MeasurementModel.legacy_timing.is_(False))
            .order_by(MeasurementModel.steady_s, MeasurementModel.id)
            .limit(1)
        )
        if n_sims is not None:
            query = query.where(MeasurementModel.n_sims == n_sims)
        found = self._db.transact(lambda s: _measurements(s.execute(query).all()), read_only=True)
        return found[0] if found else None

    # -- tuning sessions, profiles, models -------------------------------------------------

    def create_session(
        self,
        machine_id: str,
        workload_id: str,
        *,
        n_sims: int,
        sampler: str | None = None,
        study_name: str | None = None,
        budget: Mapping[str, Any] | None = None,
        status: str = "running",
    ) -> int:
        """Start a tuning session owned by this process (host, pid and its start time are stored) and return its id."""
        host, pid, started = process_identity()
        values = dict(machine_id=machine_id, workload_id=workload_id, n_sims=n_sims, sampler=sampler,
                      study_name=study_name, budget=dict(budget or {}), status=status, host=host, pid=pid,
                      process_started=started)
        return self._db.transact(lambda s: _insert(s, TuningSessionModel(**values)))

    def fail_dead_sessions(self, machine_id: str, workload_id: str) -> list[int]:
        """Mark ``running`` sessions of a (machine, workload) whose process is gone as ``failed``.

        A session belongs to a dead process when it was started on this host and its pid is no
        longer running, or now runs another process (a different start time). Sessions started on
        other hosts are left alone: their liveness cannot be checked from here.

        Returns:
            The ids of the sessions marked failed.
        """
        host = process_identity()[0]
        query = select(TuningSessionModel).where(
            TuningSessionModel.machine_id == machine_id, TuningSessionModel.workload_id == workload_id,
            TuningSessionModel.status == "running", TuningSessionModel.host == host)

        def work(session: Session) -> list[int]:
            dead = []
            for row in session.scalars(query):
                if not process_alive(row.pid, row.process_started):
                    row.status, row.finished_at = "failed", utcnow()
                    row.report = {**(row.report or {}), "failed_reason": f"process {row.pid} on {host} died"}
                    dead.append(row.id)
            return dead

        dead = self._db.transact(work)
        if dead:
            _logger.warning("tuning sessions %s were left running by a dead process; marked failed", dead)
        return dead

    def finish_session(
        self, session_id: int, *, status: str, best_config_id: str | None = None,
        report: Mapping[str, Any] | None = None,
    ) -> None:
        """Mark a tuning session finished with its status, best config and report."""

        def work(session: Session) -> None:
            row = session.get(TuningSessionModel, session_id)
            if row is None:
                raise StorageError(f"no tuning session with id {session_id} in {self._db.shown_url}")
            row.status, row.best_config_id, row.finished_at = status, best_config_id, utcnow()
            row.report = None if report is None else dict(report)

        self._db.transact(work)

    def best_tuned(
        self, machine_id: str, workload_id: str, *, target: Mapping[str, Any] | None = None
    ) -> tuple[int, dict[str, Any], float | None] | None:
        """The best config of the completed, not stale, tuning session that finished last for a (machine, workload).

        With ``target`` (a ``kernels.Target.to_dict()``), only sessions that tuned for that target
        (``sampler="target"``) count, and the time is their measured time to the target; without
        it, only fixed-``n_sims`` sessions count.

        Returns ``(session_id, knobs, best_time_s)`` or ``None`` when there is none.
        """
        # Core columns, not ORM attributes: a fresh process deciding from the cache does not pay for
        # configuring every ORM mapper (~7 ms) on its first query.
        t, configs = TuningSessionModel.__table__.c, ConfigModel.__table__.c
        kind = t.sampler == TARGET_SAMPLER
        query = (
            select(t.id, t.best_config_id, t.report)
            .where(t.machine_id == machine_id, t.workload_id == workload_id,
                   t.status == "complete", t.best_config_id.is_not(None),
                   kind if target is not None else (t.sampler.is_(None) | ~kind))
            # the last to finish: with several tuners on one study, it chose among the most measurements
            .order_by(t.finished_at.desc(), t.id.desc())
            .limit(1 if target is None else 100)
        )
        wanted = None if target is None else dict(target)

        def work(session: Session) -> tuple[int, dict[str, Any], float | None] | None:
            for row in session.execute(query):
                report = row.report if isinstance(row.report, dict) else {}
                if wanted is not None and report.get("target") != wanted:
                    continue
                knobs = session.execute(select(configs.knobs).where(configs.id == row.best_config_id)).scalar()
                best = report.get("best_time_s")
                return None if knobs is None else (row.id, dict(knobs), best)
            return None

        return self._db.transact(work, read_only=True)

    def mark_session_stale(self, session_id: int, *, reason: str) -> None:
        """Stop serving a session's best config from the cache (its timing no longer holds)."""

        def work(session: Session) -> None:
            row = session.get(TuningSessionModel, session_id)
            if row is None:
                raise StorageError(f"no tuning session with id {session_id} in {self._db.shown_url}")
            row.status = "stale"
            row.report = {**(row.report or {}), "stale_reason": reason}

        self._db.transact(work)

    def claim_config(self, machine_id: str, workload_id: str, n_sims: int, config: Config,
                     session_id: int) -> int | None:
        """Claim measuring ``config`` for tuning session ``session_id``; ``None`` when it holds the claim.

        Tuners sharing a study call this before measuring a config, so that one of them measures
        it: the first claim wins (a primary key on (machine, workload, n_sims, config), inserted
        with ``ON CONFLICT DO NOTHING``). A claim whose session is no longer ``running`` and left
        no measurement of the config (it died or stopped measuring) passes to the caller.

        Returns:
            ``None`` if ``session_id`` holds the claim now, else the id of the session that does.
        """
        knobs = config.to_dict()
        cid = config_id(knobs)
        key = dict(machine_id=machine_id, workload_id=workload_id, n_sims=n_sims, config_id=cid)
        measured = (select(MeasurementModel.id).where(
            MeasurementModel.machine_id == machine_id, MeasurementModel.workload_id == workload_id,
            MeasurementModel.n_sims == n_sims, MeasurementModel.config_id == cid,
            MeasurementModel.source == Source.TUNE.value).exists())

        def work(session: Session) -> int | None:
            _upsert(session, ConfigModel, cid, config_columns(knobs), update=False)
            if _insert_new(session, ConfigClaimModel, {**key, "session_id": session_id, "claimed_at": utcnow()}):
                return None
            where = [getattr(ConfigClaimModel, name) == value for name, value in key.items()]
            holder = session.execute(select(ConfigClaimModel.session_id).where(*where)).scalar_one()
            if holder == session_id:
                return None
            status = session.execute(select(TuningSessionModel.status)
                                     .where(TuningSessionModel.id == holder)).scalar_one_or_none()
            if status != "running" and not session.execute(select(measured)).scalar():
                taken = session.execute(update(ConfigClaimModel).where(*where, ConfigClaimModel.session_id == holder)
                                        .values(session_id=session_id, claimed_at=utcnow()))
                if taken.rowcount == 1:
                    _logger.info("config %s: took over the claim of session %s (%s, nothing measured)",
                                 cid, holder, status)
                    return None
            return int(holder)

        return self._db.transact(work)

    def pending_claims(self, machine_id: str, workload_id: str, n_sims: int, *, other_than: int) -> int:
        """How many configs other ``running`` sessions have claimed and not yet measured (see :meth:`claim_config`)."""
        measured = (select(MeasurementModel.id).where(
            MeasurementModel.machine_id == ConfigClaimModel.machine_id,
            MeasurementModel.workload_id == ConfigClaimModel.workload_id,
            MeasurementModel.n_sims == ConfigClaimModel.n_sims,
            MeasurementModel.config_id == ConfigClaimModel.config_id,
            MeasurementModel.source == Source.TUNE.value).exists())
        query = (select(func.count()).select_from(ConfigClaimModel)
                 .join(TuningSessionModel, TuningSessionModel.id == ConfigClaimModel.session_id)
                 .where(ConfigClaimModel.machine_id == machine_id, ConfigClaimModel.workload_id == workload_id,
                        ConfigClaimModel.n_sims == n_sims, ConfigClaimModel.session_id != other_than,
                        TuningSessionModel.status == "running", ~measured))
        return self._db.transact(lambda s: int(s.execute(query).scalar_one()), read_only=True)

    def tuning_session(self, session_id: int) -> TuningSessionRow | None:
        """The stored tuning session, or ``None``."""
        return self._get(TuningSessionModel, session_id, TuningSessionRow)

    def add_profile(self, machine_id: str, results: Mapping[str, Any]) -> int:
        """Store the results of profiling a machine and return the profile id."""
        values = dict(machine_id=machine_id, results=dict(results))
        return self._db.transact(lambda s: _insert(s, ProfileModel(**values)))

    def profiles(self, machine_id: str) -> list[ProfileRow]:
        """Every profile of a machine, oldest first."""
        query = select(ProfileModel).where(ProfileModel.machine_id == machine_id).order_by(ProfileModel.id)
        return self._db.transact(lambda s: [from_orm(ProfileRow, p) for p in s.scalars(query)], read_only=True)

    def add_model(
        self, name: str, *, feature_schema_version: int, n_rows: int, rows_hash: str, payload: bytes,
        params: Mapping[str, Any] | None = None, metrics: Mapping[str, Any] | None = None,
        versions: Mapping[str, Any] | None = None,
    ) -> int:
        """Store a trained model and return its id."""
        values = dict(name=name, feature_schema_version=feature_schema_version, n_rows=n_rows, rows_hash=rows_hash,
                      payload=bytes(payload), params=dict(params or {}), metrics=dict(metrics or {}),
                      versions=dict(versions or {}))
        return self._db.transact(lambda s: _insert(s, PredictorModel(**values)))

    def latest_model(self, name: str) -> ModelRow | None:
        """The most recently stored model called ``name``, or ``None``."""
        t = PredictorModel.__table__.c  # Core, as in best_tuned: no ORM configuration to decide
        query = select(*(t[f.name] for f in dataclasses.fields(ModelRow))).where(t.name == name) \
            .order_by(t.id.desc()).limit(1)
        return self._db.transact(lambda s: _maybe(lambda m: from_orm(ModelRow, m), s.execute(query).first()),
                                 read_only=True)

    # -- optuna ----------------------------------------------------------------------------

    def optuna_storage(self) -> optuna.storages.RDBStorage:
        """An Optuna RDBStorage on this same database, so studies sit beside our tables.

        ``optuna-dashboard <url>`` then shows the studies of a results database.

        Raises:
            StorageError: the database is in memory or read-only, or cannot be opened.
        """
        return rdb_storage(self._db)

    def optuna_errors(self) -> contextlib.AbstractContextManager[None]:
        """A context for Optuna calls on :meth:`optuna_storage` that raises StorageError for storage failures.

        ``with store.optuna_errors(): study = optuna.create_study(storage=rdb, ...)`` (likewise
        ``ask``, ``tell``, ``load_study``): Optuna's ``StorageInternalError`` and SQLAlchemy errors
        become :class:`StorageError` naming this database and the cause (e.g. read-only).
        """
        return optuna_errors(self._db)

    def _get(self, model: type[Any], key: object, row_cls: type[R]) -> R | None:
        # ORM objects are built inside each transaction (never reused), so a retried one starts clean.
        return self._db.transact(lambda s: _maybe(lambda o: from_orm(row_cls, o), s.get(model, key)), read_only=True)


def _upsert(session: Session, model: type[Any], key: str, values: dict[str, Any], *, update: bool = True) -> None:
    """Insert a row, or update (``update``) or keep the one already stored under ``key``, in one statement.

    ``INSERT ... ON CONFLICT`` on SQLite and PostgreSQL, so that processes storing the same row at
    once never collide: on PostgreSQL two transactions that both found no row would otherwise both
    insert it, and one would fail on the primary key (SQLite's BEGIN IMMEDIATE serialises them).
    """
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):
        row = session.get(model, key)
        if row is None:
            session.add(model(id=key, **values))
        elif update:
            for column, value in values.items():
                setattr(row, column, value)
        return
    statement = _dialect_insert(name)(model).values(id=key, **values)
    if update:
        statement = statement.on_conflict_do_update(index_elements=[model.id], set_=values)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=[model.id])
    session.execute(statement)
    session.expire_all()  # an ORM object of this row read earlier in the session is stale now


def _dialect_insert(name: str) -> Any:
    """The ``insert`` of SQLAlchemy's dialect ``name`` (imported on first use: the PostgreSQL dialect
    costs a SQLite user ~30 ms of import)."""
    return importlib.import_module(f"sqlalchemy.dialects.{name}").insert


def _insert_new(session: Session, model: type[Any], values: dict[str, Any]) -> bool:
    """Insert a row unless its primary key is already stored; whether it was inserted (race-free on SQLite and
    PostgreSQL: ``INSERT ... ON CONFLICT DO NOTHING``)."""
    name = session.get_bind().dialect.name
    if name not in ("sqlite", "postgresql"):  # pragma: no cover - other databases: a check, then the insert
        keys = tuple(values[c.name] for c in model.__table__.primary_key.columns)
        if session.get(model, keys) is not None:
            return False
        session.add(model(**values))
        session.flush()
        return True
    done = session.execute(_dialect_insert(name)(model).values(**values).on_conflict_do_nothing())
    return done.rowcount == 1


def _insert(session: Session, row: Any) -> int:
    """Add a new ORM object and return its generated id."""
    session.add(row)
    session.flush()
    return int(row.id)


def _maybe(convert: Any, obj: Any) -> Any:
    return None if obj is None else convert(obj)


def _knobs(row: ConfigModel | None) -> dict[str, Any] | None:
    return None if row is None else dict(row.knobs)


def _measurements(rows: Iterable[Any]) -> list[Measurement]:
    """Measurements from ``(MeasurementModel, knobs)`` rows; rows of unknown configs are left out."""
    configs: dict[str, Config | None] = {}
    out, skipped = [], 0
    for model, knobs in rows:
        if model.config_id not in configs:
            try:
                configs[model.config_id] = Config.from_dict(dict(knobs))
            except (TypeError, ValueError):
                configs[model.config_id] = None
        config = configs[model.config_id]
        if config is None:
            skipped += 1
            continue
        out.append(from_values({c.name: getattr(model, c.name) for c in MEASUREMENT_COLUMNS}, config))
    if skipped:
        _logger.info("left out %d measurements of configs this version cannot build", skipped)
    return out
