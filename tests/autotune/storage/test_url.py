"""URL resolution: argument, environment variable, default, plain paths, and clear errors."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from autotune import StorageError
from autotune.storage import DEFAULT_URL, ENV_VAR, SCHEMA_VERSION, open_storage, resolve_url

from ._data import MACHINE, record, seed


def test_argument_wins_over_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, f"sqlite:///{tmp_path / 'env.db'}")
    with open_storage(f"sqlite:///{tmp_path / 'arg.db'}") as store:
        assert store.url == f"sqlite:///{tmp_path / 'arg.db'}"
    assert (tmp_path / "arg.db").exists()
    assert not (tmp_path / "env.db").exists()


def test_env_var_used_without_argument(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, f"sqlite:///{tmp_path / 'env.db'}")
    with open_storage() as store:
        assert store.url == f"sqlite:///{tmp_path / 'env.db'}"
    assert (tmp_path / "env.db").exists()


def test_default_is_results_db_in_current_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert DEFAULT_URL == "sqlite:///./results.db"
    with open_storage() as store:
        assert store.url == f"sqlite:///{tmp_path.resolve() / 'results.db'}"
    assert (tmp_path / "results.db").exists()


def test_empty_env_var_falls_back_to_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(ENV_VAR, "")
    assert str(resolve_url()) == f"sqlite:///{tmp_path.resolve() / 'results.db'}"


@pytest.mark.parametrize("name", ["plain.db", "plain.sqlite", "plain.sqlite3"])
def test_plain_path_becomes_sqlite_url(tmp_path: Path, name: str) -> None:
    with open_storage(str(tmp_path / name)) as store:
        assert store.url == f"sqlite:///{tmp_path / name}"
        assert store.schema_version() == SCHEMA_VERSION


def test_relative_path_is_resolved_against_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert str(resolve_url("sub/rel.db")) == f"sqlite:///{tmp_path.resolve() / 'sub' / 'rel.db'}"
    assert str(resolve_url("sqlite:///sub/rel.db")) == f"sqlite:///{tmp_path.resolve() / 'sub' / 'rel.db'}"


def test_in_memory_sqlite_is_accepted() -> None:
    with open_storage("sqlite://") as store:
        assert store.schema_version() == SCHEMA_VERSION
        with pytest.raises(StorageError, match="in-memory"):
            store.optuna_storage()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("notadb://x", r"unknown database driver 'notadb'.*sqlite:///path/to/results\.db"),
        ("postgresql+nodriver://host/db", r"unknown database driver 'postgresql\+nodriver'"),
        ("results.txt", r"invalid results database URL 'results\.txt'.*file path ending in \.db"),
        ("", r"invalid results database URL ''"),
        ("://nothing", r"malformed results database URL '://nothing'"),
        ("sqlite:////nonexistent/dir/x.db", r"/nonexistent/dir/x\.db: directory /nonexistent/dir does not exist"),
    ],
)
def test_bad_url_raises_storage_error(url: str, expected: str) -> None:
    with pytest.raises(StorageError, match=expected) as info:
        open_storage(url)
    assert "Traceback" not in str(info.value)


@pytest.mark.parametrize("scheme", ["postgresql", "postgres", "postgresql+psycopg"])
def test_postgresql_urls_use_psycopg_3(scheme: str) -> None:
    url = resolve_url(f"{scheme}://user:secret@host:5433/db?sslmode=require")
    assert url.drivername == "postgresql+psycopg"
    assert (url.username, url.password, url.host, url.port, url.database) == ("user", "secret", "host", 5433, "db")
    assert url.query == {"sslmode": "require"}


def test_missing_driver_names_the_extra_and_hides_the_password() -> None:
    """Without psycopg (here: made unimportable in a fresh interpreter), the error says what to install."""
    script = (
        "import sys; sys.modules['psycopg'] = None\n"  # `import psycopg` now raises ImportError
        "from autotune import StorageError, open_storage\n"
        "try:\n"
        "    open_storage('postgresql://user:secret@localhost/db')\n"
        "except StorageError as err:\n"
        "    print(err)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr
    message = done.stdout
    assert "driver for 'postgresql+psycopg://user:***@localhost/db' is not installed" in message
    assert "pip install 'autotune[postgres]'" in message
    assert "secret" not in message


def test_directory_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "dir.db").mkdir()
    with pytest.raises(StorageError, match="it is a directory"):
        open_storage(str(tmp_path / "dir.db"))


def test_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_text("this is not SQLite\n" * 100)
    with pytest.raises(StorageError, match=r"junk\.db.*file is not a database") as info:
        open_storage(str(path))
    assert info.value.__cause__ is not None


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:", "sqlite:///file::memory:?uri=true"])
def test_in_memory_database_keeps_what_is_written(url: str) -> None:
    """One connection shared by the whole process: every thread and transaction sees the same data."""
    with open_storage(url) as store:
        cid = seed(store)
        written = record()
        worker = threading.Thread(target=lambda: store.add_measurements([written]))
        worker.start()
        worker.join()
        [row] = store.measurements()
        assert row == written and row.config_id == cid and row.machine_id == MACHINE
        assert store.machine(MACHINE) is not None and store.config(cid) is not None
