"""Processes that use the kept process pools and then end without calling shutdown_pools().

Run as ``python exit_scenarios.py SCENARIO``; prints one JSON line as soon as the
scenario's work is done, then ends. The tests in ``test_exit.py`` time how long
each takes to exit after that line. Scenarios:

* ``main``: the main thread runs the processes executor.
* ``thread``: a non-main thread does.
* ``spawn-child``: a ``multiprocessing`` spawn child does; the parent reports how long the
  child took to exit after reporting its price (killing it after ``CHILD_WAIT_S``).
* ``pool-worker``: a spawn ``ProcessPoolExecutor`` worker does (the library embedded as a worker).
* ``fork-child``: the main process does, then a forked child does again with its own pools.
* ``daemon``: a ``multiprocessing.Pool`` worker (daemonic) tries, and must get a clear error.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor

_POOL: list[ProcessPoolExecutor] = []
CHILD_WAIT_S = 10.0


def run() -> dict:
    """One small run on the processes executor; the price and the pool's worker pids."""
    from kernels import Config, EuropeanOption, simulate
    from kernels._executors import _POOLS

    option = EuropeanOption(100.0, 100.0, 1.0, 0.01, 0.2)
    result = simulate(option, 100_000, Config(executor="processes", workers=2), seed=1)
    threads = simulate(option, 100_000, Config(executor="threads", workers=2), seed=1)  # the kept thread pool
    return {"price": result["price"], "threads_price": threads["price"], "workers": sorted(_POOLS[2]._processes)}


def _report_to(queue) -> None:
    queue.put(run())


def _error_text() -> str:
    try:
        run()
    except ValueError as exc:
        return str(exc)
    return ""


def main(scenario: str) -> dict:
    if scenario == "main":
        return run()
    if scenario == "thread":
        out: dict = {}
        worker = threading.Thread(target=lambda: out.update(run()))
        worker.start()
        worker.join()
        return out
    if scenario == "spawn-child":
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        child = ctx.Process(target=_report_to, args=(queue,))
        child.start()
        out = queue.get(timeout=60)
        t0 = time.monotonic()
        child.join(CHILD_WAIT_S)
        out.update(child_exit_s=time.monotonic() - t0, child_alive=child.is_alive())
        if child.is_alive():
            child.kill()
            child.join()
        return out
    if scenario == "pool-worker":  # the executor is shut down (waiting for its worker) after the report
        _POOL.append(ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")))
        return _POOL[0].submit(run).result(timeout=120)
    if scenario == "fork-child":
        out = run()
        ctx = mp.get_context("fork")
        queue = ctx.Queue()
        child = ctx.Process(target=_report_to, args=(queue,))
        child.start()
        inner = queue.get(timeout=60)
        child.join(CHILD_WAIT_S)
        out.update(child_price=inner["price"], child_threads_price=inner["threads_price"],
                   child_workers=inner["workers"], child_alive=child.is_alive())
        if child.is_alive():
            child.kill()
            child.join()
        return out
    if scenario == "daemon":
        with mp.get_context("spawn").Pool(1) as pool:
            return {"error": pool.apply(_error_text)}
    raise SystemExit(f"unknown scenario {scenario!r}")


if __name__ == "__main__":
    report = main(sys.argv[1])
    report["t_end"] = time.time()
    print(json.dumps(report), flush=True)
    for pool in _POOL:
        pool.shutdown(wait=True)
