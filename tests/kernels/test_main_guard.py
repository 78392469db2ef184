"""Scripts without an ``if __name__ == "__main__":`` guard run once, however the library starts processes.

Each script prints a marker at top level, then calls the library with worker or measurement
processes. Library children must not re-import the script (a spawn/forkserver child would, by
default): the marker appears exactly once, the script exits 0, and nothing leaks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MARKER = "MAIN-GUARD-MARKER"
TIMEOUT_S = 150

SIMULATE = f"""
print("{MARKER}", flush=True)
from kernels import Config, EuropeanOption, Gamma, PolicyGroup, PolicyTerms, Poisson, Portfolio, simulate

call = EuropeanOption(S0=100, K=100, T=1.0, r=0.05, sigma=0.2)
r = simulate(call, 100_000, Config(executor="processes", workers=2), seed=1)
book = Portfolio([PolicyGroup(10, Poisson(0.5), Gamma(2.0, 1000.0), PolicyTerms(deductible=100, limit=5000))])
s = simulate(book, 50_000, Config(executor="processes", workers=2, shared_memory=True), seed=2)
print("price", r.estimates["price"], "mean", s.estimates["mean"])
"""

TUNE = f"""
print("{MARKER}", flush=True)
import autotune
from autotune.space import search_space
from kernels import EuropeanOption

call = EuropeanOption(S0=100, K=100, T=1.0, r=0.05, sigma=0.2)
# Only process-pool configs: measured in isolated processes, then the finalists side by side in this one.
space = search_space(call, 20_000, backends=("numpy",), executors=("processes",), qmc=(False,),
                     chunk_sizes=(None,))
report = autotune.tune(call, 20_000, space=space, budget_trials=3, sampler="brute", finalists=3)
print(report.best_config.label(), report.outcomes, [c.label() for c, _ in report.finalists])
"""


def _run(tmp_path: Path, name: str, source: str) -> subprocess.CompletedProcess:
    script = tmp_path / f"{name}.py"
    script.write_text(textwrap.dedent(source))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "AUTOTUNE_STORAGE": f"sqlite:///{tmp_path / 'results.db'}",
    }
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)


def _check(proc: subprocess.CompletedProcess) -> None:
    said = f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, said
    assert proc.stdout.count(MARKER) == 1, said
    assert proc.stderr.count(MARKER) == 0, said
    assert "leaked" not in proc.stderr, said
    assert "failed" not in proc.stderr, said


def test_unguarded_script_with_process_pools_runs_once(tmp_path: Path) -> None:
    _check(_run(tmp_path, "unguarded_simulate", SIMULATE))


@pytest.mark.slow
def test_unguarded_script_tuning_with_isolated_measurements_runs_once(tmp_path: Path) -> None:
    _check(_run(tmp_path, "unguarded_tune", TUNE))


def test_pool_requested_while_a_child_imports_main_names_the_fix(tmp_path: Path) -> None:
    """The fallback: a child of the user's own multiprocessing code re-runs the unguarded script."""
    source = f"""
    import multiprocessing as mp
    print("{MARKER}", flush=True)
    from kernels import Config, EuropeanOption, simulate

    def work(_):
        return 0

    call = EuropeanOption(S0=100, K=100, T=1.0, r=0.05, sigma=0.2)
    try:
        simulate(call, 10_000, Config(executor="processes", workers=2), seed=1)
    except RuntimeError as exc:
        print("REFUSED:", exc, flush=True)
        raise SystemExit(0)
    child = mp.get_context("spawn").Process(target=work, args=(0,))  # the user's own child imports this script
    child.start()
    child.join()
    print("CHILD-EXIT", child.exitcode, flush=True)
    """
    script = tmp_path / "own_pool.py"
    script.write_text(textwrap.dedent(source))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    said = f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    refusals = [line for line in proc.stdout.splitlines() if line.startswith("REFUSED:")]
    assert refusals, said
    assert all('if __name__ == "__main__":' in line for line in refusals), said
    assert proc.returncode == 0 and "CHILD-EXIT 0" in proc.stdout, said


def test_backend_registered_from_the_main_script_is_refused_for_process_workers(tmp_path: Path) -> None:
    """Workers do not import the main script, so a backend defined there cannot reach them: say so."""
    source = f"""
    print("{MARKER}", flush=True)
    from kernels import Config, EuropeanOption, register_backend, simulate
    from kernels.backends.numpy_backend import NumpyBackend

    class MainBackend(NumpyBackend):
        pass

    register_backend("mainbk", "__main__:MainBackend")
    call = EuropeanOption(S0=100, K=100, T=1.0, r=0.05, sigma=0.2)
    simulate(call, 10_000, Config(backend="mainbk"), seed=1)
    try:
        simulate(call, 10_000, Config(backend="mainbk", executor="processes", workers=2), seed=1)
    except ValueError as exc:
        print("REFUSED:", exc, flush=True)
    """
    proc = _run(tmp_path, "main_backend", source)
    _check(proc)
    assert "REFUSED:" in proc.stdout and "importable module" in proc.stdout, proc.stdout + proc.stderr


def test_only_the_librarys_own_starts_withhold_the_main_module(monkeypatch) -> None:
    """Processes the user starts, even from another thread during a library start, still get ``__main__``."""
    import threading
    import types
    from multiprocessing import spawn

    from kernels import _executors

    # A user's script as the main module (pytest's own, or an xdist worker's, may name none).
    script = types.ModuleType("__main__")
    script.__file__, script.__spec__ = "/tmp/user_script.py", None
    monkeypatch.setitem(sys.modules, "__main__", script)
    main_keys = {"init_main_from_name", "init_main_from_path"}
    assert main_keys & spawn.get_preparation_data("user").keys()
    inside, other = threading.Event(), {}

    def user_thread() -> None:
        inside.wait(10)
        other.update(spawn.get_preparation_data("user"))

    t = threading.Thread(target=user_thread)
    t.start()
    with _executors._main_withheld():
        library = spawn.get_preparation_data("library")
        inside.set()
        t.join(10)
    assert not main_keys & library.keys()
    assert main_keys & other.keys()
    assert main_keys & spawn.get_preparation_data("user").keys()
    assert library["sys_path"] == other["sys_path"]  # workers still import registered backends by path
