"""Lock files: the config chosen for each workload, pinned for reproducible runs (``autotune pin``).

A lock file is a small TOML document that ``autotune pin`` writes and :func:`load_lock` reads::

    lock_version = 1
    autotune_version = "0.2.0"
    created_at = "2026-12-01T22:00:00Z"

    [machine]                     # where it was written: the library versions and CPU decide the bits
    machine_id = "3f2a..."        # autotune's machine fingerprint (informational)
    instance_type = "c7i.4xlarge" # "" when unknown
    system = "Linux"
    arch = "x86_64"
    cpu = "Intel(R) Xeon(R) ..."
    python = "3.11.9"
    numpy = "2.1.3"
    scipy = "1.14.1"
    numba = "0.60.0"              # "" when not installed
    jax = ""
    jaxlib = ""

    [[workload]]
    name = "atm-call"
    kind = "european"             # european | asian | portfolio
    workload_digest = "9c1e..."   # workload_digest(workload): which workload the entry is for
    workload_key = "european-..." # autotune's key (informational)
    n_sims = 1000000              # the size it was chosen at; 0 for an entry chosen for a target
    source = "cache"              # how it was chosen: cache | model | default

    [workload.config]             # every Config field; chunk_size = "auto" for None
    method = "mc"
    backend = "numpy"
    ...

The file is untrusted input: it is parsed by :mod:`tomllib` (no code runs), its size, tables,
fields, types and ranges are checked strictly, and every error names the file and the field.

Why a lock reproduces results: a run's numbers depend on the seed, ``n_sims`` and the knobs
in ``REPRODUCIBLE_KNOBS`` (method, backend, precision, chunk size, estimator), never on the
executor, the workers or shared memory, because chunks are seeded by their index alone, fill
fixed places of the run's buffer and are reduced in plan order. The same lock, seed and
``n_sims`` therefore give bit-identical results on the machine that wrote it. On another
machine the config still runs and estimates the same quantity, but the last bits can differ:
numpy picks SIMD code paths by the CPU's features at run time, numba compiles for the host CPU,
and library versions change the arithmetic. :func:`load_lock` warns
(:class:`LockEnvironmentWarning`) when the CPU, platform or a library version the lock's
backends use differs from the running one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import functools
import hashlib
import os
import platform
import tempfile
import tomllib
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ._config import Config
from ._limits import MAX_SIMS
from ._workloads import Workload, workload_kind

__all__ = [
    "LOCK_VERSION",
    "MAX_LOCK_BYTES",
    "MAX_LOCK_ENTRIES",
    "Lock",
    "LockEntry",
    "LockEnvironmentWarning",
    "LockFileError",
    "load_lock",
    "lock_environment",
    "workload_digest",
]

LOCK_VERSION = 1
"""The lock file format this version reads and writes."""
MAX_LOCK_BYTES = 4 * 2**20
"""The largest lock file :func:`load_lock` reads."""
MAX_LOCK_ENTRIES = 10_000
"""The most ``[[workload]]`` entries a lock may hold."""
MAX_TEXT = 256
"""The longest text value (name, key, version) a lock may hold."""

_KINDS = ("european", "asian", "portfolio")
_SOURCES = ("cache", "model", "default", "explore", "pilot", "fft", "manual")
#: The [machine] fields that decide the bits (compared on load), then the informational ones.
_ENV_FIELDS = ("system", "arch", "cpu", "python", "numpy", "scipy", "numba", "jax", "jaxlib")
_MACHINE_FIELDS = (*_ENV_FIELDS, "machine_id", "instance_type")
#: Library versions that matter for a backend, besides numpy, scipy and the platform.
_BACKEND_LIBRARIES = {"numba": ("numba",), "jax": ("jax", "jaxlib")}
_TOP_FIELDS = ("lock_version", "autotune_version", "created_at", "machine", "workload")
_ENTRY_FIELDS = ("name", "kind", "workload_digest", "workload_key", "n_sims", "source", "config")
_CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "method": (str,), "backend": (str,), "workers": (int,), "executor": (str,), "precision": (str,),
    "chunk_size": (int, str), "qmc": (bool,), "qmc_scrambles": (int,), "shared_memory": (bool,),
    "antithetic": (bool,), "control_variate": (bool,), "discretisation": (str,),
}
assert set(_CONFIG_TYPES) == {f.name for f in dataclasses.fields(Config)}, "a Config field the lock does not know"


class LockFileError(ValueError):
    """A lock file that cannot be used; the message names the file and the field."""


class LockEnvironmentWarning(UserWarning):
    """A lock written on another machine or with other library versions: still usable, bits may differ."""


def workload_digest(workload: Workload) -> str:
    """32 hex characters identifying ``workload`` (sha256 of its canonical repr): what a lock entry matches.

    Workloads are frozen dataclasses of numbers, strings and tuples, whose repr is exact (floats
    round-trip), so equal workloads get equal digests in every process.
    """
    workload_kind(workload)
    text = repr(workload)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _version(dist: str) -> str:
    import importlib.metadata  # ~10 ms: not at import time

    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


@functools.lru_cache(maxsize=1)
def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    return line.split(":", 1)[1].strip()[:MAX_TEXT]
    except OSError:
        pass
    return (platform.processor() or "")[:MAX_TEXT]


def lock_environment() -> dict[str, str]:
    """What decides a run's last bits on this machine: platform, CPU model and library versions ("" if absent)."""
    return {"system": platform.system(), "arch": platform.machine(), "cpu": _cpu_model(),
            "python": platform.python_version(), "numpy": np.__version__, "scipy": _version("scipy"),
            "numba": _version("numba"), "jax": _version("jax"), "jaxlib": _version("jaxlib")}


