"""The search space of configs for one workload on one machine."""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kernels import (
    MAX_SIMS,
    MAX_WORKERS,
    Config,
    DaskClusterError,
    Workload,
    backend_names,
    check_int,
    dask_scheduler_address,
    dask_threads,
    estimate_memory,
    workload_kind,
)

if TYPE_CHECKING:
    import optuna

#: The peak working memory of a run: :func:`kernels.estimate_memory`, the one estimate (kept under this name).
estimate_peak_memory = estimate_memory

__all__ = ["REPRODUCIBLE_KNOBS", "SearchSpace", "check_reference", "complexity", "coverage_order",
           "estimate_peak_memory", "reproducible_with", "search_space", "stratum", "usable_cores"]

# Explicit chunk sizes tried besides "auto" (None): powers of four from 4 Ki to 1 Mi sims.
CHUNK_CANDIDATES = (4096, 16384, 65536, 262144, 1048576)
_EXECUTORS = ("serial", "threads", "processes")
#: Every executor the space knows, in complexity order: "dask" only when a cluster is configured.
_ALL_EXECUTORS = (*_EXECUTORS, "dask")
#: Backends the dask executor runs (kernels.Config rejects jax with it).
_DASK_BACKENDS = ("numpy", "numba")
log = logging.getLogger(__name__)
#: The knobs that refine a (backend, executor) stratum: :func:`coverage_order` varies one at a time first.
_REFINEMENTS = ("workers", "precision", "qmc", "shared_memory", "chunk_size")


#: The knobs that decide a run's numbers (with the seed and ``n_sims``): configs that agree on all of them
#: give bit-identical results, whatever their executor, workers and shared memory (chunks are seeded by
#: their index alone, write to fixed places in the run's buffer and are reduced in plan order; see
#: ``tests/kernels/test_reproducible_bits.py``). ``chunk_size=None`` is such a value too: the automatic
#: size depends on the workload and ``n_sims`` only, never on the workers.
REPRODUCIBLE_KNOBS = ("method", "backend", "precision", "chunk_size", "qmc", "qmc_scrambles", "antithetic",
                      "control_variate", "discretisation")


def reproducible_with(config: Config, reference: Config) -> bool:
    """Whether ``config`` gives results bit-identical to ``reference`` (same seed and ``n_sims``).

    True when they agree on every knob of :data:`REPRODUCIBLE_KNOBS`; executor, workers and
    shared memory are free.
    """
    return all(getattr(config, k) == getattr(reference, k) for k in REPRODUCIBLE_KNOBS)


def check_reference(workload: Workload, reproducible: bool, reference: Config | None) -> Config | None:
    """The pinned reference of reproducible mode (``Config()`` unless given), or None when it is off."""
    if not isinstance(reproducible, bool):
        raise ValueError(f"reproducible must be True or False, got {reproducible!r}")
    if reference is not None and not isinstance(reference, Config):
        raise ValueError(f"reference must be a kernels.Config or None, got {type(reference).__name__}")
    if not reproducible:
        if reference is not None:
            raise ValueError("reference= is the pinned config of reproducible mode: pass reproducible=True with it")
        return None
    ref = reference if reference is not None else Config()
    ref.check_workload(workload)
    return ref


