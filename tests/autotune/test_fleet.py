"""The README's fleet walk-through, run as it stands against a real PostgreSQL database.

Two "machines" (this VM, and the same pinned to one core with another instance type) profile
and tune into one database at once; then ``autotune train`` and ``autotune instances``.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autotune import Outcome, open_storage

REPO = Path(__file__).resolve().parents[2]
SECTION = "## A fleet: many machines, one PostgreSQL database"


def walk_through() -> str:
    """The bash block of the README's fleet section that ends with ``autotune instances``."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    start = text.index(SECTION)
    end = text.find("\n## ", start + len(SECTION))
    blocks = re.findall(r"^```bash\n(.*?)^```$", text[start:end], flags=re.S | re.M)
    (block,) = [b for b in blocks if "autotune instances" in b]
    return block


def test_the_walk_through_is_in_the_readme() -> None:
    block = walk_through()
    for step in ("autotune profile --quick", "AUTOTUNE_INSTANCE_TYPE=", "taskset -c 0", "autotune train",
                 "autotune instances"):
        assert step in block


@pytest.mark.slow  # two machines profiling and tuning at once, then train: about 30 s on 2 cores
def test_fleet_walk_through_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    # `autotune` on PATH runs this checkout (taskset needs a program, not a shell function).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "autotune"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m autotune "$@"\n')
    wrapper.chmod(0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNE_")}
    env.update(AUTOTUNE_STORAGE=pg_url, PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])))
    work = tmp_path / "fleet"
    work.mkdir()
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", walk_through()], cwd=work, env=env,
                          capture_output=True, text=True, timeout=600)
    logs = "\n".join(f"--- {p.name}\n{p.read_text()}" for p in sorted(work.glob("*.log")))
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}\n{logs}"

    with open_storage(pg_url) as store:
        rows = store.measurements(source="tune", outcome=Outcome.COMPLETE)
        machines = sorted({r.machine_id for r in rows})
        assert len(machines) == 2, machines  # both machines tuned the workload into the one database
        types = {store.machine(m).instance_type for m in machines}
        assert "c7i.large" in types
        assert all(store.profiles(m) for m in machines)  # and each profiled itself
        assert len({r.workload_id for r in rows}) == 1
        model = store.latest_model("default")
        assert model is not None and model.n_rows >= len(rows) // 2
    # `autotune instances` compared the two machines on the workload
    assert "c7i.large" in done.stdout and "european" in done.stdout, done.stdout
