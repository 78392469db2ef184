"""Writing measurements into the results database (shared by tuning sessions and online calls)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kernels import Config

from ..features import MachineFingerprint, WorkloadFeatures
from ..measure import Measurement
from ..storage import MeasurementRecord, Storage, config_id

__all__ = ["RecordContext", "library_versions", "record_measurement", "register_context", "register_machine"]


def library_versions(machine: MachineFingerprint) -> dict[str, str | None]:
    """The versions a measurement depends on, from the fingerprint (no imports on the hot path)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("autotune")
    except PackageNotFoundError:  # running from a source tree without installing
        own = None
    return {"autotune": own, "python": machine.python_version, "numpy": machine.numpy_version,
            "numba": machine.numba_version, "jax": machine.jax_version}


@dataclass
class RecordContext:
    """The machine and workload rows a run's measurements refer to, registered once."""

    machine_id: str
    workload_key: str
    versions: dict[str, str | None]
    _configs: dict[Config, str] = field(default_factory=dict)
    _stored: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def config_id(self, config: Config) -> str:
        """The stable id of ``config`` (memoised; computing it touches no database)."""
        cid = self._configs.get(config)
        if cid is None:
            cid = self._configs[config] = config_id(config.to_dict())
        return cid

    def ensure_config(self, store: Storage, config: Config) -> str:
        cid = self.config_id(config)
        with self._lock:
            if cid in self._stored:
                return cid
        store.upsert_config(config.to_dict())
        with self._lock:
            self._stored.add(cid)
        return cid


def register_machine(store: Storage, machine: MachineFingerprint) -> None:
    """Store (or refresh) the machine's row: its fingerprint and the columns reports filter on."""
    store.upsert_machine(machine.machine_id, machine.to_dict(), cpu_model=machine.cpu_model,
                         usable_cores=machine.usable_cores, provider=machine.cloud.provider,
                         instance_type=machine.cloud.instance_type)


def register_context(store: Storage, machine: MachineFingerprint, features: WorkloadFeatures) -> RecordContext:
    """Store (or refresh) the machine and workload rows and return the context for recording."""
    register_machine(store, machine)
    store.upsert_workload(features.key, features.kind, features.spec, features.vector())
    return RecordContext(machine.machine_id, features.key, library_versions(machine))


def record_measurement(
    store: Storage, context: RecordContext, m: Measurement, *, session_id: int | None, source: str
) -> int:
    """Store one measurement, whatever its outcome, and return its row id."""
    cid = context.ensure_config(store, m.config)
    return store.add_measurement(MeasurementRecord(
        machine_id=context.machine_id, workload_id=context.workload_key, config_id=cid, session_id=session_id,
        n_sims=m.n_sims, source=source, status=m.outcome, median_s=m.median_s, iqr_s=m.iqr_s,
        samples=tuple(m.samples), compile_s=m.compile_s, first_call_s=m.first_call_s,
        peak_memory_bytes=m.peak_memory_bytes, error=m.error, accuracy_z=m.accuracy_z, estimate=m.estimate,
        stderr=m.stderr, versions=context.versions,
    ))
