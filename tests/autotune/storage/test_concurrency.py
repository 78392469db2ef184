"""Several processes writing to one SQLite file at the same time never lose a row or fail."""

from __future__ import annotations

import logging
import multiprocessing
import time
import traceback
from pathlib import Path
from typing import Any

from autotune import Outcome
from autotune.storage import SCHEMA_VERSION, Storage, open_storage

from ._data import MACHINE, WORKLOAD, record, seed

N_PROCESSES = 4
N_ROWS = 200


class _CountRetries(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += "retrying" in record.getMessage()


def _writer(url: str, index: int, barrier: Any, results: Any) -> None:
    """Open the (maybe not yet existing) database with the others, then write rows one transaction each."""
    retries = _CountRetries()
    logging.getLogger("autotune.storage").addHandler(retries)
    try:
        barrier.wait(timeout=60)
        store = open_storage(url)  # all processes create/initialise the file at once
        seed(store)  # the same upserts, racing
        for i in range(N_ROWS):
            store.add_measurements([record(steady_s=0.001 * (1 + i), estimates={"price": float(index)},
                                           source="online")])
            if i % 25 == 0:  # readers interleaved with the writers
                store.best_measurement(MACHINE, WORKLOAD)
        store.close()
        results.put((index, "ok", retries.count))
    except BaseException:
        results.put((index, traceback.format_exc(), retries.count))


def test_concurrent_writers_in_separate_processes(db_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(N_PROCESSES)
    results = ctx.Queue()
    url = f"sqlite:///{db_path}"
    processes = [ctx.Process(target=_writer, args=(url, i, barrier, results)) for i in range(N_PROCESSES)]
    start = time.perf_counter()
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    elapsed = time.perf_counter() - start

    failures = [message for _, message, _ in outcomes if message != "ok"]
    assert not failures, "\n".join(failures)
    assert all(process.exitcode == 0 for process in processes)
    with open_storage(url) as store:
        rows = store.measurements()
        assert len(rows) == N_PROCESSES * N_ROWS
        assert len({row.uid for row in rows}) == N_PROCESSES * N_ROWS
        assert all(row.outcome is Outcome.COMPLETE for row in rows)
        for index in range(N_PROCESSES):
            assert sum(row.estimates == {"price": index} for row in rows) == N_ROWS
        assert store.schema_version() == SCHEMA_VERSION
        _one_of_each(store)
    logging.getLogger(__name__).info(
        "%d processes x %d rows in %.1f s, %d retries", N_PROCESSES, N_ROWS, elapsed, sum(o[2] for o in outcomes)
    )


def _one_of_each(store: Storage) -> None:
    with store.session(read_only=True) as session:
        from sqlalchemy import text

        for table in ("machines", "workloads", "configs", "schema_version"):
            assert session.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar() == 1, table
