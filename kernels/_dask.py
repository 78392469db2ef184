"""``Config(executor="dask")``: a run's chunks on a Dask ``distributed`` cluster.

Which cluster, in order:

1. the ``distributed.Client`` handed over with :func:`use_dask` (or the scheduler address given to it);
2. the scheduler in Dask's configuration key ``scheduler-address`` (the ``DASK_SCHEDULER_ADDRESS``
   environment variable, or Dask's YAML files), read through ``dask.config``;
3. a ``distributed.LocalCluster`` started on first use and kept: one single-threaded worker process
   per usable core (``os.sched_getaffinity``), on 127.0.0.1, without dashboards. It is closed at
   exit (before ``multiprocessing`` joins this process's children, like the process pools of
   :mod:`kernels._executors`) or by :func:`shutdown_dask`.

Chunks are the same :class:`~kernels._chunks.Chunk` objects as with every other executor, seeded by
their index alone, and each is computed by the same task function as a process-pool chunk
(``kernels._executors._process_task``), so results are bit-identical to ``executor="serial"`` with
the same backend, seed and chunk size. ``Config.workers`` chunks are in flight at a time (the
next is submitted when one returns); each result is copied into the run's buffer as it arrives.

A worker that dies loses the chunks it ran or held; the scheduler computes them again elsewhere
(a chunk is given up after ``distributed.scheduler.allowed-failures`` worker deaths while it
ran), and a chunk whose task raises is retried ``RETRIES`` times. A run that cannot complete
raises :class:`DaskClusterError` (a :class:`~kernels.ExecutionError`) and cancels its other
chunks: never a partial result. An error of the computation itself (a bug, an unavailable
backend on the workers) is raised as it is.

Workers import ``kernels`` (and registered backends) by name: a remote cluster's workers need
this package installed. The kept local cluster's workers do not import the user's ``__main__``
(:mod:`kernels._executors` withholds it from the processes they start), so a script without an
``if __name__ == "__main__":`` guard runs once.

``distributed`` is imported only when a dask run (or :func:`use_dask`) needs it: ``import kernels``
does not pay for it, and without it the error names ``pip install 'autotune[dask]'``.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing as mp
import os
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from multiprocessing import util as mp_util
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from . import _executors
from ._chunks import Chunk
from ._config import Config
from ._estimators import chunk_view
from ._workloads import Workload
from .backends import registry

if TYPE_CHECKING:
    from distributed import Client, LocalCluster

__all__ = ["DaskClusterError", "DaskUnavailableError", "dask_scheduler_address", "dask_threads", "prepare",
           "run_chunks", "shutdown_dask", "use_dask"]

log = logging.getLogger(__name__)
T = TypeVar("T")

RETRIES = 2
"""Times a chunk whose task raised is submitted again (``retries=`` of ``Client.submit``)."""
EXIT_TIMEOUT_S = 10.0
"""Seconds the kept local cluster gets to close at exit or :func:`shutdown_dask`."""
_INSTALL = "pip install 'autotune[dask]'"
# The name distributed's nannies give the worker processes they start.
_WORKER_PROCESS_NAME = "Dask Worker process (from Nanny)"

_LOCK = threading.RLock()
_USER: list[Client] = []  # the client handed over with use_dask (at most one)
_OPENED: dict[str, Client] = {}  # clients this module opened to a scheduler address, kept
_LOCAL: list[tuple[LocalCluster, Client]] = []  # the kept local cluster and its client
_WARMED: set[tuple] = set()
_EXIT_HOOK_PID: int | None = None


class DaskUnavailableError(ImportError):
    """``executor="dask"`` was used without Dask's ``distributed`` package."""


class DaskClusterError(_executors.ExecutionError):
    """The Dask cluster could not be reached, or lost the run (workers died too often)."""


def _distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise DaskUnavailableError(
            f"Config(executor='dask') needs Dask's 'distributed' package, which could not be imported ({exc}); "
            f"install it with: {_INSTALL}"
        ) from exc
    return distributed


