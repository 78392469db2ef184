"""``Config(executor="dask")`` on a real ``distributed.LocalCluster`` (worker processes on 127.0.0.1).

One module-scoped cluster of two single-threaded worker processes serves every in-process test;
it tolerates one death per chunk (``allowed-failures=1``), so the test of a lost run is quick.
Scripts run in subprocesses where the environment matters: ``DASK_SCHEDULER_ADDRESS``, a missing
``distributed``, the default local cluster from a script without a main guard.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil
import pytest

distributed = pytest.importorskip("distributed")  # the 'dask' extra; installed by 'make' and dev
import dask  # noqa: E402

from kernels import (  # noqa: E402
    AsianOption,
    Config,
    DaskClusterError,
    EuropeanOption,
    Gamma,
    Poisson,
    PolicyGroup,
    PolicyTerms,
    Portfolio,
    Target,
    dask_scheduler_address,
    register_backend,
    simulate,
    use_dask,
)
from kernels.backends import _registry  # noqa: E402
from kernels.backends.numpy_backend import NumpyBackend  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
CALL = EuropeanOption(S0=100.0, K=105.0, T=1.0, r=0.03, sigma=0.25)
ASIAN = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.25, n_steps=16)
BOOK = Portfolio([
    PolicyGroup(20, Poisson(0.4), Gamma(2.0, 1000.0), PolicyTerms(deductible=100.0, limit=8000.0)),
    PolicyGroup(5, Poisson(1.5), Gamma(1.5, 400.0), PolicyTerms()),
])
SUBPROCESS_TIMEOUT_S = 120
# The scheduler's HTTP server (health, metrics) on loopback too, not on every interface.
LOOPBACK_HTTP = {"dashboard_address": "127.0.0.1:0"}


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 1}):
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                           dashboard_address=None, scheduler_kwargs=LOOPBACK_HTTP)
    c = distributed.Client(cluster, set_as_default=False)
    try:
        with use_dask(c):
            yield c
    finally:
        c.close()
        cluster.close()


def _same(a, b) -> None:
    assert a.estimates == b.estimates
    assert a.standard_errors == b.standard_errors
    assert a.n_sims == b.n_sims


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize("workload", [CALL, BOOK], ids=["european", "portfolio"])
def test_results_are_bit_identical_to_serial(client, backend, workload) -> None:
    serial = simulate(workload, 60_000, Config(backend=backend, chunk_size=5_000), seed=11)
    on_dask = simulate(workload, 60_000, Config(backend=backend, executor="dask", workers=2, chunk_size=5_000),
                       seed=11)
    _same(on_dask, serial)
    assert on_dask.config.executor == "dask"


def test_qmc_and_an_asian_option_are_bit_identical_too(client) -> None:
    for workload in (ASIAN, BOOK):
        cfg = dict(qmc=True, qmc_scrambles=4, chunk_size=4_000)
        _same(simulate(workload, 40_000, Config(executor="dask", workers=2, **cfg), seed=5),
              simulate(workload, 40_000, Config(**cfg), seed=5))


def test_a_run_to_a_target_grows_chunk_by_chunk_as_in_serial(client) -> None:
    target = Target(rtol=0.004)
    serial = simulate(CALL, config=Config(chunk_size=8_192), seed=3, target=target)
    on_dask = simulate(CALL, config=Config(executor="dask", workers=2, chunk_size=8_192), seed=3, target=target)
    _same(on_dask, serial)
    assert serial.rounds > 1 and on_dask.rounds == serial.rounds and on_dask.target_met


def _worker_pids(client) -> dict[str, int]:
    return client.run(os.getpid)


def test_a_worker_killed_mid_run_leaves_the_result_complete_and_identical(client) -> None:
    client.wait_for_workers(2, timeout=60)
    cfg = Config(executor="dask", workers=2, chunk_size=100_000)
    n = 10_000_000  # 100 chunks: a second or more on two workers, the kill comes within the first few
    expected = simulate(CALL, n, cfg.replace(executor="serial", workers=1), seed=21)
    pids = _worker_pids(client)
    box: dict[str, object] = {}

    def run() -> None:
        try:
            box["result"] = simulate(CALL, n, cfg, seed=21)
        except BaseException as exc:  # reported by the assertions below
            box["error"] = exc

    runner = threading.Thread(target=run)
    runner.start()
    victim = None
    deadline = time.monotonic() + 60
    while victim is None and time.monotonic() < deadline:  # a worker busy with one of the run's chunks
        busy = {w: keys for w, keys in client.processing().items()
                if any(str(k).startswith("kernels-chunk-") for k in keys)}
        victim = next(iter(busy), None)
        time.sleep(0.02)
    assert victim is not None, "no worker ever ran a chunk"
    psutil.Process(pids[victim]).kill()
    killed_while_running = runner.is_alive()
    runner.join(120)
    assert not runner.is_alive()
    assert "error" not in box, box.get("error")
    assert killed_while_running, "the run ended before the worker was killed: make it longer"
    _same(box["result"], expected)
    assert victim not in client.scheduler_info(n_workers=-1)["workers"]  # it did die; its chunks ran elsewhere


class CrashingBackend(NumpyBackend):
    """Kills the worker process that runs any of its chunks."""

    name = "crashing"

    def run_chunk(self, workload, config, chunk, out) -> None:
        os._exit(17)


def test_a_run_whose_workers_keep_dying_raises_and_returns_nothing(client) -> None:
    client.wait_for_workers(2, timeout=60)
    register_backend("crashing", f"{__name__}:CrashingBackend")
    try:
        t0 = time.monotonic()
        with pytest.raises(DaskClusterError, match="lost chunks") as info:
            simulate(CALL, 20_000, Config(backend="crashing", executor="dask", workers=2, chunk_size=5_000), seed=1)
        assert isinstance(info.value.__cause__, distributed.KilledWorker)
        assert time.monotonic() - t0 < 90
    finally:
        _registry._PATHS.pop("crashing", None)
        _registry._INSTANCES.pop("crashing", None)
    client.wait_for_workers(2, timeout=60)  # the nannies restart them for the tests that follow
    _same(simulate(CALL, 20_000, Config(executor="dask", workers=2, chunk_size=5_000), seed=1),
          simulate(CALL, 20_000, Config(chunk_size=5_000), seed=1))


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_address_fails_within_the_connect_timeout() -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    with dask.config.set({"distributed.comm.timeouts.connect": "1s"}):
        t0 = time.monotonic()
        with pytest.raises(DaskClusterError, match=address):
            use_dask(address)
        assert time.monotonic() - t0 < 10


def _script(tmp_path: Path, source: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    script = tmp_path / "script.py"
    script.write_text(textwrap.dedent(source))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=full_env, capture_output=True,
                          text=True, timeout=SUBPROCESS_TIMEOUT_S)


def test_dask_scheduler_address_is_read_and_a_closed_one_fails_clearly(tmp_path) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    proc = _script(tmp_path, """
        import json, time
        from kernels import Config, DaskClusterError, EuropeanOption, dask_scheduler_address, simulate
        t0 = time.monotonic()
        try:
            simulate(EuropeanOption(100, 100, 1.0, 0.01, 0.2), 10_000, Config(executor="dask", workers=2), seed=1)
            out = {"error": None}
        except DaskClusterError as exc:
            out = {"error": str(exc)}
        out.update(elapsed=time.monotonic() - t0, address=dask_scheduler_address())
        print(json.dumps(out))
    """, {"DASK_SCHEDULER_ADDRESS": address, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"})
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["address"] == address
    assert out["error"] and address in out["error"] and "DASK_SCHEDULER_ADDRESS" in out["error"]
    assert out["elapsed"] < 2 + 8  # the connect timeout, plus slack for a loaded machine


def test_without_distributed_kernels_imports_and_dask_names_the_extra(tmp_path) -> None:
    proc = _script(tmp_path, """
        import sys
        sys.modules["distributed"] = None  # as if the 'dask' extra were not installed
        import kernels
        assert "distributed" not in [m for m in sys.modules if sys.modules[m] is not None]
        cfg = kernels.Config(executor="dask", workers=2)
        try:
            kernels.simulate(kernels.EuropeanOption(100, 100, 1.0, 0.01, 0.2), 10_000, cfg, seed=1)
        except kernels.DaskUnavailableError as exc:
            print("ERROR", exc)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "ERROR" in proc.stdout and "pip install 'autotune[dask]'" in proc.stdout


