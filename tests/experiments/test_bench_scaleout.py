"""The paper model of experiments/bench_scaleout.py: the estimated cluster time and the break-even size."""

from __future__ import annotations

import pytest

from experiments import bench_scaleout as bs

# round trip 10 ms, client and scheduler 1 ms per chunk, 50 ms per run
COSTS = (0.010, 0.001, 0.05)


def test_model_time_is_bound_by_the_workers_or_by_the_scheduler() -> None:
    # compute-bound: 100 s shared by 10 workers, each waiting 4 round trips
    assert bs.model_time(100.0, 10, 40, *COSTS) == pytest.approx(0.05 + (100.0 + 0.4) / 10)
    # scheduler-bound: 1 s of compute cut into 10,000 chunks costs 10 s of scheduling
    assert bs.model_time(1.0, 1000, 10_000, *COSTS) == pytest.approx(0.05 + 10.0)


@pytest.mark.parametrize("workers", [10, 100, 1000])
def test_break_even_is_where_the_model_meets_the_local_threads(workers) -> None:
    chunks = 2 * workers
    t = bs.break_even_serial_s(2, 1.0, workers, chunks, *COSTS)
    assert t is not None and t > 0
    assert bs.model_time(t, workers, chunks, *COSTS) == pytest.approx(t / 2, rel=1e-9)
    # a larger problem is faster on the cluster, a smaller one faster here
    assert bs.model_time(2 * t, workers, chunks, *COSTS) < 2 * t / 2
    assert bs.model_time(t / 2, workers, chunks, *COSTS) > t / 2 / 2


def test_a_cluster_no_larger_than_this_machine_never_pays_off() -> None:
    assert bs.break_even_serial_s(2, 1.0, 2, 8, *COSTS) is None
    assert bs.break_even_serial_s(4, 0.5, 2, 8, *COSTS) is None  # 2 effective cores here = 2 workers
