"""Serial, thread and process execution of a run's chunks (Dask: :mod:`kernels._dask`).

Chunks write into one float64 buffer (see :mod:`kernels._estimators`). Threads
write into it directly. Process workers either return their part, which is
pickled back and copied, or, with ``shared_memory=True``, write it into a
``multiprocessing.shared_memory`` block that the parent reads without copying.

Process pools are started once per worker count and kept for later calls (a
pool start is first-call overhead, not steady-state cost); they use the
``forkserver`` start method, because forking a process that already runs numba
or JAX threads can deadlock.

Kept pools are stopped at exit in every kind of process. The stop is registered
as a ``multiprocessing.util.Finalize`` with an exit priority, so it runs before
multiprocessing joins the process's children: in the main process, but also in
a ``multiprocessing`` child or a process-pool worker that embeds this library,
where ``multiprocessing`` itself joins the children at exit, before the
interpreter's own exit handlers (which would otherwise wait forever on the kept
pool's idle workers). Workers get ``EXIT_TIMEOUT_S`` to finish the chunk they
run, then are killed. A forked child forgets the pools it inherited (they
belong to its parent) and starts its own with ``spawn``, because the forkserver
it inherited is its parent's too.

Workers never run the user's script. A ``spawn`` or ``forkserver`` child normally
re-imports the parent's ``__main__`` (``multiprocessing.spawn.prepare`` runs it as
``__mp_main__``), so a script without an ``if __name__ == "__main__":`` guard would run
again in every worker. The pools start their workers through a context of their own
(:func:`_context`) whose processes withhold the main module from the preparation data
they send; workers need only this library's code and registered backends, which they
import by name. Should a child import a main module anyway (the user's own
``multiprocessing`` code, a fork server started with ``"__main__"`` preloaded), a pool
requested while it does raises :class:`MainModuleReentryError` naming the fix.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing as mp
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import shared_memory
from multiprocessing import spawn as mp_spawn
from multiprocessing import util as mp_util
from typing import Any, TypeVar

import numpy as np

from ._chunks import Chunk
from ._config import Config
from ._estimators import chunk_view, output_shape
from ._workloads import Workload
from .backends import adopt_registry, get_backend, registry

__all__ = ["ExecutionError", "MainModuleReentryError", "plug_executor", "prepare", "run_chunks", "shutdown_pools",
           "withhold_main_for", "worker_context"]

log = logging.getLogger(__name__)
T = TypeVar("T")

_POOLS: dict[int, ProcessPoolExecutor] = {}
_THREAD_POOLS: dict[int, ThreadPoolExecutor] = {}  # kept like the process pools: a start costs ~0.2 ms a call
_WARMED: dict[int, set[tuple]] = {}
_POOL_LOCK = threading.Lock()
_INHERITED: list[ProcessPoolExecutor] = []  # a forked child's copies of its parent's pools, never used
_EXIT_HOOK_PID: int | None = None  # the process whose exit stops the pools
_FORKED = False  # this process was forked from one that imported kernels
# Seconds the pool's workers get at exit or shutdown_pools() to finish before they are killed.
EXIT_TIMEOUT_S = 5.0
# Exit priority of the stop among multiprocessing's finalizers (>= 0 runs before children are joined).
_EXIT_PRIORITY = 100


class ExecutionError(RuntimeError):
    """A worker process died (crash, out of memory) while running chunks."""


class MainModuleReentryError(RuntimeError):
    """A worker pool was requested while a child process imports the user's main script."""


# Set while this thread starts one of the library's worker processes.
_STARTING = threading.local()
_WRAP_LOCK = threading.Lock()
# Names of processes, started by any thread, that are the library's too (the Dask local cluster's workers).
_WITHHELD_NAMES: set[str] = set()


def _withhold_main_while_starting() -> None:
    """Make ``multiprocessing.spawn.get_preparation_data`` omit the main module for the library's starts.

    Installed once per process. The wrapper changes nothing unless the calling thread is inside
    :func:`_main_withheld`, i.e. starting one of this library's worker processes, so processes the
    user starts are untouched. CPython has no public switch for this: the preparation data is
    built by that function (called by the ``spawn`` and ``forkserver`` popen classes through the
    module attribute), and ``spawn.prepare`` in the child imports the main module only when the
    data names it (``init_main_from_name`` / ``init_main_from_path``).
    """
    with _WRAP_LOCK:
        original = mp_spawn.get_preparation_data
        if getattr(original, "_kernels_withholds_main", False):
            return

        def get_preparation_data(name: str) -> dict:
            data = original(name)
            if getattr(_STARTING, "active", False) or name in _WITHHELD_NAMES:
                data.pop("init_main_from_name", None)
                data.pop("init_main_from_path", None)
            return data

        get_preparation_data._kernels_withholds_main = True  # type: ignore[attr-defined]
        get_preparation_data.__wrapped__ = original  # type: ignore[attr-defined]
        mp_spawn.get_preparation_data = get_preparation_data


