"""``executor="dask"`` in the search space and the measurement harness, with a real ``LocalCluster``.

Dask configs are candidates only when a cluster is configured (a client handed to
``kernels.use_dask``, or ``DASK_SCHEDULER_ADDRESS``); spaces without one, and the ids of every
existing config, are what they were before the executor existed.
"""

from __future__ import annotations

import time

import optuna
import pytest

distributed = pytest.importorskip("distributed")  # the 'dask' extra; installed by 'make' and dev
import dask  # noqa: E402

from autotune.measure import MeasureOptions, measure  # noqa: E402
from autotune.measure._record import config_key  # noqa: E402
from autotune.model._encoding import encode_config  # noqa: E402
from autotune.space import _space, search_space  # noqa: E402
from kernels import Config, EuropeanOption, dask_scheduler_address, simulate, use_dask  # noqa: E402

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)


@pytest.fixture(scope="module")
def client():
    # One worker process with two threads: the cluster offers two chunks in flight.
    cluster = distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=True, host="127.0.0.1",
                                       dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"})
    c = distributed.Client(cluster, set_as_default=False)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def test_without_a_cluster_the_space_and_the_config_ids_are_unchanged() -> None:
    with dask.config.set({"scheduler-address": None}), use_dask(None):
        assert dask_scheduler_address() is None
        space = search_space(EURO, 50_000, cores=2)
    assert "dask" not in space.executors and space.dask_workers == ()
    # Values computed on the code before executor="dask" existed.
    assert space.signature() == "328767c6" and len(space.enumerate()) == 144
    assert config_key(Config()) == "c3cc91e3b979d418"
    assert config_key(Config(executor="threads", workers=2)) == "b2b8ea0e000ca89c"
    assert config_key(Config(backend="numba", executor="processes", workers=2, shared_memory=True,
                             chunk_size=65536)) == "75153d7cdfa3026a"


def test_a_handed_over_cluster_adds_dask_configs_sized_to_its_threads(client) -> None:
    with dask.config.set({"scheduler-address": None}):
        plain = search_space(EURO, 50_000, cores=2)
        with use_dask(client):
            space = search_space(EURO, 50_000, cores=2)
    assert space.executors == (*plain.executors, "dask")
    assert space.dask_workers == (2,)  # the cluster's two threads
    configs = space.enumerate()
    on_dask = [c for c in configs if c.executor == "dask"]
    assert on_dask and {c.backend for c in on_dask} == {"numpy", "numba"}
    assert {c.workers for c in on_dask} == {2}
    assert set(configs) - set(on_dask) == set(plain.enumerate())
    assert space.violation(Config(executor="dask", workers=4)) == "workers=4 exceeds the Dask cluster's 2 threads"
    # Optuna: dask's worker counts are their own parameter, and a dask config round-trips through it.
    target = on_dask[-1]
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    study.enqueue_trial(space.params_of(target))
    assert space.suggest(study.ask()) == target


def test_a_dask_config_is_measured_in_isolation_on_the_handed_over_cluster(client) -> None:
    cfg = Config(executor="dask", workers=2, chunk_size=10_000)
    options = MeasureOptions(warmup=1, min_repeats=2, max_repeats=2, min_total_s=0.0, timeout_s=120)
    with use_dask(client), distributed.get_task_stream(client) as stream:
        m = measure(EURO, 40_000, cfg, options=options)
    assert m.outcome.value == "complete", m.error
    # The measurement process ran its chunks on this cluster (not on a local cluster of its own):
    # 4 chunks x (warm-up + 2 timed runs), besides the backend's warm-up tasks.
    chunks = [t for t in stream.data if str(t["key"]).startswith("kernels-chunk-")]
    assert len(chunks) >= 12
    assert m.estimates == simulate(EURO, 40_000, cfg.replace(executor="serial", workers=1), seed=options.seed).estimates
    assert m.steady_s is not None and m.steady_s > 0


def test_an_unreachable_scheduler_is_asked_once_and_left_out(monkeypatch) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{sock.getsockname()[1]}"  # closed once the block ends
    monkeypatch.setattr(_space, "_UNREACHABLE", set())
    with dask.config.set({"scheduler-address": address, "distributed.comm.timeouts.connect": "1s"}), use_dask(None):
        first = search_space(EURO, 50_000, cores=2)
        t0 = time.monotonic()
        again = search_space(EURO, 50_000, cores=2)
        assert time.monotonic() - t0 < 0.5  # no second connect attempt
    assert "dask" not in first.executors and "dask" not in again.executors
    assert _space._UNREACHABLE == {address}


def test_the_model_encodes_dask_without_an_executor_column() -> None:
    row = encode_config(Config(executor="dask", workers=4), EURO, 100_000)
    assert [row[f"executor_{e}"] for e in ("serial", "threads", "processes")] == [0.0, 0.0, 0.0]
    assert row["workers"] == 4.0 and "executor_dask" not in row
    assert encode_config(Config(executor="threads", workers=4), EURO, 100_000)["executor_threads"] == 1.0
