"""Creating the tables and checking the schema version of an existing database."""

from __future__ import annotations

import logging

from sqlalchemy import Connection, inspect, select

from .._errors import SchemaVersionError
from ._models import SCHEMA_VERSION, Base, SchemaVersionModel

__all__ = ["ensure_schema", "read_schema_version"]

_logger = logging.getLogger(__name__)


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


def ensure_schema(connection: Connection, shown_url: str) -> None:
    """Create the tables in a new database; refuse one written by another schema version.

    Runs inside the caller's (write) transaction, so that processes opening a new database
    at the same moment create it once.

    Raises:
        SchemaVersionError: the database has a schema version other than ``SCHEMA_VERSION``.
    """
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
    if found < SCHEMA_VERSION:
        raise SchemaVersionError(
            f"results database {shown_url} has schema version {found}, older than the schema version "
            f"{SCHEMA_VERSION} this autotune uses, and no migration from it exists yet; "
            "open it with the autotune version that wrote it, or start a new database"
        )
    # Same version: create any table missing from it (a no-op for a complete database).
    Base.metadata.create_all(connection)