def withhold_main_for(name: str, on: bool = True) -> None:
    """Withhold the main module from every process named ``name`` (``on=False``: stop), whoever starts it.

    For worker processes started by another library's threads on this library's behalf (the Dask
    local cluster's nannies), which :func:`_main_withheld` cannot reach.
    """
    _withhold_main_while_starting()
    if on:
        _WITHHELD_NAMES.add(name)
    else:
        _WITHHELD_NAMES.discard(name)


@contextlib.contextmanager
def _main_withheld() -> Iterator[None]:
    _withhold_main_while_starting()
    outer = getattr(_STARTING, "active", False)
    _STARTING.active = True
    try:
        yield
    finally:
        _STARTING.active = outer


class _ForkServerProcess(mp.context.ForkServerProcess):
    @staticmethod
    def _Popen(process_obj):  # noqa: N802 - multiprocessing's name
        with _main_withheld():
            return mp.context.ForkServerProcess._Popen(process_obj)


class _SpawnProcess(mp.context.SpawnProcess):
    @staticmethod
    def _Popen(process_obj):  # noqa: N802 - multiprocessing's name
        with _main_withheld():
            return mp.context.SpawnProcess._Popen(process_obj)


class _ForkServerContext(mp.context.ForkServerContext):
    Process = _ForkServerProcess


class _SpawnContext(mp.context.SpawnContext):
    Process = _SpawnProcess


def _check_not_importing_main(what: str = "a process pool (executor='processes')") -> None:
    """Refuse to start workers from a child that is importing a main script (it would start them again)."""
    if getattr(mp.current_process(), "_inheriting", False):
        raise MainModuleReentryError(
            f"kernels: {what} was requested while this child process was "
            "importing the main script of its parent, i.e. the script calls the library at top level and a "
            "child process is running it again. Put the script's calls under "
            "'if __name__ == \"__main__\":'."
        )


def worker_context() -> mp.context.BaseContext:
    """The ``multiprocessing`` context this library starts its processes with.

    ``forkserver`` (``spawn`` in a forked child, and off Linux and macOS), in a context whose
    processes do not re-import the user's ``__main__``: a script without an
    ``if __name__ == "__main__":`` guard runs once. Tools built on kernels that start worker
    processes of their own (autotune's isolated measurements) use it too.
    """
    return _context()


def _context() -> mp.context.BaseContext:
    """The pools' start method, in a context whose workers do not import the user's ``__main__``."""
    if not _FORKED and (sys.platform.startswith("linux") or sys.platform == "darwin"):
        ctx = _ForkServerContext()
        ctx.set_forkserver_preload(["numpy", "scipy.stats", "kernels"])
        return ctx
    return _SpawnContext()


def _register_exit_hook() -> None:
    """Stop the pools at this process's exit, before multiprocessing joins its children (once per process)."""
    global _EXIT_HOOK_PID
    if _EXIT_HOOK_PID != os.getpid():
        mp_util.Finalize(None, shutdown_pools, exitpriority=_EXIT_PRIORITY)
        _EXIT_HOOK_PID = os.getpid()


def _pool(workers: int) -> ProcessPoolExecutor:
    with _POOL_LOCK:
        pool = _POOLS.get(workers)
        if pool is None:
            _check_not_importing_main()
            _register_exit_hook()
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=_context())
            _POOLS[workers] = pool
            _WARMED[workers] = set()
        return pool


def _discard_pool(workers: int) -> None:
    with _POOL_LOCK:
        pool = _POOLS.pop(workers, None)
        _WARMED.pop(workers, None)
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def shutdown_pools() -> None:
    """Stop every kept worker process pool (they are restarted on demand).

    Pending chunks are cancelled; workers get ``EXIT_TIMEOUT_S`` seconds to finish the
    chunk they run and exit, then are killed. Runs by itself at exit.
    """
    with _POOL_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
        _WARMED.clear()
    processes = []
    for pool in pools:
        processes += list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + EXIT_TIMEOUT_S
    for proc in processes:
        proc.join(max(0.0, deadline - time.monotonic()))
    for proc in processes:
        if proc.is_alive():
            log.warning("killing worker process %s, still running %g s after shutdown", proc.pid, EXIT_TIMEOUT_S)
            proc.kill()
            proc.join(1.0)


