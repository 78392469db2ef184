"""The machine fingerprint: what this process runs on, with a stable id and a numeric feature vector."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import platform
import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import psutil

from . import _host
from ._cloud import ENV_INSTANCE_TYPE, ENV_PROBE, ENV_PROVIDER, ENV_URL, CloudIdentity, cloud_identity

__all__ = ["FINGERPRINT_SCHEMA", "MACHINE_FEATURES", "MachineFingerprint", "machine_fingerprint"]

logger = logging.getLogger(__name__)

FINGERPRINT_SCHEMA = 1
GIB = 1024**3

MACHINE_FEATURES: tuple[str, ...] = (
    "usable_cores",
    "effective_cores",
    "physical_cores",
    "logical_cores",
    "threads_per_core",
    "freq_ghz",
    "log2_l1d_kib",
    "log2_l2_kib",
    "log2_l3_kib",
    "memory_gib",
    "isa_avx2",
    "isa_avx512f",
    "isa_fma",
    "isa_neon",
    "isa_sse4_2",
    "gpu_count",
    "gpu_memory_gib",
    "blas_threads",
)


@dataclass(frozen=True)
class MachineFingerprint:
    """What this process runs on.

    Sizes are bytes, frequencies MHz; None means "could not be read". ``freq_max_mhz`` falls back
    to py-cpuinfo's advertised frequency where psutil reports no maximum (common in VMs). The
    ``gpu_*`` fields describe the non-CPU devices JAX sees (``gpu_memory_bytes``: the smallest
    device's limit). ``cpu_quota`` and ``memory_limit_bytes`` are cgroup limits (containers).
    """

    cpu_vendor: str
    cpu_model: str
    physical_cores: int
    logical_cores: int
    usable_cores: int
    affinity: tuple[int, ...]
    cpu_quota: float | None
    freq_max_mhz: float | None
    freq_current_mhz: float | None
    l1d_bytes: int | None
    l2_bytes: int | None
    l3_bytes: int | None
    isa_avx2: bool
    isa_avx512f: bool
    isa_fma: bool
    isa_neon: bool
    isa_sse4_2: bool
    memory_total_bytes: int
    memory_available_bytes: int
    memory_limit_bytes: int | None
    gpu_platform: str | None
    gpu_kind: str | None
    gpu_count: int
    gpu_memory_bytes: int | None
    blas_vendor: str | None
    blas_internal_api: str | None
    blas_threads: int | None
    blas_version: str | None
    python_version: str
    numpy_version: str | None
    numba_version: str | None
    jax_version: str | None
    os_system: str
    os_release: str
    os_platform: str
    arch: str
    cloud: CloudIdentity = field(default_factory=CloudIdentity)

    def identity(self) -> dict[str, Any]:
        """The fields that define the machine (what :attr:`machine_id` hashes).

        Not the available memory, the current frequency, library versions or anything that
        changes between runs on the same machine.
        """
        return {
            "cpu_model": self.cpu_model,
            "physical_cores": self.physical_cores,
            "logical_cores": self.logical_cores,
            "usable_cores": self.usable_cores,
            "affinity": list(self.affinity),
            "cpu_quota": self.cpu_quota,
            "memory_gib": round(self.memory_total_bytes / GIB),
            "memory_limit_gib": None if self.memory_limit_bytes is None else round(self.memory_limit_bytes / GIB),
            "gpu_kind": self.gpu_kind,
            "gpu_count": self.gpu_count,
            "cloud_provider": self.cloud.provider,
            "instance_type": self.cloud.instance_type,
        }

    @property
    def machine_id(self) -> str:
        """16 hex characters of sha256 over :meth:`identity`; the same machine gets the same id in every process."""
        text = json.dumps(self.identity(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (plus ``schema`` and, for reading only, ``machine_id``)."""
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        data["affinity"] = list(self.affinity)
        data["cloud"] = self.cloud.to_dict()
        data["schema"] = FINGERPRINT_SCHEMA
        data["machine_id"] = self.machine_id
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MachineFingerprint:
        """Rebuild a fingerprint written by :meth:`to_dict`."""
        if not isinstance(data, dict):
            raise ValueError(f"MachineFingerprint.from_dict needs a dict, got {type(data).__name__}")
        schema = data.get("schema", FINGERPRINT_SCHEMA)
        if schema != FINGERPRINT_SCHEMA:
            raise ValueError(
                f"fingerprint schema {schema!r} is not supported (this library reads {FINGERPRINT_SCHEMA})"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        missing = [n for n in names if n not in data]
        if missing:
            raise ValueError(f"MachineFingerprint.from_dict: missing fields {missing}")
        kwargs = {n: data[n] for n in names}
        kwargs["affinity"] = tuple(int(c) for c in data["affinity"])
        kwargs["cloud"] = CloudIdentity.from_dict(data["cloud"])
        return cls(**kwargs)

    def vector(self) -> dict[str, float]:
        """Numeric features for a model, keyed (in order) by :data:`MACHINE_FEATURES`; missing values are 0."""
        quota = self.cpu_quota
        memory = self.memory_total_bytes
        if self.memory_limit_bytes is not None:
            memory = min(memory, self.memory_limit_bytes)
        freq = self.freq_max_mhz or self.freq_current_mhz or 0.0

        def log2_kib(size: int | None) -> float:
            return math.log2(size / 1024) if size and size >= 1024 else 0.0

        values = {
            "usable_cores": self.usable_cores,
            "effective_cores": min(self.usable_cores, quota) if quota else self.usable_cores,
            "physical_cores": self.physical_cores,
            "logical_cores": self.logical_cores,
            "threads_per_core": self.logical_cores / max(self.physical_cores, 1),
            "freq_ghz": freq / 1000.0,
            "log2_l1d_kib": log2_kib(self.l1d_bytes),
            "log2_l2_kib": log2_kib(self.l2_bytes),
            "log2_l3_kib": log2_kib(self.l3_bytes),
            "memory_gib": memory / GIB,
            "isa_avx2": self.isa_avx2,
            "isa_avx512f": self.isa_avx512f,
            "isa_fma": self.isa_fma,
            "isa_neon": self.isa_neon,
            "isa_sse4_2": self.isa_sse4_2,
            "gpu_count": self.gpu_count,
            "gpu_memory_gib": (self.gpu_memory_bytes or 0) / GIB,
            "blas_threads": self.blas_threads or 0,
        }
        return {k: float(values[k]) for k in MACHINE_FEATURES}


def _collect(cloud: CloudIdentity) -> MachineFingerprint:
    cpus = _host.affinity()
    cpu = _host.cpu_facts(cpus[0] if cpus else 0)
    logical = psutil.cpu_count(logical=True) or os.cpu_count() or len(cpus)
    physical = psutil.cpu_count(logical=False) or logical
    try:
        freq = psutil.cpu_freq()
    except Exception:  # psutil raises on some VMs and containers without cpufreq
        freq = None
    freq_max = (freq.max if freq and freq.max else None) or cpu["advertised_mhz"]
    freq_current = freq.current if freq and freq.current else None
    mem = psutil.virtual_memory()
    quota, mem_limit = _host.cgroup_limits()
    probes = _host.slow_probes()
    gpu, blas, versions = probes["devices"], probes["blas"], probes["versions"]
    return MachineFingerprint(
        cpu_vendor=cpu["vendor"],
        cpu_model=cpu["model"],
        physical_cores=int(physical),
        logical_cores=int(logical),
        usable_cores=len(cpus),
        affinity=cpus,
        cpu_quota=quota,
        freq_max_mhz=None if freq_max is None else round(float(freq_max), 3),
        freq_current_mhz=None if freq_current is None else round(float(freq_current), 3),
        l1d_bytes=cpu["caches"]["l1d"],
        l2_bytes=cpu["caches"]["l2"],
        l3_bytes=cpu["caches"]["l3"],
        **{f"isa_{name}": bool(flag) for name, flag in cpu["isa"].items()},
        memory_total_bytes=int(mem.total),
        memory_available_bytes=int(mem.available),
        memory_limit_bytes=mem_limit,
        gpu_platform=gpu["platform"],
        gpu_kind=gpu["kind"],
        gpu_count=int(gpu["count"]),
        gpu_memory_bytes=gpu["memory_bytes"],
        blas_vendor=blas.get("vendor"),
        blas_internal_api=blas.get("internal_api"),
        blas_threads=blas.get("threads"),
        blas_version=blas.get("version"),
        python_version=platform.python_version(),
        numpy_version=np.__version__,
        numba_version=versions["numba"],
        jax_version=versions["jax"],
        os_system=platform.system(),
        os_release=platform.release(),
        os_platform=probes["platform"],
        arch=platform.machine(),
        cloud=cloud,
    )


_cache: dict[tuple, MachineFingerprint] = {}
_lock = threading.Lock()


def machine_fingerprint(
    *,
    refresh: bool = False,
    probe_metadata: bool | None = None,
    metadata_url: str | None = None,
    metadata_timeout: float = 0.5,
) -> MachineFingerprint:
    """The fingerprint of the machine this process runs on, cached per process.

    The cache is keyed by the current CPU affinity (and the cloud-probe settings), so a process
    that changes its affinity gets a fresh fingerprint. The first call in a process takes
    ~5 ms on Linux; the slow probes (JAX devices, BLAS, library versions: :func:`_host.slow_probes`)
    are cached on disk per boot and installed packages, so only the first process after a boot or
    an install pays for them (1-2 s where JAX is installed).

    Args:
        refresh: recompute even when a cached fingerprint exists.
        probe_metadata, metadata_url, metadata_timeout: see :func:`~autotune.features.cloud_identity`;
            the metadata probe is off unless asked for.

    Raises:
        ValueError: for arguments of the wrong type.
    """
    if not isinstance(refresh, bool):
        raise ValueError(f"refresh must be True or False, got {refresh!r}")
    if probe_metadata is not None and not isinstance(probe_metadata, bool):
        raise ValueError(f"probe_metadata must be True, False or None, got {probe_metadata!r}")
    if isinstance(metadata_timeout, bool) or not isinstance(metadata_timeout, (int, float)) or not metadata_timeout > 0:
        raise ValueError(f"metadata_timeout must be a positive number of seconds, got {metadata_timeout!r}")
    env = tuple(os.environ.get(name) for name in (ENV_PROVIDER, ENV_INSTANCE_TYPE, ENV_PROBE, ENV_URL))
    key = (_host.affinity(), probe_metadata, metadata_url, env)
    with _lock:
        if not refresh and key in _cache:
            return _cache[key]
        cloud = cloud_identity(probe_metadata=probe_metadata, metadata_url=metadata_url, timeout=metadata_timeout)
        fingerprint = _collect(cloud)
        _cache[key] = fingerprint
    logger.debug("machine fingerprint %s: %s, %d usable cores", fingerprint.machine_id, fingerprint.cpu_model,
                 fingerprint.usable_cores)
    return fingerprint