@dataclass(frozen=True)
class LockEntry:
    """One workload's pinned config.

    Attributes:
        name: the workload's name in the lock (unique).
        config: the config to run it with.
        workload_digest: :func:`workload_digest` of the workload it was chosen for.
        kind: ``"european"``, ``"asian"`` or ``"portfolio"``.
        n_sims: the simulation count it was chosen at (0: chosen for a precision target).
        workload_key: autotune's workload key (informational).
        source: how it was chosen (``"cache"``, ``"model"``, ``"default"``, ...).
    """

    name: str
    config: Config
    workload_digest: str
    kind: str
    n_sims: int = 0
    workload_key: str = ""
    source: str = "manual"

    def __post_init__(self) -> None:
        where = f"LockEntry({self.name!r})"
        _text(where, "name", self.name, empty=False)
        if not isinstance(self.config, Config):
            raise ValueError(f"{where}.config must be a kernels.Config, got {type(self.config).__name__}")
        _digest(where, self.workload_digest)
        _choice(where, "kind", self.kind, _KINDS)
        _n_sims(where, self.n_sims)
        _text(where, "workload_key", self.workload_key)
        _choice(where, "source", self.source, _SOURCES)


@dataclass(frozen=True)
class Lock(Mapping[str, LockEntry]):
    """A loaded lock file: a read-only mapping of workload name to :class:`LockEntry`.

    ``lock.config_for(workload)`` (or ``lock.config_for("name")``) gives the config to pass to
    :func:`kernels.simulate`.

    Attributes:
        entries: the entries, in file order.
        machine: the ``[machine]`` table: where and with what it was written.
        autotune_version: the version of autotune that wrote it.
        created_at: when (ISO 8601, UTC).
        source: the file it was read from ("" when built in memory).
    """

    entries: tuple[LockEntry, ...]
    machine: Mapping[str, str] = field(default_factory=dict)
    autotune_version: str = ""
    created_at: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        entries = tuple(self.entries)
        if len(entries) > MAX_LOCK_ENTRIES:
            raise ValueError(f"Lock.entries: {len(entries)} entries, over the limit of {MAX_LOCK_ENTRIES}")
        by_name: dict[str, LockEntry] = {}
        for e in entries:
            if not isinstance(e, LockEntry):
                raise ValueError(f"Lock.entries must hold LockEntry objects, got {type(e).__name__}")
            if e.name in by_name:
                raise ValueError(f"Lock.entries: the name {e.name!r} appears twice; names must be unique")
            by_name[e.name] = e
        machine = dict(self.machine)
        for k, v in machine.items():
            if k not in _MACHINE_FIELDS:
                raise ValueError(f"Lock.machine: unknown field {k!r}; known fields are {list(_MACHINE_FIELDS)}")
            _text("Lock.machine", k, v)
        object.__setattr__(self, "entries", entries)
        object.__setattr__(self, "machine", MappingProxyType(machine))
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        _text("Lock", "autotune_version", self.autotune_version)
        _text("Lock", "created_at", self.created_at)

    # -- the mapping -------------------------------------------------------------------------------

    def __getitem__(self, name: str) -> LockEntry:
        try:
            return self._by_name[name]  # type: ignore[attr-defined]
        except (KeyError, TypeError):
            raise KeyError(f"no workload named {name!r} in the lock{self._where()}; it holds "
                           f"{sorted(self._by_name)}") from None  # type: ignore[attr-defined]

    def __iter__(self) -> Iterator[str]:
        return iter(self._by_name)  # type: ignore[attr-defined]

    def __len__(self) -> int:
        return len(self.entries)

    def __hash__(self) -> int:
        return hash(self.entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Lock):
            return NotImplemented
        return (self.entries, dict(self.machine), self.autotune_version, self.created_at) == \
            (other.entries, dict(other.machine), other.autotune_version, other.created_at)

    @property
    def names(self) -> tuple[str, ...]:
        """The workload names, in file order."""
        return tuple(e.name for e in self.entries)

    def _where(self) -> str:
        return f" {self.source}" if self.source else ""

    def entry_for(self, workload: Workload | str) -> LockEntry:
        """The entry of ``workload`` (matched by :func:`workload_digest`) or of the name ``workload``.

        A lock that holds one workload under several names (say, at two sizes) gives the first of
        them for the workload; look the others up by name.

        Raises:
            KeyError: the lock has no entry for it; the message lists the names it holds.
        """
        if isinstance(workload, str):
            return self[workload]
        digest = workload_digest(workload)
        for e in self.entries:
            if e.workload_digest == digest:
                return e
        raise KeyError(f"no entry for this {type(workload).__name__} in the lock{self._where()} (workload_digest "
                       f"{digest}); it holds {list(self.names)}. Pin it again with `autotune pin`, or look it up "
                       "by name")

    def config_for(self, workload: Workload | str) -> Config:
        """The pinned :class:`Config` for ``workload`` (a workload, or its name in the lock)."""
        entry = self.entry_for(workload)
        if not isinstance(workload, str):
            entry.config.check_workload(workload)
        return entry.config

    # -- writing -----------------------------------------------------------------------------------

    def to_toml(self) -> str:
        """The lock as TOML text, which :func:`load_lock` reads back to an equal lock."""
        lines = ["# Written by `autotune pin`: the config pinned for each workload (reproducible mode).",
                 "# Load it with kernels.load_lock(path); see the README's \"Reproducible runs for audit trails\".",
                 f"lock_version = {LOCK_VERSION}",
                 f"autotune_version = {_toml_str(self.autotune_version)}",
                 f"created_at = {_toml_str(self.created_at)}", "", "[machine]"]
        lines += [f"{k} = {_toml_str(v)}" for k, v in self.machine.items()]
        for e in self.entries:
            lines += ["", "[[workload]]", f"name = {_toml_str(e.name)}", f"kind = {_toml_str(e.kind)}",
                      f"workload_digest = {_toml_str(e.workload_digest)}",
                      f"workload_key = {_toml_str(e.workload_key)}", f"n_sims = {e.n_sims}",
                      f"source = {_toml_str(e.source)}", "", "[workload.config]"]
            for k, v in e.config.to_dict().items():
                if k == "chunk_size" and v is None:
                    v = "auto"
                lines.append(f"{k} = {_toml_value(v)}")
        return "\n".join(lines) + "\n"

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_toml` to ``path`` atomically (a temporary file in the same folder, then renamed)."""
        path = Path(path)
        text = self.to_toml()
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent or ".")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path


def _toml_str(text: str) -> str:
    """A TOML basic string: quotes, backslashes and control characters escaped."""
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return _toml_str(str(value))


# -- checks ---------------------------------------------------------------------------------------------


def _text(where: str, name: str, value: Any, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}.{name} must be a string, got {type(value).__name__}")
    if len(value) > MAX_TEXT:
        raise ValueError(f"{where}.{name} is {len(value)} characters long, over the limit of {MAX_TEXT}")
    if not empty and not value.strip():
        raise ValueError(f"{where}.{name} must not be empty")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"{where}.{name} must not contain control characters, got {value!r}")
    return value


def _choice(where: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    _text(where, name, value)
    if value not in allowed:
        raise ValueError(f"{where}.{name} must be one of {list(allowed)}, got {value!r}")
    return value


def _digest(where: str, value: Any) -> str:
    _text(where, "workload_digest", value)
    if len(value) != 32 or any(ch not in "0123456789abcdef" for ch in value):
        raise ValueError(f"{where}.workload_digest must be 32 lowercase hex characters "
                         f"(kernels.workload_digest), got {value!r}")
    return value


def _n_sims(where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{where}.n_sims must be an integer, got {type(value).__name__}")
    if value != 0 and not 2 <= value <= MAX_SIMS:
        raise ValueError(f"{where}.n_sims must be 0 (chosen for a target) or in [2, {MAX_SIMS}] "
                         f"(kernels.MAX_SIMS), got {value}")
    return value


def _table(where: str, value: Any, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{where} must be a table, got {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {unknown}; known fields are {list(allowed)}")
    missing = [k for k in required if k not in value]
    if missing:
        raise ValueError(f"{where}: missing field(s) {missing}")
    return value


def _config(where: str, data: Any) -> Config:
    data = _table(where, data, tuple(_CONFIG_TYPES), tuple(_CONFIG_TYPES))
    knobs: dict[str, Any] = {}
    for name, types in _CONFIG_TYPES.items():
        value = data[name]
        ok = isinstance(value, types) and (bool in types or not isinstance(value, bool))
        if not ok:
            wanted = " or ".join("true/false" if t is bool else "an integer" if t is int else "a string"
                                 for t in types)
            raise ValueError(f"{where}.{name} must be {wanted}, got {type(value).__name__} {value!r}")
        if name == "chunk_size" and isinstance(value, str):
            if value != "auto":
                raise ValueError(f"{where}.chunk_size must be an integer in [1, {MAX_SIMS}] or \"auto\", "
                                 f"got {value!r}")
            value = None
        if isinstance(value, str):
            _text(where, name, value)
        knobs[name] = value
    try:
        return Config(**knobs)
    except ValueError as exc:  # Config names the field and its range
        raise ValueError(f"{where}: {exc}") from None


def _entry(where: str, data: Any) -> LockEntry:
    if isinstance(data, dict) and isinstance(data.get("name"), str) and data["name"].isprintable():
        label = f"{where} ({data['name'][:64]})"  # the name, where it is one, helps find the entry
    else:
        label = where
    data = _table(label, data, _ENTRY_FIELDS, ("name", "kind", "workload_digest", "config"))
    name = _text(where, "name", data["name"], empty=False)
    where = label
    config = _config(f"{where}.config", data["config"])
    fields = {k: data[k] for k in ("n_sims", "workload_key", "source") if k in data}
    _n_sims(where, fields.get("n_sims", 0))
    _text(where, "workload_key", fields.get("workload_key", ""))
    _choice(where, "source", fields.get("source", "manual"), _SOURCES)
    _digest(where, data["workload_digest"])
    _choice(where, "kind", data["kind"], _KINDS)
    if data["kind"] == "portfolio":
        for knob in ("antithetic", "control_variate"):
            if getattr(config, knob):
                raise ValueError(f"{where}.config.{knob}=true applies to options; kind is 'portfolio'")
    elif config.method == "fft":
        raise ValueError(f"{where}.config.method='fft' applies to portfolios; kind is {data['kind']!r}")
    return LockEntry(name=name, config=config, workload_digest=data["workload_digest"], kind=data["kind"], **fields)


def parse_lock(data: Any, source: str = "") -> Lock:
    """A :class:`Lock` from a parsed TOML document (checked as hostile input); errors name the field."""
    data = _table("the lock", data, _TOP_FIELDS, ("lock_version", "workload"))
    version = data["lock_version"]
    if isinstance(version, bool) or not isinstance(version, int) or version != LOCK_VERSION:
        raise ValueError(f"lock_version must be {LOCK_VERSION} (the format this kernels reads), got {version!r}")
    machine = _table("[machine]", data.get("machine", {}), _MACHINE_FIELDS, ())
    for k, v in machine.items():
        _text("[machine]", k, v)
    for k in ("autotune_version", "created_at"):
        _text("the lock", k, data.get(k, ""))
    entries = data["workload"]
    if not isinstance(entries, list):
        raise ValueError(f"workload must be an array of tables ([[workload]]), got {type(entries).__name__}")
    if not entries:
        raise ValueError("the lock holds no [[workload]] entry")
    if len(entries) > MAX_LOCK_ENTRIES:
        raise ValueError(f"workload: {len(entries)} entries, over the limit of {MAX_LOCK_ENTRIES}")
    parsed = [_entry(f"workload[{i}]", e) for i, e in enumerate(entries)]
    seen: dict[str, int] = {}
    for i, e in enumerate(parsed):
        if e.name in seen:
            raise ValueError(f"workload[{i}].name {e.name!r} is also the name of workload[{seen[e.name]}]; "
                             "names must be unique")
        seen[e.name] = i
    return Lock(entries=tuple(parsed), machine=machine, autotune_version=data.get("autotune_version", ""),
                created_at=data.get("created_at", ""), source=source)


def environment_differences(lock: Lock) -> dict[str, tuple[str, str]]:
    """The ``[machine]`` fields that decide the bits and differ here: field -> (in the lock, here).

    Compared: the platform, CPU model, Python, numpy and scipy, the libraries of the backends
    the lock's entries use (numba; jax and jaxlib), and, as ``"autotune"``, the version of autotune
    that wrote the lock (the kernels' own arithmetic can change between versions: 0.2.0 computes the
    numba kernels' ``exp`` itself). Fields the lock does not state are not compared.
    """
    here = lock_environment()
    fields = ["system", "arch", "cpu", "python", "numpy", "scipy"]
    for backend in sorted({e.config.backend for e in lock.entries}):
        fields += _BACKEND_LIBRARIES.get(backend, ())
    differ = {k: (lock.machine[k], here[k]) for k in fields if k in lock.machine and lock.machine[k] != here[k]}
    installed = _version("autotune")
    if lock.autotune_version and installed and lock.autotune_version != installed:
        differ["autotune"] = (lock.autotune_version, installed)
    return differ


def load_lock(path: str | os.PathLike[str]) -> Lock:
    """Read a lock file written by ``autotune pin``; pass ``lock.config_for(workload)`` to :func:`kernels.simulate`.

    The same lock, seed and ``n_sims`` give bit-identical results on the machine that wrote it,
    whatever the executor and workers the lock chose. A lock written elsewhere still loads, with a
    :class:`LockEnvironmentWarning` naming what differs (CPU, platform, library versions), since
    those can change the last bits (see :mod:`kernels._lock`).

    Raises:
        LockFileError (a ``ValueError``): a missing, oversized or unreadable file, invalid TOML, an
            unknown or missing field, a value of the wrong type or out of range; the message names
            the file and the field.
    """
    where = os.fspath(path)
    p = Path(where)
    try:
        size = p.stat().st_size
        if size > MAX_LOCK_BYTES:
            raise LockFileError(f"lock file {where}: {size} bytes, over the limit of {MAX_LOCK_BYTES} "
                                "(kernels.MAX_LOCK_BYTES)")
        with open(p, "rb") as f:
            raw = f.read(MAX_LOCK_BYTES + 1)
    except FileNotFoundError:
        raise LockFileError(f"lock file {where} does not exist") from None
    except IsADirectoryError:
        raise LockFileError(f"lock file {where} is a directory") from None
    except OSError as exc:
        raise LockFileError(f"cannot read lock file {where}: {exc}") from None
    if len(raw) > MAX_LOCK_BYTES:
        raise LockFileError(f"lock file {where}: over the limit of {MAX_LOCK_BYTES} bytes (kernels.MAX_LOCK_BYTES)")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise LockFileError(f"lock file {where}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise LockFileError(f"lock file {where}: not valid TOML: {exc}") from None
    except RecursionError:
        raise LockFileError(f"lock file {where}: nested too deeply") from None
    try:
        lock = parse_lock(data, where)
    except ValueError as exc:
        raise LockFileError(f"lock file {where}: {exc}") from None
    diff = environment_differences(lock)
    if diff:
        what = "; ".join(f"{k}: {a!r} in the lock, {b!r} here" for k, (a, b) in diff.items())
        warnings.warn(LockEnvironmentWarning(
            f"lock file {where} was written on another machine or with other libraries ({what}). Its configs "
            "run and estimate the same quantities, but results may differ from the audited ones in the last bits"),
            stacklevel=2)
    return lock


def utc_now() -> str:
    """The current UTC time as ISO 8601 (seconds), as ``created_at`` holds it."""
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