def _forget_inherited_pools() -> None:
    """In a forked child: the pools, the lock's state and the forkserver are the parent's; use none of them.

    A child of the fork server itself (a ``forkserver`` process, such as autotune's isolated
    measurements) inherits no fork-server connection and may start its own fork server as usual.
    """
    global _POOL_LOCK, _FORKED
    _POOL_LOCK = threading.Lock()
    from multiprocessing import forkserver

    _FORKED = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", True) is not None
    _INHERITED.extend(_POOLS.values())
    _POOLS.clear()
    _WARMED.clear()
    _THREAD_POOLS.clear()  # their threads did not survive the fork


atexit.register(shutdown_pools)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_pools)


# Executors defined in their own modules (kernels._dask), registered when those are imported:
# name -> (prepare(workload, config, chunk_size), run(workload, config, chunks, shape, reducer)).
_PLUGGED: dict[str, tuple[Callable[..., None], Callable[..., Any]]] = {}


def plug_executor(name: str, prepare: Callable[..., None], run: Callable[..., Any]) -> None:
    """Route ``Config(executor=name)`` runs to another module's ``prepare`` and ``run``."""
    _PLUGGED[name] = (prepare, run)


def _warm_task(paths: dict[str, str], workload: Workload, config: Config, chunk_size: int) -> None:
    adopt_registry(paths)
    get_backend(config.backend).prepare(workload, config, chunk_size)
    # Hold the worker briefly so that the other warm-up tasks land on other workers.
    time.sleep(0.05)


def _attach(name: str) -> shared_memory.SharedMemory:
    if sys.version_info >= (3, 13):
        return shared_memory.SharedMemory(name=name, track=False)
    # Workers share the parent's resource tracker (forkserver and spawn pass it on), so the
    # registration made here is the parent's own and is cleared by the parent's unlink.
    return shared_memory.SharedMemory(name=name)


def _process_task(
    paths: dict[str, str], workload: Workload, config: Config, chunk: Chunk, shm_name: str | None,
    shape: tuple[int, ...],
) -> np.ndarray | None:
    adopt_registry(paths)
    backend = get_backend(config.backend)
    backend.prepare(workload, config, config.chunk_size or chunk.size)
    if shm_name is None:
        out = np.empty(shape[1:] if len(shape) == 2 else (chunk.size,), dtype=np.float64)
        backend.run_chunk(workload, config, chunk, out)
        return out
    shm = _attach(shm_name)
    try:
        buffer = np.ndarray(shape, dtype=np.float64, buffer=shm.buf)
        backend.run_chunk(workload, config, chunk, chunk_view(buffer, workload, chunk))
        del buffer
    finally:
        shm.close()
    return None


def _check_backend_importable(name: str, executor: str = "processes") -> None:
    """Workers import a registered backend by its path, and never the user's main script."""
    path = registry().get(name.lower(), "")
    if path.partition(":")[0] in ("__main__", "__mp_main__"):
        raise ValueError(
            f"backend {name!r} is registered from the main script ({path!r}); process workers do not import "
            "the main script, so register it from an importable module ('package.module:ClassName') to use "
            f"executor={executor!r}"
        )


def prepare(workload: Workload, config: Config, chunk_size: int) -> None:
    """One-time work before the chunks run: compile in this process, or start and warm the pool."""
    if config.executor in _PLUGGED:
        _PLUGGED[config.executor][0](workload, config, chunk_size)
        return
    if config.executor != "processes":
        get_backend(config.backend).prepare(workload, config, chunk_size)
        return
    _check_backend_importable(config.backend)
    key = (config.backend, repr(workload), config.precision, chunk_size, config.qmc)
    pool = _pool(config.workers)
    if key in _WARMED[config.workers]:
        return
    try:
        futures = [
            pool.submit(_warm_task, registry(), workload, config, chunk_size) for _ in range(config.workers)
        ]
        for f in futures:
            f.result()
    except BrokenProcessPool as exc:
        _discard_pool(config.workers)
        raise ExecutionError(f"a worker process died while preparing {config.backend!r}: {exc}") from exc
    _WARMED[config.workers].add(key)