def test_an_unguarded_script_on_the_default_local_cluster_runs_once_and_exits(tmp_path) -> None:
    marker = "UNGUARDED-DASK-MARKER"
    t0 = time.monotonic()
    proc = _script(tmp_path, f"""
        print("{marker}", flush=True)
        from kernels import Config, EuropeanOption, dask_scheduler_address, simulate
        call = EuropeanOption(100, 100, 1.0, 0.01, 0.2)
        a = simulate(call, 40_000, Config(executor="dask", workers=2, chunk_size=10_000), seed=4)
        b = simulate(call, 40_000, Config(chunk_size=10_000), seed=4)
        print("SAME", a.estimates == b.estimates, dask_scheduler_address(), flush=True)
        import time
        print("END", time.time(), flush=True)
    """)
    exit_lag = time.time() - float(proc.stdout.split("END")[-1].split()[0])
    elapsed = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(marker) == 1, proc.stdout
    assert "SAME True None" in proc.stdout
    # The kept cluster closes at exit, promptly and without the scheduler losing chunks a client still held.
    assert exit_lag < 10, exit_lag
    assert "lose already computed" not in proc.stderr, proc.stderr
    assert elapsed < 60


def test_config_validation_names_the_field() -> None:
    with pytest.raises(ValueError, match=r"Config.shared_memory=True needs executor='processes'.*dask"):
        Config(executor="dask", workers=2, shared_memory=True)
    with pytest.raises(ValueError, match=r"Config.backend='jax' does not run on executor='dask'"):
        Config(backend="jax", executor="dask", workers=2)
    with pytest.raises(ValueError, match=r"Config.workers=2 needs executor='threads', 'processes' or 'dask'"):
        Config(workers=2)
    with pytest.raises(ValueError, match=r"Config.executor must be one of"):
        Config(executor="mpi")
    assert Config(executor="dask", workers=8).label() == "numpy/dask x8/f64/chunk=auto"
    with pytest.raises(ValueError, match=r"use_dask: client must be a distributed\.Client"):
        use_dask(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="use_dask: client must be"):
        use_dask("not an address")


