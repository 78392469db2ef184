"""ResultsLog: the one writer of measurements (tuning sessions, ``tuned_simulate``, profiling, benchmarks)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence

from .._outcome import Source
from ..features import MachineFingerprint, WorkloadFeatures
from ..measure import Measurement
from ._storage import Storage

__all__ = ["ResultsLog", "library_versions"]


def library_versions(machine: MachineFingerprint) -> dict[str, str | None]:
    """The versions a measurement depends on, from the fingerprint (no imports on the hot path)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        own = version("autotune")
    except PackageNotFoundError:  # running from a source tree without installing
        own = None
    return {"autotune": own, "python": machine.python_version, "numpy": machine.numpy_version,
            "numba": machine.numba_version, "jax": machine.jax_version}


class ResultsLog:
    """Writes measurements taken on one machine into a :class:`Storage`.

    The machine's row is stored on first use, each workload's row once, and every measurement
    is stamped with its keys, source, session and the library versions before it is written, so
    that whoever measured it (the tuner, the online recorder, profiling) stores the same record.
    Safe to use from several threads.

    Args:
        store: the results database.
        machine: the fingerprint of the machine the measurements were taken on.
    """

    def __init__(self, store: Storage, machine: MachineFingerprint) -> None:
        self.store = store
        self.machine = machine
        self.versions = library_versions(machine)
        self._machine_stored = False
        self._workloads: set[str] = set()
        self._names: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def register_machine(self) -> None:
        """Store (or refresh) the machine's row: its fingerprint and the columns reports filter on."""
        m = self.machine
        self.store.upsert_machine(m.machine_id, m.to_dict(), cpu_model=m.cpu_model, usable_cores=m.usable_cores,
                                  provider=m.cloud.provider, instance_type=m.cloud.instance_type)
        with self._lock:
            self._machine_stored = True

    def register_workload(self, features: WorkloadFeatures, *, name: str | None = None) -> None:
        """Store the workload's row (and the machine's) unless this log already did.

        ``name``: also give the workload this display name (once per log; see :meth:`Storage.name_workload`).
        """
        with self._lock:
            machine_done, done = self._machine_stored, features.key in self._workloads
        if not machine_done:
            self.register_machine()
        if not done:
            self.store.upsert_workload(features.key, features.kind, features.spec, features.vector())
            with self._lock:
                self._workloads.add(features.key)
        if name is not None:
            with self._lock:
                named = (features.key, name) in self._names
            if not named:
                self.store.name_workload(features.key, name)
                with self._lock:
                    self._names.add((features.key, name))

    def stamp(self, features: WorkloadFeatures, m: Measurement, *, source: Source | str,
              session_id: int | None = None) -> Measurement:
        """``m`` with this machine's and ``features``' keys, the source, the session and the versions."""
        return dataclasses.replace(m, machine_id=self.machine.machine_id, workload_id=features.key,
                                   source=Source(source), session_id=session_id, versions=self.versions)

    def write(self, features: WorkloadFeatures, measurements: Iterable[Measurement], *, source: Source | str,
              session_id: int | None = None) -> list[Measurement]:
        """Stamp and store measurements of one workload in one transaction; returns them as stored."""
        return self.write_batch([(features, m) for m in measurements], source=source, session_id=session_id)

    def write_batch(self, items: Sequence[tuple[WorkloadFeatures, Measurement]], *, source: Source | str,
                    session_id: int | None = None) -> list[Measurement]:
        """Stamp and store measurements of any workloads in one transaction; returns them as stored."""
        for features in {f.key: f for f, _ in items}.values():
            self.register_workload(features)
        stamped = [self.stamp(f, m, source=source, session_id=session_id) for f, m in items]
        self.store.add_measurements(stamped)
        return stamped