def run_chunks(
    workload: Workload, config: Config, chunks: Sequence[Chunk], n_sims: int, reducer: Callable[[np.ndarray], T]
) -> T:
    """Run every chunk under ``config`` and return ``reducer`` applied to the filled float64 buffer.

    Serial and thread runs hand the backend its groups of chunks (:meth:`Backend.group_chunks`:
    quasi-random chunks the numpy backend values in one pass); threads split groups so that
    every worker has one. Process workers take one chunk each.

    The reducer runs while a shared-memory buffer is still mapped, so the results
    are read in place rather than copied out first.
    """
    shape = output_shape(workload, n_sims, len(chunks))
    if config.executor == "processes":
        return _run_processes(workload, config, chunks, shape, reducer)
    if config.executor in _PLUGGED:
        return _PLUGGED[config.executor][1](workload, config, chunks, shape, reducer)
    buffer = np.empty(shape, dtype=np.float64)
    backend = get_backend(config.backend)
    groups = backend.group_chunks(workload, config, chunks)

    def one(group: Sequence[int]) -> None:
        if len(group) == 1:
            chunk = chunks[group[0]]
            backend.run_chunk(workload, config, chunk, chunk_view(buffer, workload, chunk))
            return
        part = [chunks[i] for i in group]
        backend.run_group(workload, config, part, [chunk_view(buffer, workload, c) for c in part])

    if config.executor == "serial":
        for group in groups:
            one(group)
    else:
        _run_threads(one, _spread(groups, config.workers), config.workers)
    return reducer(buffer)


def _spread(groups: list[list[int]], workers: int) -> list[list[int]]:
    """Split the largest groups in halves until each of ``workers`` threads has one (given enough chunks)."""
    groups = list(groups)
    while len(groups) < workers:
        largest = max(range(len(groups)), key=lambda i: len(groups[i]), default=-1)
        if largest < 0 or len(groups[largest]) < 2:
            break
        g = groups.pop(largest)
        groups += [g[: len(g) // 2], g[len(g) // 2 :]]
    return groups


def _run_threads(one: Callable[[Any], None], items: Sequence[Any], workers: int) -> None:
    """``one(item)`` for every item (a chunk, or a group of chunks) on ``workers`` threads: the calling
    thread and ``workers - 1`` of the kept pool's, each taking the next item until none is left. (A
    future per item cost ~50 us of dispatch and wake-ups each; the caller working rather than waiting
    saves one thread's wake-up at the start and, often, its own at the end.)"""
    pending = iter(items)
    lock = threading.Lock()
    failed = threading.Event()

    def drain() -> None:
        while not failed.is_set():
            with lock:
                item = next(pending, None)
            if item is None:
                return
            try:
                one(item)
            except BaseException:
                failed.set()  # the other threads stop after their current item
                raise

    helpers = min(workers, len(items)) - 1
    futures = [_thread_pool(helpers).submit(drain) for _ in range(helpers)] if helpers > 0 else []
    try:
        drain()
        for f in futures:  # every task ends (its items write into the caller's buffer) before a result
            f.exception()
    except BaseException:  # an item failed here, or interrupted: the helpers stop after their current item
        failed.set()
        raise
    for f in futures:  # the first failure, if any
        f.result()


def _thread_pool(workers: int) -> ThreadPoolExecutor:
    """The kept thread pool of ``workers`` threads (threads only wait between runs)."""
    with _POOL_LOCK:
        pool = _THREAD_POOLS.get(workers)
        if pool is None:
            pool = _THREAD_POOLS[workers] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kernels")
        return pool


def _run_processes(
    workload: Workload,
    config: Config,
    chunks: Sequence[Chunk],
    shape: tuple[int, ...],
    reducer: Callable[[np.ndarray], T],
) -> T:
    pool = _pool(config.workers)
    nbytes = max(int(np.prod(shape)) * 8, 1)
    shm = shared_memory.SharedMemory(create=True, size=nbytes) if config.shared_memory else None
    try:
        name = shm.name if shm is not None else None
        paths = registry()
        futures = [pool.submit(_process_task, paths, workload, config, c, name, shape) for c in chunks]
        if shm is None:
            buffer = np.empty(shape, dtype=np.float64)
            for chunk, f in zip(chunks, futures, strict=False):
                chunk_view(buffer, workload, chunk)[...] = f.result()
            return reducer(buffer)
        for f in futures:
            f.result()
        view = np.ndarray(shape, dtype=np.float64, buffer=shm.buf)
        try:
            return reducer(view)
        finally:
            del view  # the mapping must have no exports left when the block is closed
    except BrokenProcessPool as exc:
        _discard_pool(config.workers)
        raise ExecutionError(f"a worker process died while running chunks: {exc}") from exc
    finally:
        if shm is not None:
            shm.close()
            shm.unlink()
