"""Every kind of process that used the kept process pools exits promptly, with its workers gone.

Each scenario of ``exit_scenarios.py`` runs in a fresh interpreter, in its own
session, writing to files (no pipe a leftover process could hold open). Its
report must come within ``RUN_TIMEOUT_S`` and its exit within ``EXIT_S`` after
that, else the test fails; the session is killed afterwards either way, so a
hang never stalls the suite.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from kernels import EuropeanOption, european_reference

SCRIPT = Path(__file__).with_name("exit_scenarios.py")
ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT_S = 120.0  # interpreter start, imports, forkserver, a small run: seconds normally
EXIT_S = 10.0  # from the scenario's report to the process being gone; a hang is unbounded


def _report(out: Path, proc: subprocess.Popen, timeout: float) -> dict | None:
    """The scenario's JSON line, once written; None if it ends or times out without one."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = out.read_text()
        if text.endswith("\n"):
            return json.loads(text.splitlines()[0])
        if proc.poll() is not None and not out.read_text():
            return None
        time.sleep(0.05)
    return None


@pytest.fixture
def run_scenario(tmp_path: Path) -> Iterator[Callable[[str], dict]]:
    """Run a scenario in its own session; fail if its report or its exit is late. Kills the session after."""
    started: list[subprocess.Popen] = []

    def run(name: str) -> dict:
        out, err = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
        with out.open("w") as fo, err.open("w") as fe:
            proc = subprocess.Popen([sys.executable, str(SCRIPT), name], stdout=fo, stderr=fe, cwd=ROOT, env=env,
                                    start_new_session=True)
        started.append(proc)
        report = _report(out, proc, RUN_TIMEOUT_S)
        assert report is not None, f"scenario {name!r} gave no report: {err.read_text()[-2000:]}"
        try:
            proc.wait(timeout=EXIT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"scenario {name!r} did not exit within {EXIT_S} s of its report")
        assert time.time() - report["t_end"] < EXIT_S + 1
        assert proc.returncode == 0, f"scenario {name!r} failed: {err.read_text()[-2000:]}"
        return report

    yield run
    for proc in started:  # whatever a failed scenario left behind: its whole session
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _check_price(price: float) -> None:
    exact = european_reference(EuropeanOption(100.0, 100.0, 1.0, 0.01, 0.2))["price"]
    assert abs(price - exact) < 0.2  # 100k paths: standard error about 0.04


@pytest.mark.parametrize("scenario", ["main", "thread", "pool-worker"])
def test_a_process_that_used_the_processes_executor_exits_promptly(run_scenario, scenario: str) -> None:
    report = run_scenario(scenario)
    _check_price(report["price"])
    assert len(report["workers"]) == 2
    assert all(_gone(pid) for pid in report["workers"])


def test_a_spawned_multiprocessing_child_exits_promptly(run_scenario) -> None:
    report = run_scenario("spawn-child")
    _check_price(report["price"])
    assert not report["child_alive"], "the child hung at exit and was killed"
    assert report["child_exit_s"] < EXIT_S
    assert all(_gone(pid) for pid in report["workers"])


def test_a_forked_child_starts_its_own_pool_instead_of_the_parents(run_scenario) -> None:
    report = run_scenario("fork-child")
    _check_price(report["price"])
    assert report["child_price"] == report["price"]  # same seed and chunks, other processes
    # The child's thread pool is its own (the parent's threads did not survive the fork), same result
    assert report["child_threads_price"] == report["threads_price"] == report["price"]
    assert not set(report["child_workers"]) & set(report["workers"])
    assert not report["child_alive"]
    assert all(_gone(pid) for pid in report["workers"] + report["child_workers"])


def test_a_daemonic_process_gets_a_clear_error_instead_of_an_assertion(run_scenario) -> None:
    report = run_scenario("daemon")
    assert "Config.executor" in report["error"]
    assert "daemonic" in report["error"]