def dask_scheduler_address() -> str | None:
    """The scheduler that ``executor="dask"`` runs on, or None for the default local cluster.

    The address of the client handed to :func:`use_dask`, else Dask's ``scheduler-address``
    setting: ``DASK_SCHEDULER_ADDRESS``, or, once this process has imported ``dask``, Dask's
    configuration (its YAML files, ``dask.config.set``). Never imports ``dask`` itself (0.2 s,
    which every first decision of ``tuned_simulate`` would pay), never connects.
    """
    with _LOCK:
        if _USER:
            return _user_address(_USER[-1])
    return _configured_address()


def _user_address(client: Client) -> str:
    try:
        return str(client.scheduler.address)
    except AttributeError:  # a closed client has no scheduler connection
        return "<closed client>"


def _configured_address() -> str | None:
    config = sys.modules.get("dask.config")
    if config is None:
        return os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    address = config.get("scheduler-address", default=None)
    return str(address) if address else None


def dask_threads() -> int | None:
    """Worker threads of the configured cluster (:func:`dask_scheduler_address`), or None when there is none.

    Connects to a configured scheduler address (and keeps the connection), but never starts the
    local cluster.

    Raises:
        DaskClusterError: the configured scheduler cannot be reached.
    """
    if dask_scheduler_address() is None:
        return None
    client = _client()
    try:
        return int(sum(client.nthreads().values()))
    except Exception as exc:
        if _lost(exc):
            raise DaskClusterError(f"the Dask scheduler did not answer: {exc}") from exc
        raise


class _Use(contextlib.AbstractContextManager):
    """What :func:`use_dask` returns: as a context manager, it restores the previous cluster on exit."""

    def __init__(self, previous: list[Client]) -> None:
        self._previous = previous

    def __exit__(self, *exc: object) -> None:
        with _LOCK:
            _USER[:] = self._previous


def use_dask(client: Client | str | None) -> contextlib.AbstractContextManager:
    """Run ``Config(executor="dask")`` on this ``distributed.Client`` (or scheduler address) in this process.

    ``use_dask(None)`` goes back to the default (``DASK_SCHEDULER_ADDRESS``, else a local cluster).
    The client stays the user's: kernels never closes it. A scheduler address (``"tcp://host:8786"``)
    is connected to on first use, and that connection is kept and closed at exit. The setting
    holds until changed; used as a context manager (``with kernels.use_dask(client): ...``) it
    holds for the block and the previous one is restored after it.

    Raises:
        ValueError: ``client`` is neither a ``distributed.Client``, a scheduler address, nor None.
        DaskUnavailableError: ``distributed`` is not installed.
    """
    if client is not None:
        distributed = _distributed()
        if isinstance(client, str):
            if "://" not in client and ":" not in client:
                raise ValueError(f"use_dask: client must be a distributed.Client or a scheduler address such as "
                                 f"'tcp://127.0.0.1:8786', got {client!r}")
            client = _open(client, "use_dask()")
        elif not isinstance(client, distributed.Client):
            raise ValueError(f"use_dask: client must be a distributed.Client, a scheduler address or None, got "
                             f"{type(client).__name__}")
    with _LOCK:
        previous = list(_USER)
        _USER[:] = [] if client is None else [client]
    return _Use(previous)


def _connect_timeout() -> str:
    import dask.config

    return str(dask.config.get("distributed.comm.timeouts.connect", default="30s"))


def _open(address: str, source: str) -> Client:
    """A kept client to ``address`` (named by ``source`` in errors)."""
    distributed = _distributed()
    with _LOCK:
        client = _OPENED.get(address)
        if client is not None and client.status == "running":
            return client
        _register_exit_hook()
        timeout = _connect_timeout()
        try:
            client = distributed.Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise DaskClusterError(
                f"executor='dask' could not reach the Dask scheduler at {address!r} (from {source}) within the "
                f"connect timeout of {timeout} (dask setting distributed.comm.timeouts.connect): {exc}"
            ) from exc
        _OPENED[address] = client
        return client


