"""Creating the tables and checking the schema version of an existing database."""

from __future__ import annotations

import logging

from sqlalchemy import JSON, Boolean, Connection, Float, Integer, String, inspect, select, text, update

from .._errors import SchemaVersionError
from ._models import SCHEMA_VERSION, Base, MeasurementModel, SchemaVersionModel, WorkloadNameModel

__all__ = ["ensure_schema", "read_schema_version", "schema_is_current"]

_logger = logging.getLogger(__name__)

_SCHEMA_LOCK = 0x6175746F74756E65  # "autotune": the PostgreSQL advisory lock held while creating or migrating


def read_schema_version(connection: Connection) -> int | None:
    """The version stored in the database, or ``None`` if it has none yet."""
    if not inspect(connection).has_table(SchemaVersionModel.__tablename__):
        return None
    versions = connection.execute(select(SchemaVersionModel.version)).scalars().all()
    if len(versions) > 1:
        raise SchemaVersionError(
            f"the schema_version table holds {len(versions)} rows ({sorted(versions)}), expected one; "
            "the database was not written by autotune or was edited by hand"
        )
    return versions[0] if versions else None


def schema_is_current(connection: Connection) -> bool:
    """Whether the database holds every table at ``SCHEMA_VERSION``: then opening it writes nothing.

    Two reads (the table names, the version), so that opening a complete database needs no write
    transaction; anything else goes to :func:`ensure_schema`, which checks again under the write lock.
    """
    if not set(Base.metadata.tables) <= set(inspect(connection).get_table_names()):
        return False
    versions = connection.execute(select(SchemaVersionModel.__table__.c.version)).scalars().all()
    return versions == [SCHEMA_VERSION]


def ensure_schema(connection: Connection, shown_url: str) -> None:
    """Create the tables in a new database; refuse one written by another schema version.

    Runs inside the caller's (write) transaction, so that processes opening a new database
    at the same moment create it once.

    Raises:
        SchemaVersionError: the database has a schema version other than ``SCHEMA_VERSION``.
    """
    if connection.dialect.name == "postgresql":
        # PostgreSQL creates tables in transactions that do not see each other's: processes
        # opening a new database at once take turns here (the lock ends with the transaction).
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
    found = read_schema_version(connection)
    if found is None:
        Base.metadata.create_all(connection)
        connection.execute(SchemaVersionModel.__table__.insert().values(version=SCHEMA_VERSION))
        _logger.info("initialised results database %s at schema version %d", shown_url, SCHEMA_VERSION)
        return
    if found > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"results database {shown_url} has schema version {found}, but this autotune supports "
            f"schema version {SCHEMA_VERSION}: it was written by a newer autotune; upgrade autotune "
            "(pip install -U autotune) to open it"
        )
    while found < SCHEMA_VERSION:
        migrate = _MIGRATIONS.get(found)
        if migrate is None:
            raise SchemaVersionError(
                f"results database {shown_url} has schema version {found}, older than the schema version "
                f"{SCHEMA_VERSION} this autotune uses, and no migration from it exists; "
                "open it with the autotune version that wrote it, or start a new database"
            )
        migrate(connection)
        found += 1
        connection.execute(update(SchemaVersionModel).values(version=found))
        _logger.warning("upgraded results database %s to schema version %d (every row kept)", shown_url, found)
    # Same version: create any table missing from it (a no-op for a complete database).
    Base.metadata.create_all(connection)


def _add_column(connection: Connection, table: str, name: str, type_: object, default: str | None = None) -> None:
    sql_type = type_.compile(dialect=connection.dialect)  # type: ignore[attr-defined]
    suffix = f" DEFAULT {default}" if default is not None else ""
    connection.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}{suffix}"))


def _migrate_1_to_2(connection: Connection) -> None:
    """Schema 1 -> 2: one measurement record with fixed timing meanings.

    * ``measurements.status`` becomes ``outcome`` and ``median_s`` becomes ``steady_s``: the
      median wall time of a whole ``simulate`` call in steady state, which is what tuning rows
      always stored.
    * Rows recorded online by ``tuned_simulate`` (``source = 'online'``) stored the kernel's
      compute time as ``median_s`` and every call's wall time as ``first_call_s``: they keep their
      values but are marked ``legacy_timing``, and models never train on them.
    * ``estimate`` and ``stderr`` (the headline only) move into the ``estimates`` and
      ``standard_errors`` objects, under ``price`` (options) or ``mean`` (portfolios).
    * ``compile_s`` (the kernel's first-call overhead) is dropped: ``first_call_s`` keeps the
      first call's wall time, and its one-off part is ``first_call_s - steady_s``.
    * ``tuning_sessions`` gains ``host``, ``pid`` and ``process_started``, so that a session left
      ``running`` by a killed process can be recognised.
    """
    connection.execute(text("ALTER TABLE measurements RENAME COLUMN status TO outcome"))
    connection.execute(text("ALTER TABLE measurements RENAME COLUMN median_s TO steady_s"))
    _add_column(connection, "measurements", "estimates", JSON())
    _add_column(connection, "measurements", "standard_errors", JSON())
    _add_column(connection, "measurements", "legacy_timing", Boolean(), default="FALSE")
    connection.execute(text("UPDATE measurements SET legacy_timing = (source = 'online')"))
    rows = connection.execute(text(
        "SELECT m.id, m.estimate, m.stderr, w.kind FROM measurements m LEFT JOIN workloads w ON w.id = m.workload_id"
    )).all()
    table = MeasurementModel.__table__
    for row_id, estimate, stderr, kind in rows:  # through the JSON type, which each dialect binds its own way
        name = "mean" if kind == "portfolio" else "price"
        connection.execute(table.update().where(table.c.id == row_id).values(
            estimates={} if estimate is None else {name: estimate},
            standard_errors={} if stderr is None else {name: stderr}))
    for column in ("compile_s", "estimate", "stderr"):
        connection.execute(text(f"ALTER TABLE measurements DROP COLUMN {column}"))
    _add_column(connection, "tuning_sessions", "host", String(256))
    _add_column(connection, "tuning_sessions", "pid", Integer())
    _add_column(connection, "tuning_sessions", "process_started", Float())
    connection.execute(text("DROP INDEX IF EXISTS ix_measurements_machine_workload_status"))
    connection.execute(text(
        "CREATE INDEX ix_measurements_machine_workload_status ON measurements (machine_id, workload_id, outcome)"))


def _migrate_2_to_3(connection: Connection) -> None:
    """Schema 2 -> 3: display names of workloads.

    * A new table ``workload_names`` (workload id, name, first and last time it was given); no
      existing row changes, and workloads stored before the upgrade simply have no name yet.
    """
    WorkloadNameModel.__table__.create(connection, checkfirst=True)


_MIGRATIONS = {1: _migrate_1_to_2, 2: _migrate_2_to_3}
"""``{version: migration to version + 1}``, each run inside the opening write transaction."""
