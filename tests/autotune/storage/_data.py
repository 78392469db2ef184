"""Test data for the results-database tests: standard rows and a measurement builder."""

from __future__ import annotations

from typing import Any

from autotune import Outcome
from autotune.measure import Measurement
from autotune.storage import Storage
from kernels import Config

KNOBS: dict[str, Any] = {
    "backend": "numpy",
    "workers": 2,
    "executor": "threads",
    "precision": "float32",
    "chunk_size": 65536,
    "qmc": True,
    "qmc_scrambles": 16,
    "shared_memory": False,
}
CONFIG = Config.from_dict(KNOBS)
MACHINE = "machine-hash-1"
WORKLOAD = "european/call/abc123"


def seed(storage: Storage) -> str:
    """Insert the standard machine, workload and config; return the config id."""
    storage.upsert_machine(MACHINE, {"cpu": "x86_64", "cores": 8}, cpu_model="Test CPU", usable_cores=8)
    storage.upsert_workload(WORKLOAD, "european", {"strike": 100.0}, {"n_steps": 1, "log_paths": 0.0})
    return storage.upsert_config(KNOBS)


def record(**changes: Any) -> Measurement:
    """A COMPLETE measurement of the standard machine/workload/config with ``changes`` applied."""
    fields: dict[str, Any] = dict(
        config=CONFIG, machine_id=MACHINE, workload_id=WORKLOAD, n_sims=100_000, source="tune",
        outcome=Outcome.COMPLETE, steady_s=0.5, iqr_s=0.01, samples=(0.49, 0.5, 0.51),
    )
    fields.update(changes)
    return Measurement(**fields)