def usable_cores() -> int:
    """Cores this process may run on (its affinity), not the machine's total."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def complexity(config: Config) -> tuple:
    """Order used to break statistical ties: fewer workers, float64, no QMC, simpler plumbing first."""
    return (
        config.workers,
        config.precision == "float32",
        config.qmc,
        config.shared_memory,
        _ALL_EXECUTORS.index(config.executor),
        backend_names().index(config.backend) if config.backend in backend_names() else 99,
        config.chunk_size is not None,
        config.chunk_size or 0,
    )


def stratum(config: Config) -> tuple[str, str]:
    """The (backend, executor) pair of ``config``: the strata that :func:`coverage_order` visits in turn."""
    return config.backend, config.executor


def _changes(config: Config, head: Config) -> int:
    """How many refinement knobs of ``config`` differ from ``head`` (same backend and executor)."""
    return sum(getattr(config, k) != getattr(head, k) for k in _REFINEMENTS)


def coverage_order(configs: Iterable[Config]) -> list[Config]:
    """``configs`` in the order a budgeted search should measure them: every knob covered early.

    The configs are grouped by :func:`stratum` (backend x executor). Each group starts with its simplest
    config (:func:`complexity`; the default ``Config()`` ahead of all), its head; the rest follow by how
    many refinement knobs (workers, precision, QMC, shared memory, chunk size) they change from the
    head -- one knob at a time first, so each knob's effect is seen early -- and then simplest first.
    Then the groups are visited round robin: round 0 takes every group's head, round 1 every group's
    second config, and so on; within a round the groups come in the order of their heads (serial
    before threads before processes, the built-in backends in their registry order). A search stopped
    after ``k`` trials has therefore seen one config of every backend x executor pair as soon as ``k``
    reaches the number of pairs, before any refinement. The default config, when present, stays first.
    """
    default = Config()
    groups: dict[tuple[str, str], list[Config]] = {}
    for c in sorted(set(configs), key=lambda c: (c != default, complexity(c))):
        groups.setdefault(stratum(c), []).append(c)
    # dicts keep insertion order: the groups come in the order of their simplest config
    ordered = [sorted(group, key=lambda c, head=group[0]: (c != head, _changes(c, head), complexity(c)))
               for group in groups.values()]
    out: list[Config] = []
    for round_ in itertools.zip_longest(*ordered):
        out.extend(c for c in round_ if c is not None)
    return out


@dataclass(frozen=True)
class SearchSpace:
    """Candidate values of every knob, and the hard constraints applied before anything is measured.

    Build one with :func:`search_space`. ``enumerate()`` lists every valid config;
    ``suggest(trial)`` samples one inside an Optuna trial (conditional knobs: workers
    only for parallel executors, shared memory only for processes).

    ``executor="dask"`` is among ``executors`` only when a Dask cluster is configured (see
    :func:`search_space`); its worker counts (``dask_workers``, chunks in flight) follow the
    cluster's threads, not this machine's cores, and it runs the numpy and numba backends.
    """

    kind: str
    n_sims: int
    cores: int
    backends: tuple[str, ...]
    executors: tuple[str, ...]
    workers: tuple[int, ...]
    precisions: tuple[str, ...]
    chunk_sizes: tuple[int | None, ...]
    qmc: tuple[bool, ...]
    shared_memory: tuple[bool, ...]
    memory_limit_bytes: int | None
    workload: Workload
    #: with reproducible mode, the pinned reference: only configs bit-identical to it are valid, and
    #: every config is built from it (its estimator knobs kept); None: every config is built from Config()
    reference: Config | None = None
    dask_workers: tuple[int, ...] = ()

    def _config(self, **knobs: Any) -> Config:
        """A config with these knobs, the rest from the reference (or the defaults)."""
        return Config(**knobs) if self.reference is None else self.reference.replace(**knobs)

    def violation(self, config: Config) -> str | None:
        """Why ``config`` breaks a hard constraint, or None if it is valid."""
        if self.reference is not None and not reproducible_with(config, self.reference):
            return f"not bit-identical to the pinned reference {self.reference.label()}"
        if config.executor == "dask":
            if not self.dask_workers:
                return "no Dask cluster is configured"
            if config.workers > max(self.dask_workers):
                return f"workers={config.workers} exceeds the Dask cluster's {max(self.dask_workers)} threads"
            if config.backend not in _DASK_BACKENDS:
                return f"backend {config.backend!r} does not run on executor='dask'"
        elif config.workers > self.cores:
            return f"workers={config.workers} exceeds the {self.cores} usable cores"
        if config.workers > self.n_sims:
            return f"workers={config.workers} exceeds n_sims={self.n_sims}"
        if config.shared_memory and config.executor != "processes":
            return "shared memory needs the processes executor"
        if config.chunk_size is not None and config.chunk_size > self.n_sims:
            return f"chunk_size={config.chunk_size} exceeds n_sims={self.n_sims}"
        if config.qmc and self.n_sims < 2 * config.qmc_scrambles:
            return f"qmc needs n_sims >= {2 * config.qmc_scrambles}"
        if self.memory_limit_bytes is not None:
            need = estimate_memory(self.workload, self.n_sims, config)
            if need > self.memory_limit_bytes:
                return f"needs about {need / 2**20:.0f} MiB, over the {self.memory_limit_bytes / 2**20:.0f} MiB limit"
        return None

    def is_valid(self, config: Config) -> bool:
        return self.violation(config) is None

    def enumerate(self) -> list[Config]:
        """Every valid config, the default first, then in order of :func:`complexity`."""
        out = set()
        parallel = [("serial", 1, False)]
        for executor, w in itertools.product(self.executors, self.workers):
            if executor in ("serial", "dask") or w < 2:
                continue
            for shm in self.shared_memory if executor == "processes" else (False,):
                parallel.append((executor, w, shm))
        if "dask" in self.executors:
            parallel += [("dask", w, False) for w in self.dask_workers if w >= 2]
        for backend, (executor, w, shm), precision, chunk, qmc in itertools.product(
            self.backends, parallel, self.precisions, self.chunk_sizes, self.qmc
        ):
            if executor not in self.executors or (executor == "dask" and backend not in _DASK_BACKENDS):
                continue
            cfg = self._config(backend=backend, executor=executor, workers=w, shared_memory=shm,
                               precision=precision, chunk_size=chunk, qmc=qmc)
            if self.is_valid(cfg):
                out.add(cfg)
        return sorted(out, key=lambda c: (c != Config(), complexity(c)))

    def search_order(self) -> list[Config]:
        """Every valid config in the order brute force measures them (:func:`coverage_order`).

        Unlike :meth:`enumerate` (simplest first, the order ties are broken in), this covers every
        backend x executor pair first, so a search that a budget stops early has seen every pair.
        """
        return coverage_order(self.enumerate())

    def choices(self) -> dict[str, tuple[Any, ...]]:
        """The categorical choices :meth:`suggest` offers Optuna, by parameter name."""
        parallel = [w for w in self.workers if w > 1]
        out = {"backend": tuple(self.backends), "executor": tuple(self.executors), "workers": tuple(parallel),
               "shared_memory": tuple(self.shared_memory), "precision": tuple(self.precisions),
               "chunk_size": tuple(self.chunk_sizes), "qmc": tuple(self.qmc)}
        if "dask" in self.executors:  # absent otherwise, so that spaces without dask keep their signature
            out["dask_workers"] = tuple(w for w in self.dask_workers if w > 1)
        return out

    def signature(self) -> str:
        """A short hash of :meth:`choices`: studies over different spaces must not share a name."""
        data: dict[str, Any] = {k: list(v) for k, v in self.choices().items()}
        if self.reference is not None:  # the pinned estimator knobs are no choices, but set the configs
            data["reference"] = {k: getattr(self.reference, k) for k in REPRODUCIBLE_KNOBS}
        text = json.dumps(data, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]

    def suggest(self, trial: optuna.Trial) -> Config:
        """Sample a config in an Optuna trial; raises ``optuna.TrialPruned`` if it breaks a constraint."""
        backend = trial.suggest_categorical("backend", list(self.backends))
        executor = trial.suggest_categorical("executor", list(self.executors))
        parallel = [w for w in self.workers if w >= 2]
        if executor == "dask":  # its own parameter: Optuna keeps one set of choices per name
            options = [w for w in self.dask_workers if w >= 2]
            workers = trial.suggest_categorical("dask_workers", options) if options else 1
        else:
            workers = trial.suggest_categorical("workers", parallel) if executor != "serial" and parallel else 1
        if executor != "serial" and workers < 2:
            executor = "serial"
        shm = trial.suggest_categorical("shared_memory", list(self.shared_memory)) if executor == "processes" else False
        precision = trial.suggest_categorical("precision", list(self.precisions))
        chunk = trial.suggest_categorical("chunk_size", list(self.chunk_sizes))
        qmc = trial.suggest_categorical("qmc", list(self.qmc))
        cfg = self._config(backend=backend, executor=executor, workers=workers, shared_memory=shm,
                           precision=precision, chunk_size=chunk, qmc=qmc)
        reason = self.violation(cfg)
        if reason is not None:
            trial.set_user_attr("constraint", reason)
            import optuna  # only a tuning session samples: deciding never imports Optuna

            raise optuna.TrialPruned(reason)
        return cfg

    @staticmethod
    def params_of(config: Config) -> dict[str, object]:
        """The Optuna params that :meth:`suggest` would produce for ``config`` (for ``enqueue_trial``)."""
        params: dict[str, object] = {
            "backend": config.backend,
            "executor": config.executor,
            "precision": config.precision,
            "chunk_size": config.chunk_size,
            "qmc": config.qmc,
        }
        if config.executor == "dask":
            params["dask_workers"] = config.workers
        elif config.executor != "serial":
            params["workers"] = config.workers
        if config.executor == "processes":
            params["shared_memory"] = config.shared_memory
        return params


def _worker_counts(cores: int) -> tuple[int, ...]:
    counts = {1, cores}
    w = 2
    while w < cores:
        counts.add(w)
        w *= 2
    return tuple(sorted(counts))


def _choices(name: str, values: object, default: tuple) -> tuple:
    """``values`` as a tuple of candidates (``default`` when None); a lone string or number is an error."""
    if values is None:
        return tuple(default)
    if isinstance(values, str | bytes) or not isinstance(values, tuple | list):
        raise ValueError(f"{name} must be a tuple of candidates, got {values!r}")
    return tuple(values)


def search_space(
    workload: Workload,
    n_sims: int,
    *,
    cores: int | None = None,
    memory_limit_bytes: int | None = None,
    backends: tuple[str, ...] | None = None,
    executors: tuple[str, ...] | None = None,
    qmc: tuple[bool, ...] = (False, True),
    chunk_sizes: tuple[int | None, ...] | None = None,
    reference: Config | None = None,
) -> SearchSpace:
    """The search space for ``workload`` at ``n_sims`` on this machine.

    Args:
        workload: what is simulated.
        n_sims: simulations per run (>= 2).
        cores: usable cores (default: this process's affinity).
        memory_limit_bytes: reject configs whose estimated peak memory exceeds this.
        backends, executors, qmc, chunk_sizes: restrict a knob's candidates. ``"dask"`` is among
            the default executors only when a Dask cluster is configured
            (:func:`kernels.dask_scheduler_address`: a client handed to :func:`kernels.use_dask` or
            ``DASK_SCHEDULER_ADDRESS``), never by default: a local cluster on one host is a slower
            process pool. Named explicitly without a configured cluster, it means the local one.
        reference: reproducible mode: only configs whose results are bit-identical to this
            :class:`kernels.Config` (:func:`reproducible_with`): its backend, precision, chunk size and
            estimator are pinned, executor, workers and shared memory stay free. The pinned knobs'
            candidates are then the reference's alone (``backends``, ``qmc`` and ``chunk_sizes`` must
            include them if given).

    Raises:
        ValueError: a bad argument, naming it.
    """
    kind = workload_kind(workload)
    n_sims = check_int("", "n_sims", n_sims, low=2, high=MAX_SIMS)
    cores = usable_cores() if cores is None else check_int("", "cores", cores, low=1)
    if memory_limit_bytes is not None:
        memory_limit_bytes = check_int("", "memory_limit_bytes", memory_limit_bytes, low=1)
    known = backend_names()
    given = {"backends": backends is not None, "chunk_sizes": chunk_sizes is not None, "qmc": True}
    backends = _choices("backends", backends, ("numpy", "numba", "jax"))
    for b in backends:
        if b not in known:
            raise ValueError(f"backends must be among {list(known)}, got {b!r}")
    configured = dask_scheduler_address() is not None
    executors = _choices("executors", executors, (*_EXECUTORS, "dask") if configured else _EXECUTORS)
    for e in executors:
        if e not in _ALL_EXECUTORS:
            raise ValueError(f"executors must be among {list(_ALL_EXECUTORS)}, got {e!r}")
    dask_workers: tuple[int, ...] = ()
    if "dask" in executors:
        dask_workers = _dask_worker_counts(cores if not configured else None)
        if not dask_workers:
            executors = tuple(e for e in executors if e != "dask")
    if "serial" not in executors:
        executors = ("serial", *executors)
    if chunk_sizes is None:
        chunk_sizes = (None, *(c for c in CHUNK_CANDIDATES if c < n_sims))
    chunk_sizes = _choices("chunk_sizes", chunk_sizes, ())
    for c in chunk_sizes:
        if c is not None:
            check_int("", "chunk_sizes[...]", c, low=1, high=MAX_SIMS)
    qmc = _choices("qmc", qmc, ())
    if not qmc or not all(isinstance(q, bool) for q in qmc):
        raise ValueError(f"qmc must be a non-empty tuple of True/False, got {qmc!r}")
    precisions: tuple[str, ...] = ("float64", "float32")
    if reference is not None:
        backends, precisions, chunk_sizes, qmc = _pin(workload, reference, backends, chunk_sizes, qmc, given)
    return SearchSpace(
        kind=kind,
        n_sims=n_sims,
        cores=cores,
        backends=backends,
        executors=executors,
        workers=_worker_counts(cores),
        precisions=precisions,
        chunk_sizes=tuple(chunk_sizes),
        qmc=tuple(qmc),
        shared_memory=(False, True),
        memory_limit_bytes=memory_limit_bytes,
        workload=workload,
        reference=reference,
        dask_workers=dask_workers,
    )


def _pin(workload: Workload, reference: Config, backends: tuple, chunk_sizes: tuple, qmc: tuple,
         given: dict[str, bool]) -> tuple[tuple, tuple, tuple, tuple]:
    """The candidates of the knobs the reference pins: its own values, which restrictions given must allow."""
    if not isinstance(reference, Config):
        raise ValueError(f"reference must be a kernels.Config or None, got {type(reference).__name__}")
    reference.check_workload(workload)
    if reference.method != "mc":
        raise ValueError(f"reference.method={reference.method!r} has no execution knobs to search; a reproducible "
                         "search space needs a Monte Carlo reference (method='mc')")
    for name, allowed, value in (("backends", backends, reference.backend), ("qmc", qmc, reference.qmc),
                                 ("chunk_sizes", chunk_sizes, reference.chunk_size)):
        if given[name] and value not in allowed:
            raise ValueError(f"{name}={list(allowed)} excludes the pinned reference's value {value!r} "
                             f"(reference {reference.label()})")
    return (reference.backend,), (reference.precision,), (reference.chunk_size,), (reference.qmc,)


# Scheduler addresses that could not be reached: asked once per process (a connect attempt waits for
# Dask's connect timeout, 30 s by default), then left out of every space.
_UNREACHABLE: set[str] = set()


def _dask_worker_counts(cores: int | None) -> tuple[int, ...]:
    """Chunks in flight for dask configs: powers of two up to the cluster's threads (``cores``: the local one)."""
    if cores is None:
        address = dask_scheduler_address() or ""
        if address in _UNREACHABLE:
            return ()
        try:
            cores = dask_threads()
        except (DaskClusterError, ImportError) as exc:
            _UNREACHABLE.add(address)
            log.warning("leaving executor='dask' out of the search space: %s", exc)
            return ()
        if not cores:
            return ()
    return tuple(w for w in _worker_counts(min(cores, MAX_WORKERS)) if w >= 2)
