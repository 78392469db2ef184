"""Low-level readers of the host: CPU, caches, cgroup limits, BLAS, JAX devices, versions.

Every reader returns plain values and degrades to None / empty on any failure: a
fingerprint with a missing detail is better than no fingerprint at all.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import platform
import re
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

ISA_FLAGS = ("avx2", "avx512f", "fma", "neon", "sse4_2")
_SYS_CPU = Path("/sys/devices/system/cpu")
_SIZE_RE = re.compile(r"^\s*([\d.]+)\s*([KMG]?)(?:i?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3}


def affinity() -> tuple[int, ...]:
    """The sorted CPU ids this process may run on."""
    try:
        return tuple(sorted(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # macOS and Windows have no sched_getaffinity
        return tuple(range(os.cpu_count() or 1))


def _proc_cpuinfo() -> dict[str, str]:
    """The first value of each key in /proc/cpuinfo (keys lower-cased)."""
    out: dict[str, str] = {}
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return out
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            out.setdefault(key.strip().lower(), value.strip())
    return out


def _py_cpuinfo() -> dict[str, Any]:
    try:
        import cpuinfo

        # The public entry point runs CPUID in a child process, so a faulting probe cannot kill us.
        return dict(cpuinfo.get_cpu_info())
    except Exception as exc:  # any failure means "fall back to /proc/cpuinfo"
        logger.debug("py-cpuinfo failed: %s", exc)
        return {}


def parse_size(value: object) -> int | None:
    """``"48K"``, ``"32 KiB"``, ``"1 MB"`` or an int -> bytes; None when unparseable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value > 0 else None
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if m:
            size = int(float(m.group(1)) * _UNITS[m.group(2).upper()])
            return size if size > 0 else None
    return None


def sysfs_caches(cpu: int = 0, root: Path = _SYS_CPU) -> dict[str, int | None]:
    """Per-core L1d/L2/L3 sizes in bytes of one CPU, from ``cpu<N>/cache/index*``."""
    caches: dict[str, int | None] = {"l1d": None, "l2": None, "l3": None}
    try:
        entries = sorted((root / f"cpu{cpu}" / "cache").glob("index*"))
    except OSError:
        return caches
    for entry in entries:
        try:
            level = (entry / "level").read_text().strip()
            kind = (entry / "type").read_text().strip().lower()
            size = parse_size((entry / "size").read_text().strip())
        except OSError:
            continue
        name = {"1": "l1d" if kind == "data" else None, "2": "l2", "3": "l3"}.get(level)
        if name and kind in ("data", "unified") and caches[name] is None:
            caches[name] = size
    return caches


def cpu_facts(cpu: int = 0) -> dict[str, Any]:
    """Vendor, model, caches, ISA flags and advertised frequency of the CPU.

    Where /proc/cpuinfo names the model and lists the flags (Linux on x86) it is enough, and the
    ~1 s py-cpuinfo child process is skipped; elsewhere (macOS, Windows, ARM Linux) py-cpuinfo leads.
    """
    proc = _proc_cpuinfo()
    proc_flags = proc.get("flags") or proc.get("features") or ""
    info = {} if proc.get("model name") and proc_flags else _py_cpuinfo()
    vendor = info.get("vendor_id_raw") or proc.get("vendor_id") or proc.get("cpu implementer") or platform.processor()
    model = (info.get("brand_raw") or proc.get("model name") or proc.get("hardware") or proc.get("model")
             or platform.processor() or platform.machine())
    # sysfs gives per-core sizes; py-cpuinfo (through lscpu) often reports totals over all cores,
    # so it is only the fallback.
    caches = sysfs_caches(cpu)
    if all(v is None for v in caches.values()) and cpu != 0:
        caches = sysfs_caches(0)
    for name, key in (("l1d", "l1_data_cache_size"), ("l2", "l2_cache_size"), ("l3", "l3_cache_size")):
        if caches[name] is None:
            caches[name] = parse_size(info.get(key))
    flags = {str(f).lower() for f in info.get("flags") or ()} | set(proc_flags.lower().split())
    isa = {name: name in flags for name in ISA_FLAGS}
    # AArch64 calls NEON "asimd", and it is mandatory there (macOS reports no flags at all).
    isa["neon"] = isa["neon"] or "asimd" in flags or platform.machine().lower() in ("arm64", "aarch64")
    hz = info.get("hz_advertised")
    advertised_mhz = hz[0] / 1e6 if isinstance(hz, (list, tuple)) and hz and hz[0] else None
    # Brand strings come padded with spaces (CPUID) or not (the kernel): normalise for a stable id.
    return {"vendor": " ".join(str(vendor or "unknown").split()), "model": " ".join(str(model or "unknown").split()),
            "caches": caches, "isa": isa, "advertised_mhz": advertised_mhz}


