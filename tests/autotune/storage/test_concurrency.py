"""Several processes writing to one database (a SQLite file, a PostgreSQL database) at once never lose a row or fail."""

from __future__ import annotations

import logging
import multiprocessing
import time
import traceback
from typing import Any

import pytest

from autotune import Outcome, Source
from autotune.storage import SCHEMA_VERSION, Storage, open_storage
from kernels import EuropeanOption

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


def test_concurrent_writers_in_separate_processes(any_db_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(N_PROCESSES)
    results = ctx.Queue()
    url = any_db_url
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


# -- tuned_simulate from many processes: the online recorder of each writes into one database ------

N_CALLERS = 16
N_CALLS = 50
TINY = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)


class _CountProblems(logging.Handler):
    """Counts WARNING+ records of autotune, apart from "busy, retrying" (a retry is not an error)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries = 0
        self.problems: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "retrying" in message:
            self.retries += 1
        else:
            self.problems.append(message)


def _caller(url: str, index: int, barrier: Any, results: Any) -> None:
    """``N_CALLS`` tuned_simulate calls recorded into ``url``, started together with the others."""
    counter = _CountProblems()
    logging.getLogger("autotune").addHandler(counter)
    try:
        from autotune import tuned_simulate
        from autotune.api import flush

        barrier.wait(timeout=120)
        for i in range(N_CALLS):
            tuned_simulate(TINY, 1000, seed=index * N_CALLS + i, storage=url)
        left = flush(url, timeout=120)
        results.put((index, "ok" if left == 0 else f"{left} measurements still queued", counter.retries,
                     counter.problems))
    except BaseException:
        results.put((index, traceback.format_exc(), counter.retries, counter.problems))


@pytest.mark.slow  # 16 fresh Python processes importing numpy and SQLAlchemy: about 20 s on 2 idle cores
def test_tuned_simulate_from_many_processes_records_every_call(any_db_url: str) -> None:
    """16 processes x 50 ``tuned_simulate`` calls: 800 rows, no error, no warning but retries."""
    url = any_db_url
    open_storage(url).close()  # created first, as a deployment would (creating it concurrently: the test above)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(N_CALLERS)
    results = ctx.Queue()
    processes = [ctx.Process(target=_caller, args=(url, i, barrier, results)) for i in range(N_CALLERS)]
    start = time.perf_counter()
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=300) for _ in processes]
    for process in processes:
        process.join(timeout=60)
    elapsed = time.perf_counter() - start

    failures = [f"{index}: {message}" for index, message, _, _ in outcomes if message != "ok"]
    assert not failures, "\n".join(failures)
    problems = [p for *_, found in outcomes for p in found]
    assert not problems, problems
    assert [process.exitcode for process in processes] == [0] * N_CALLERS
    with open_storage(url) as store:
        rows = store.measurements(source=Source.ONLINE)
        assert len(rows) == N_CALLERS * N_CALLS
        assert len({row.uid for row in rows}) == N_CALLERS * N_CALLS
        assert all(row.outcome is Outcome.COMPLETE for row in rows)
        assert len({row.machine_id for row in rows}) == 1
    logging.getLogger(__name__).info("%d processes x %d tuned_simulate calls in %.1f s, %d retries",
                                     N_CALLERS, N_CALLS, elapsed, sum(o[2] for o in outcomes))
