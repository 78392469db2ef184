"""Making a database file really read-only, for root too (the tests run as root).

``chmod`` does not stop root, so it emulates nothing. What stops root as it stops a user:

* ``chattr +i`` (the immutable flag): the kernel refuses to open the file for writing
  (EPERM, root included), exactly as it refuses a file owned by another user (EACCES);
  SQLite then falls back to a read-only open, as it does for that user;
* a read-only bind mount in a private mount namespace (``unshare -m``), as on a read-only
  NFS export or container volume: see ``tests/autotune/test_cli_storage_errors.py``;
* ``mode=ro`` in a SQLite ``file:`` URI: the user asked for a read-only connection.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[None]:
    """``chattr +i path`` for the duration (skips the test where the file system or the user cannot)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot set the immutable flag here: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def read_only_url(path: Path) -> str:
    """A SQLAlchemy URL that opens ``path`` with a read-only SQLite connection."""
    return f"sqlite:///file:{path}?mode=ro&uri=true"