def _local() -> Client:
    """The kept local cluster's client, started on first use."""
    distributed = _distributed()
    with _LOCK:
        if _LOCAL and _LOCAL[0][1].status == "running":
            return _LOCAL[0][1]
        _executors._check_not_importing_main("a Dask local cluster (executor='dask')")
        if mp.current_process().daemon:
            raise DaskClusterError(
                "Config.executor='dask' cannot start its local cluster's worker processes from a daemonic process "
                "(such as a multiprocessing.Pool or Dask worker), which may not have children; hand over a cluster "
                "with kernels.use_dask(client) or DASK_SCHEDULER_ADDRESS, or use executor='threads'"
            )
        _register_exit_hook()
        _executors.withhold_main_for(_WORKER_PROCESS_NAME)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        log.info("starting a Dask LocalCluster of %d single-threaded worker processes on 127.0.0.1", cores)
        try:
            cluster = distributed.LocalCluster(
                n_workers=cores, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
                # the scheduler's HTTP server (health, metrics; no dashboard) on loopback, not every interface
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"}, silence_logs=logging.WARNING,
            )
        except Exception as exc:
            raise DaskClusterError(f"executor='dask' could not start its local Dask cluster of {cores} worker "
                                   f"processes ({type(exc).__name__}: {exc})") from exc
        client = distributed.Client(cluster, set_as_default=False)
        _LOCAL[:] = [(cluster, client)]
        return client


def _client() -> Client:
    with _LOCK:
        user = _USER[-1] if _USER else None
    if user is not None:
        if user.status != "running":
            raise DaskClusterError(f"the distributed.Client handed to kernels.use_dask() is {user.status}, not "
                                   "running; hand over a running client, or kernels.use_dask(None)")
        return user
    _distributed()  # imports dask.config: a run honours Dask's YAML configuration too
    address = _configured_address()
    if address:
        return _open(address, "the dask setting scheduler-address / DASK_SCHEDULER_ADDRESS")
    return _local()


def _register_exit_hook() -> None:
    """Close the kept clients and cluster at exit (once per process, after ``distributed`` is imported).

    A ``multiprocessing`` finalizer runs before multiprocessing joins this process's children (in a
    child process, that is before the interpreter's exit handlers); the ``atexit`` handler, registered
    after ``distributed``'s own, runs before distributed closes its clusters, so the client lets go of
    its chunks before their workers stop.
    """
    global _EXIT_HOOK_PID
    if _EXIT_HOOK_PID != os.getpid():
        mp_util.Finalize(None, shutdown_dask, exitpriority=_executors._EXIT_PRIORITY)
        atexit.register(shutdown_dask)
        _EXIT_HOOK_PID = os.getpid()


def shutdown_dask() -> None:
    """Close the local cluster and the scheduler connections kernels keeps (they are reopened on demand).

    A client handed over with :func:`use_dask` is the user's and stays open. Runs by itself at exit.
    """
    with _LOCK:
        local, _LOCAL[:] = list(_LOCAL), []
        opened = list(_OPENED.values())
        _OPENED.clear()
        _WARMED.clear()
    for client in opened:
        with contextlib.suppress(Exception):
            client.close(timeout=EXIT_TIMEOUT_S)
    for cluster, client in local:
        with contextlib.suppress(Exception):
            client.close(timeout=EXIT_TIMEOUT_S)
        try:
            cluster.close(timeout=EXIT_TIMEOUT_S)
        except Exception as exc:  # workers are daemonic: multiprocessing ends them at exit anyway
            log.warning("the Dask local cluster did not close cleanly: %s", exc)
    if local:
        _executors.withhold_main_for(_WORKER_PROCESS_NAME, False)


