"""The threads executor: every chunk once, the first failure raised, no result from a failed run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from kernels import Config, EuropeanOption, _executors, simulate
from kernels._chunks import plan_chunks

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.05, 0.2)


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_every_chunk_runs_once_on_the_caller_and_the_pool_threads(workers: int) -> None:
    chunks = plan_chunks(1000, 37, np.random.SeedSequence(0))  # 28 chunks, more than the workers
    seen: list[int] = []
    threads: set[str] = set()
    lock = threading.Lock()

    def one(chunk) -> None:
        with lock:
            seen.append(chunk.index)
            threads.add(threading.current_thread().name)

    _executors._run_threads(one, chunks, workers)
    assert sorted(seen) == list(range(len(chunks)))
    assert len(threads) <= workers
    helpers = threads - {threading.current_thread().name}  # the caller works too, besides workers - 1 helpers
    assert len(helpers) <= workers - 1 and all(name.startswith("kernels") for name in helpers)


def test_a_failing_chunk_raises_and_the_other_threads_stop() -> None:
    chunks = plan_chunks(10_000, 10, np.random.SeedSequence(0))  # 1,000 chunks
    done: list[int] = []

    def one(chunk) -> None:
        if chunk.index == 5:
            raise RuntimeError("chunk 5 failed")
        done.append(chunk.index)

    with pytest.raises(RuntimeError, match="chunk 5 failed"):
        _executors._run_threads(one, chunks, 2)
    assert len(done) < len(chunks) - 1  # the run stopped early instead of running every other chunk


def test_results_equal_serial_to_the_bit() -> None:
    serial = simulate(EURO, 300_000, Config(backend="numpy"), seed=11)
    for workers in (2, 3):
        threads = simulate(EURO, 300_000, Config(backend="numpy", executor="threads", workers=workers), seed=11)
        assert threads.estimates == serial.estimates and threads.standard_errors == serial.standard_errors
