"""Shared fixtures and checks for the whole suite."""

from __future__ import annotations

import itertools
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from scipy import stats


def tolerance(k: float, dof: int | None) -> float:
    """``k`` standard errors, or, for an error estimated from ``dof`` degrees of freedom
    (randomized QMC with few scrambles), the Student-t multiple with the same two-sided
    false-alarm rate as ``k`` normal standard errors."""
    if dof is None:
        return k
    return float(stats.t.ppf(1 - stats.norm.sf(k), dof))


def assert_close(value: float, reference: float, se: float, *, k: float = 4.0, dof: int | None = None,
                 what: str = "") -> None:
    """Assert ``|value - reference| <= k * se`` (Student-t adjusted when ``dof`` is given)."""
    assert math.isfinite(value), f"{what}: estimate is {value}"
    assert se > 0 and math.isfinite(se), f"{what}: standard error is {se}"
    z = abs(value - reference) / se
    limit = tolerance(k, dof)
    assert z <= limit, f"{what}: {value:.6g} vs {reference:.6g} is {z:.2f} SE away (limit {limit:.2f})"


# -- a real PostgreSQL server, started by the tests themselves ------------------------------------
# One server per test process (each pytest-xdist worker starts its own, in its own temporary
# directory, listening on a unix socket there only), and a fresh database per test.

_pg_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[Any]:
    """A PostgreSQL server (``pgserver``) in a temporary directory of this test process.

    Not under pytest's base temporary directory: a later pytest run prunes old base directories
    (changing their permissions to remove them), which would pull the data out from under a
    server still running.
    """
    import pgserver

    data = Path(tempfile.mkdtemp(prefix="autotune-pg-"))
    with warnings.catch_warnings():  # platformdirs (in pgserver) notes that a bare container has no XDG_RUNTIME_DIR
        warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
        server = pgserver.get_server(data, cleanup_mode="delete")
    try:
        yield server
    finally:
        server.cleanup()
        shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: Any) -> Iterator[str]:
    """A new, empty PostgreSQL database of its own for one test, as a ``postgresql+psycopg://`` URL."""
    yield from pg_database(pg_server)


def pg_database(server: Any) -> Iterator[str]:
    """Create a database on ``server``, yield its URL, and drop it afterwards (closing what still uses it)."""
    import psycopg

    name = f"t{os.getpid()}_{next(_pg_databases)}"
    admin = server.get_uri()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.get_uri(name).replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


BACKENDS = ("sqlite", "postgresql")
"""The databases the storage tests run on; each test of a backend gets a fresh, empty database."""


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def any_db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh results database URL on ``backend``: a SQLite file, or a database of its own on PostgreSQL."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'results.db'}"
    else:
        yield from pg_database(request.getfixturevalue("pg_server"))