def _forget_inherited() -> None:
    """In a forked child: the clients and the cluster are the parent's; use none of them."""
    global _LOCK
    _LOCK = threading.RLock()
    _USER.clear()
    _OPENED.clear()
    _LOCAL.clear()
    _WARMED.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited)


def _lost(exc: BaseException) -> bool:
    """Whether ``exc`` is the cluster failing (rather than the computation raising)."""
    from distributed import KilledWorker
    from distributed.comm import CommClosedError

    return isinstance(exc, KilledWorker | CommClosedError | OSError | TimeoutError) or type(exc).__name__ in (
        "CancelledError", "FutureCancelledError")


def prepare(workload: Workload, config: Config, chunk_size: int) -> None:
    """Connect (or start the local cluster), and prepare the backend on every worker once."""
    _executors._check_backend_importable(config.backend, "dask")
    client = _client()
    try:
        workers = sorted(client.scheduler_info(n_workers=-1)["workers"])
    except TypeError:  # distributed before 2025.4 lists every worker without n_workers
        workers = sorted(client.scheduler_info()["workers"])
    except Exception as exc:
        if _lost(exc):
            raise DaskClusterError(f"executor='dask': the Dask scheduler did not answer: {exc}") from exc
        raise
    key = (id(client), tuple(workers), config.backend, repr(workload), config.precision, chunk_size, config.qmc)
    if key in _WARMED or not workers:
        return
    futures = [
        client.submit(_executors._warm_task, registry(), workload, config, chunk_size, workers=[w], pure=False,
                      key=f"kernels-warm-{uuid.uuid4().hex}", allow_other_workers=True)
        for w in workers
    ]
    try:
        client.gather(futures)
    except Exception as exc:
        client.cancel(futures)
        futures.clear()
        if _lost(exc):
            raise DaskClusterError(f"executor='dask': the cluster failed while preparing {config.backend!r} "
                                   f"on its workers: {exc}") from exc
        raise
    for f in futures:
        f.release()
    _WARMED.add(key)


def run_chunks(
    workload: Workload, config: Config, chunks: Sequence[Chunk], shape: tuple[int, ...],
    reducer: Callable[[np.ndarray], T],
) -> T:
    """Run ``chunks`` on the cluster, ``config.workers`` at a time, and reduce the complete buffer."""
    distributed = _distributed()
    client = _client()
    paths = registry()
    run = uuid.uuid4().hex[:12]
    buffer = np.empty(shape, dtype=np.float64)
    todo: Iterator[Chunk] = iter(chunks)
    in_flight: dict[str, tuple[Chunk, Any]] = {}  # future key -> (chunk, future)
    done = distributed.as_completed(with_results=True, loop=client.loop)

    def submit_next() -> None:
        chunk = next(todo, None)
        if chunk is None:
            return
        future = client.submit(_executors._process_task, paths, workload, config, chunk, None, shape,
                               key=f"kernels-chunk-{run}-{chunk.index}", pure=False, retries=RETRIES)
        in_flight[future.key] = (chunk, future)
        done.add(future)

    try:
        for _ in range(min(config.workers, len(chunks))):
            submit_next()
        for future, part in done:
            chunk, _ = in_flight.pop(future.key)
            chunk_view(buffer, workload, chunk)[...] = part
            future.release()
            submit_next()
    except BaseException as exc:
        with contextlib.suppress(Exception):
            client.cancel([f for _, f in in_flight.values()])
        if isinstance(exc, Exception) and _lost(exc):
            raise DaskClusterError(
                f"executor='dask': the run lost chunks it could not recompute ({type(exc).__name__}: {exc}); "
                "no result is returned"
            ) from exc
        raise
    if in_flight or next(todo, None) is not None:  # never reduce a partial buffer
        raise DaskClusterError(f"executor='dask': {len(in_flight)} chunk(s) did not return; no result is returned")
    return reducer(buffer)


_executors.plug_executor("dask", prepare, run_chunks)