def _read_first(*paths: str) -> str | None:
    for path in paths:
        try:
            return Path(path).read_text().strip()
        except OSError:
            continue
    return None


def cgroup_limits() -> tuple[float | None, int | None]:
    """(CPU quota in cores, memory limit in bytes) of this process's cgroup; None where unlimited."""
    quota: float | None = None
    text = _read_first("/sys/fs/cgroup/cpu.max")
    if text:  # cgroup v2: "max 100000" or "200000 100000"
        q, _, p = text.partition(" ")
        if q != "max" and q.isdigit() and p.strip().isdigit() and int(p) > 0:
            quota = int(q) / int(p)
    else:  # cgroup v1
        q1 = _read_first("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us")
        p1 = _read_first("/sys/fs/cgroup/cpu/cpu.cfs_period_us", "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us")
        if q1 and p1 and q1.lstrip("-").isdigit() and p1.isdigit() and int(q1) > 0 and int(p1) > 0:
            quota = int(q1) / int(p1)
    mem_text = _read_first("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
    memory = int(mem_text) if mem_text and mem_text.isdigit() else None
    if memory is not None and memory >= 1 << 60:  # v1 writes "no limit" as a page-rounded 2**63
        memory = None
    return (round(quota, 3) if quota else None), memory


def blas_info() -> dict[str, Any]:
    """The first BLAS that threadpoolctl sees (numpy's, once numpy is imported)."""
    try:
        import numpy  # noqa: F401 - loads numpy's BLAS so that threadpoolctl can see it
        from threadpoolctl import threadpool_info

        pools = threadpool_info()
    except Exception as exc:  # threadpoolctl missing or failing: BLAS unknown
        logger.debug("threadpoolctl failed: %s", exc)
        return {}
    for pool in pools:
        if pool.get("user_api") == "blas":
            return {"vendor": pool.get("prefix"), "internal_api": pool.get("internal_api"),
                    "threads": pool.get("num_threads"), "version": pool.get("version")}
    return {}


_NO_DEVICES: dict[str, Any] = {"platform": None, "kind": None, "count": 0, "memory_bytes": None}
#: Environment variables that change which accelerators JAX sees.
_DEVICE_ENV = ("CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES", "JAX_PLATFORMS",
               "JAX_PLATFORM_NAME", "TPU_VISIBLE_CHIPS")
#: Environment variables that change the threads a BLAS starts with.
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS")
#: The libraries whose versions the fingerprint records (numpy's comes from the imported module).
VERSIONED = ("numba", "jax")
#: The probe cache file holds at most this many bytes (it is read as data, never trusted beyond that).
MAX_PROBE_CACHE_BYTES = 64 * 1024
CACHE_DIR_ENV = "AUTOTUNE_CACHE_DIR"
_PROBES_FILE = "host_probes.json"


def cache_dir() -> Path:
    """Where per-machine probe results are cached: ``$AUTOTUNE_CACHE_DIR``, else ``$XDG_CACHE_HOME/autotune``,
    else ``~/.cache/autotune``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "autotune"


def _boot_id() -> str | None:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()[:64] or None
    except OSError:
        return None


def _site_stamps() -> list[list[Any]]:
    """Each package directory on ``sys.path`` with its modification time: installing, upgrading or
    removing a package adds or removes entries there, which changes the time."""
    dirs = [p for p in sys.path if p and os.path.basename(p.rstrip(os.sep)) in ("site-packages", "dist-packages")]
    stamps = []
    for d in dict.fromkeys(dirs):
        try:
            stamps.append([d, os.stat(d).st_mtime_ns])
        except OSError:
            continue
    return stamps


def _probes_key() -> dict[str, Any] | None:
    """What the cached probes depend on: this boot, the interpreter and its installed packages, the
    device and BLAS environment, and the CPUs this process may use."""
    boot = _boot_id()
    if boot is None:  # no way to know the machine has not changed: probe every time
        return None
    return {"boot": boot, "python": sys.executable, "sites": _site_stamps(),
            "env": {k: os.environ.get(k) for k in _DEVICE_ENV + _BLAS_ENV}, "affinity": list(affinity())}


def _short(v: Any) -> bool:
    return v is None or (isinstance(v, str) and len(v) <= 200)


def _count(v: Any, high: int) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= high


def _valid_devices(value: Any) -> bool:
    if not isinstance(value, dict) or set(value) != set(_NO_DEVICES):
        return False
    mem = value["memory_bytes"]
    return (_short(value["platform"]) and _short(value["kind"]) and _count(value["count"], 4096)
            and (mem is None or _count(mem, 2**60)))


def _valid_blas(value: Any) -> bool:
    if not isinstance(value, dict) or not set(value) <= {"vendor", "internal_api", "threads", "version"}:
        return False
    threads = value.get("threads")
    return (all(_short(value.get(k)) for k in ("vendor", "internal_api", "version"))
            and (threads is None or _count(threads, 1 << 20)))


def _valid_versions(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == set(VERSIONED) and all(_short(v) for v in value.values())


_VALID = {"devices": _valid_devices, "blas": _valid_blas, "versions": _valid_versions, "platform": _short}


def _cached_probes(key: dict[str, Any]) -> dict[str, Any]:
    """The valid sections of the probe cache for ``key`` (none if the file is missing, too large,
    malformed or for another key)."""
    path = cache_dir() / _PROBES_FILE
    try:
        if path.stat().st_size > MAX_PROBE_CACHE_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("key") != key or not isinstance(data.get("probes"), dict):
        return {}
    return {name: value for name, value in data["probes"].items() if name in _VALID and _VALID[name](value)}


def _store_probes(key: dict[str, Any], probes: dict[str, Any]) -> None:
    path = cache_dir() / _PROBES_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}")
        tmp.write_text(json.dumps({"key": key, "probes": probes}), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:  # a read-only home must not break the fingerprint
        logger.debug("cannot cache the host probes in %s: %s", path, exc)


def slow_probes() -> dict[str, Any]:
    """The probes that cost a fresh process most: ``devices`` (:func:`jax_devices`), ``blas``
    (:func:`blas_info`), ``versions`` (of :data:`VERSIONED`) and ``platform`` (``platform.platform()``).

    Importing JAX to list devices takes 1-2 s, threadpoolctl and the package metadata ~20 ms, so
    the answers are cached on disk (:func:`cache_dir`) per boot, interpreter and installed packages,
    device and BLAS environment, and CPU affinity. A process that has already imported JAX (or
    threadpoolctl) asks it: it may have changed what it sees (or the BLAS threads) since.
    """
    key = _probes_key()
    cached = _cached_probes(key) if key is not None else {}
    probes = dict(cached)
    if "devices" not in probes or "jax" in sys.modules:
        probes["devices"] = _jax_devices_now()
    if "blas" not in probes or "threadpoolctl" in sys.modules:
        probes["blas"] = blas_info()
    if "versions" not in probes:
        probes["versions"] = {name: package_version(name) for name in VERSIONED}
    if "platform" not in probes:  # platform.platform() reads the interpreter's binary for its libc version
        probes["platform"] = platform.platform()[:200]
    if key is not None and probes != cached:
        _store_probes(key, probes)
    return probes


def jax_devices() -> dict[str, Any]:
    """Accelerators visible to JAX: platform, kind, count and per-device memory (the smallest).

    Cached on disk with the other :func:`slow_probes`.
    """
    return dict(slow_probes()["devices"])


def _jax_devices_now() -> dict[str, Any]:
    if importlib.util.find_spec("jax") is None:
        return dict(_NO_DEVICES)
    return _probe_jax_devices()


def _probe_jax_devices() -> dict[str, Any]:
    try:
        import jax

        devices = [d for d in jax.devices() if d.platform != "cpu"]
    except Exception as exc:  # a broken JAX install must not break the fingerprint
        logger.debug("JAX devices unavailable: %s", exc)
        return dict(_NO_DEVICES)
    if not devices:
        return dict(_NO_DEVICES)
    memory = []
    for device in devices:
        try:
            stats = device.memory_stats() or {}
        except Exception:  # memory_stats is not implemented on every platform
            stats = {}
        if stats.get("bytes_limit"):
            memory.append(int(stats["bytes_limit"]))
    return {"platform": str(devices[0].platform), "kind": str(devices[0].device_kind), "count": len(devices),
            "memory_bytes": min(memory) if memory else None}


def package_version(name: str) -> str | None:
    import importlib.metadata  # ~10 ms: only when a version is not cached

    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None
