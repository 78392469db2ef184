"""``autotune`` on a database it cannot write, or that is not its own: exit 1 and one line, no traceback.

Run for real in subprocesses. The tests run as root, whom ``chmod`` does not stop, so a
read-only database is made read-only for root too: with ``mode=ro`` in the URL, with the
immutable flag (``chattr +i``: the open for writing fails as for a file owned by another
user), and with a read-only bind mount in a private mount namespace (``unshare -m``), as a
read-only NFS export or container volume would be.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import optuna
import pytest

from autotune import open_storage
from autotune.cli import _database_failure
from tests.autotune.storage._data import record, seed
from tests.autotune.storage._readonly import immutable, read_only_url

SPEC = """
[tune]
backends = ["numpy"]
qmc = false

[[workload]]
name = "call"
kind = "european"
n_sims = 4000
S0 = 100.0
K = 105.0
T = 1.0
r = 0.03
sigma = 0.2
"""
ROOT = Path(__file__).resolve().parents[2]


def autotune(*args: str, prefix: Sequence[str] = ()) -> subprocess.CompletedProcess[str]:
    """Run ``autotune ARGS`` in a fresh process (after ``prefix``, e.g. a mount namespace)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNE_")}
    return subprocess.run([*prefix, sys.executable, "-m", "autotune", *args], capture_output=True, text=True,
                          env=env, timeout=600, cwd=ROOT)


def assert_one_line_error(done: subprocess.CompletedProcess[str], command: str, *parts: str) -> None:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"autotune {command}: error: "), done.stderr
    for part in parts:
        assert part in lines[0]


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A closed autotune database (WAL, no -wal/-shm left) with one measurement, alone in its folder."""
    path = tmp_path / "data" / "results.db"
    path.parent.mkdir()
    with open_storage(str(path)) as store:
        seed(store)
        store.add_measurements([record()])
    assert [p.name for p in path.parent.iterdir()] == ["results.db"]
    return path


def _runs(done: subprocess.CompletedProcess[str]) -> list[object]:
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_mode_ro_url_lists_runs_and_refuses_to_tune(filled: Path, spec: Path) -> None:
    url = read_only_url(filled)
    assert len(_runs(autotune("runs", "--json", "--storage", url))) == 1
    done = autotune("tune", str(spec), "--json", "--budget-trials", "1", "--storage", url)
    assert_one_line_error(done, "tune", f"results database {filled}", "read-only", "mode=ro")


def test_file_this_user_may_not_write(filled: Path, spec: Path) -> None:
    with immutable(filled):
        assert len(_runs(autotune("runs", "--json", "--storage", str(filled)))) == 1
        done = autotune("tune", str(spec), "--json", "--budget-trials", "1", "--storage", str(filled))
    assert_one_line_error(done, "tune", f"results database {filled}", "read-only", "may not write the file")
    with open_storage(str(filled)) as store:
        assert store.count_measurements() == 1


def _read_only_mount(folder: Path) -> list[str]:
    """A command prefix that runs the rest with ``folder`` bound read-only onto itself, for it alone."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    prefix = ["unshare", "-m", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder)]
    probe = subprocess.run([*prefix, "touch", str(folder / "probe")], capture_output=True, text=True)
    if probe.returncode == 0 or "Read-only file system" not in probe.stderr:
        pytest.skip(f"cannot make a read-only mount here: {probe.stderr.strip()}")
    return prefix


def test_read_only_mount(filled: Path, spec: Path) -> None:
    """Reading a WAL database needs a -shm file that a read-only mount cannot hold: it opens immutable."""
    prefix = _read_only_mount(filled.parent)
    assert len(_runs(autotune("runs", "--json", "--storage", str(filled), prefix=prefix))) == 1
    done = autotune("tune", str(spec), "--json", "--budget-trials", "1", "--storage", str(filled), prefix=prefix)
    assert_one_line_error(done, "tune", f"results database {filled}", "read-only file system")
    new = filled.parent / "new.db"
    done = autotune("runs", "--storage", str(new), prefix=prefix)
    assert_one_line_error(done, "runs", f"results database {new} does not exist", "read-only file system")


def test_foreign_database_is_refused_unless_adopted(tmp_path: Path) -> None:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    connection.close()
    before = path.read_bytes()
    done = autotune("runs", "--storage", str(path))
    assert_one_line_error(done, "runs", f"{path} is not an autotune results database", "customers",
                          "--adopt-database")
    assert path.read_bytes() == before
    assert _runs(autotune("runs", "--json", "--adopt-database", "--storage", str(path))) == []
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM schema_version").fetchone() == (1,)
    connection.close()


def test_optuna_errors_that_escape_the_storage_layer_become_one_line(tmp_path: Path) -> None:
    """The CLI's safety net for Optuna calls not wrapped in ``Storage.optuna_errors()``."""
    path = tmp_path / "r.db"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rdb = optuna.storages.RDBStorage(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        connection.execute("DROP TABLE study_directions")
    connection.close()
    with pytest.raises(optuna.exceptions.StorageInternalError) as info:
        optuna.create_study(storage=rdb)
    rdb.engine.dispose()
    assert _database_failure(info.value, str(path)) == (
        f"results database sqlite:///{path}: OperationalError: no such table: study_directions")
    assert _database_failure(ValueError("not a database error"), str(path)) is None