def test_use_dask_as_a_context_manager_restores_the_previous_cluster(client) -> None:
    outer = dask_scheduler_address()
    assert outer == client.scheduler.address
    with use_dask(None):
        assert dask_scheduler_address() is None
    assert dask_scheduler_address() == outer


def test_a_closed_user_client_is_a_clear_error(client) -> None:
    closed = distributed.Client(client.scheduler.address, set_as_default=False)
    closed.close()
    with use_dask(closed), pytest.raises(DaskClusterError, match=r"handed to kernels\.use_dask.*not running"):
        simulate(CALL, 10_000, Config(executor="dask", workers=2), seed=1)


def test_memory_estimate_counts_the_returned_copy_not_the_chunks_in_flight() -> None:
    from kernels import bytes_per_sim, estimate_memory

    def need(executor: str, workers: int) -> int:
        return estimate_memory(BOOK, 1_000_000, Config(executor=executor, workers=workers, chunk_size=10_000))

    chunk = int(10_000 * bytes_per_sim(BOOK))
    assert need("threads", 2) - need("serial", 1) == pytest.approx(chunk, abs=2)  # a second chunk in flight here
    # Dask: no chunk in flight in this process, at any worker count, but the parts sent back are a second copy.
    assert need("dask", 2) == need("dask", 64) == need("serial", 1) - chunk + 8 * 1_000_000
