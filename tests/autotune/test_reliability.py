"""Reliability with real processes: nothing lost at exit, resume after kill -9, faults contained by default.

Every test runs the library in separate Python processes, as users do, against a real SQLite file.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import optuna
import pytest

from autotune import MeasureOptions, Outcome, Source, open_storage, tune
from autotune.space import search_space
from kernels import EuropeanOption

ROOT = Path(__file__).resolve().parents[2]
EURO = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2)

BURST = textwrap.dedent("""
    import sys
    import autotune
    from kernels import EuropeanOption

    w = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2)
    url, n = sys.argv[1], int(sys.argv[2])
    for i in range(n):
        autotune.tuned_simulate(w, 64, seed=i, storage=url, policy="default")
""")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _online_rows(db: Path) -> int:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT count(*) FROM measurements WHERE source = 'online'").fetchone()[0]


def test_one_process_keeps_all_20000_online_rows_at_exit(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    out = subprocess.run([sys.executable, "-c", BURST, f"sqlite:///{db}", "20000"], env=_env(), cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "not recorded" not in out.stderr
    assert _online_rows(db) == 20_000


def test_four_processes_keep_all_20000_online_rows_at_exit(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    procs = [subprocess.Popen([sys.executable, "-c", BURST, f"sqlite:///{db}", "5000"], env=_env(), cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-1000:] for _, err in results]
    assert _online_rows(db) == 20_000


CHILD = textwrap.dedent("""
    import multiprocessing as mp
    import sys
    import autotune
    from kernels import EuropeanOption

    def work(url, n):
        w = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2)
        for i in range(n):
            autotune.tuned_simulate(w, 64, seed=i, storage=url, policy="default")

    if __name__ == "__main__":
        # A forkserver child ends with os._exit: atexit does not run there, multiprocessing's finalizers do.
        p = mp.get_context("forkserver").Process(target=work, args=(sys.argv[1], 2000))
        p.start()
        p.join(120)
        sys.exit(p.exitcode)
""")


def test_a_multiprocessing_child_keeps_its_rows_at_exit(tmp_path: Path) -> None:
    db = tmp_path / "r.db"
    script = tmp_path / "child.py"
    script.write_text(CHILD, encoding="utf-8")
    out = subprocess.run([sys.executable, str(script), f"sqlite:///{db}"], env=_env(), cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert _online_rows(db) == 2000


TUNER = textwrap.dedent("""
    import sys
    from autotune import MeasureOptions, tune
    from autotune.space import search_space
    from kernels import EuropeanOption

    if __name__ == "__main__":
        w = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.03, sigma=0.2)
        space = search_space(w, 20_000, cores=2, backends=("numpy",), executors=("serial", "threads"),
                             qmc=(False,), chunk_sizes=(None, 4096))
        assert len(space.enumerate()) == 8
        tune(w, 20_000, storage=sys.argv[1], space=space, sampler="brute", progress=False,
             measure_options=MeasureOptions(isolate=False, min_total_s=float(sys.argv[2]), max_repeats=10_000))
""")


def _tune_rows(db: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT config_id, outcome FROM measurements WHERE source = 'tune'").fetchall()


def _tune_rows_if_any(db: Path) -> list[tuple[str, str]]:
    """:func:`_tune_rows`, or none while the tuner has created the file but not yet its tables."""
    try:
        return _tune_rows(db)
    except sqlite3.OperationalError:
        return []


def test_a_session_killed_with_sigkill_is_resumed_and_every_config_measured(tmp_path: Path) -> None:
    db = tmp_path / "k.db"
    url = f"sqlite:///{db}"
    script = tmp_path / "tuner.py"
    script.write_text(TUNER, encoding="utf-8")
    proc = subprocess.Popen([sys.executable, str(script), url, "0.5"], env=_env(), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and proc.poll() is None:
            if db.exists() and len(_tune_rows_if_any(db)) >= 2:
                break
            time.sleep(0.1)
        assert proc.poll() is None, "the tuner ended before it could be killed"
        time.sleep(0.2)  # inside the next config's measurement (each takes >= 0.5 s)
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    measured_before = {cid for cid, _ in _tune_rows(db)}
    assert 2 <= len(measured_before) < 8
    with open_storage(url) as store:
        (killed,) = [store.tuning_session(1)]
        assert killed.status == "running"  # what a SIGKILL leaves behind

    out = subprocess.run([sys.executable, str(script), url, "0.0"], env=_env(), cwd=ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = _tune_rows(db)
    complete = {cid for cid, outcome in rows if outcome == "complete"}
    assert len(complete) == 8  # 8 of 8, the one running at the kill included
    searched = [cid for cid, _ in rows if cid not in measured_before]
    assert len(set(searched)) == 8 - len(measured_before)
    with open_storage(url) as store:
        assert store.tuning_session(1).status == "failed"
        assert "died" in store.tuning_session(1).report["failed_reason"]
        assert store.tuning_session(2).status == "complete"
        (study,) = optuna.get_all_study_summaries(store.optuna_storage())
        trials = optuna.load_study(study_name=study.study_name, storage=store.optuna_storage()).trials
    assert not [t for t in trials if t.state == optuna.trial.TrialState.RUNNING]


def test_hangs_and_segfaults_are_contained_by_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    space = search_space(EURO, 10_000, cores=1, backends=("numpy", "hanging", "segfaulting"),
                         executors=("serial",), qmc=(False,), chunk_sizes=(None,))
    options = MeasureOptions(timeout_s=3, min_total_s=0.0, max_repeats=3)
    assert options.isolate  # the default: nothing but the limit is set here
    report = tune(EURO, 10_000, storage=url, space=space, measure_options=options, progress=False)
    assert report.best_config.backend == "numpy"
    assert report.outcomes == {"complete": 2, "timed_out": 2, "failed": 2}
    with open_storage(url) as store:
        rows = store.measurements(session_id=report.session_id)
        assert store.tuning_session(report.session_id).status == "complete"
    crashed = [m for m in rows if m.config.backend == "segfaulting"]
    assert crashed and all(m.outcome is Outcome.FAILED and "signal 11" in m.error for m in crashed)
    assert all(m.outcome is Outcome.TIMED_OUT for m in rows if m.config.backend == "hanging")
    assert all(m.source is Source.TUNE for m in rows)


CLI = "import sys, tests.autotune.fake_backends as f; f.register(); from autotune.cli import main; sys.exit(main())"


def test_the_cli_contains_hangs_and_segfaults(tmp_path: Path) -> None:
    spec = tmp_path / "broken.toml"
    spec.write_text(textwrap.dedent("""
        [tune]
        backends = ["numpy", "hanging", "segfaulting"]
        qmc = false

        [[workload]]
        name = "call"
        kind = "european"
        n_sims = 10_000
        S0 = 100.0
        K = 100.0
        T = 1.0
        r = 0.03
        sigma = 0.2
    """), encoding="utf-8")
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", CLI, "tune", str(spec), "--storage", url, "--timeout", "3",
                          "--no-progress", "--json"], env=_env(), cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    with open_storage(url) as store:
        outcomes = {(m.config.backend, m.outcome) for m in store.measurements()}
    assert ("hanging", Outcome.TIMED_OUT) in outcomes and ("segfaulting", Outcome.FAILED) in outcomes
    assert ("numpy", Outcome.COMPLETE) in outcomes
    assert time.monotonic() - started < 600


@pytest.mark.parametrize(("call", "field"), [
    (lambda: tune(EURO, 1000, seed="x"), "seed"),
    (lambda: tune(EURO, 1000, seed=-1), "seed"),
    (lambda: tune(EURO, 1000, space="x"), "space"),
    (lambda: tune(EURO, 1000, measure_options="x"), "measure_options"),
    (lambda: tune(EURO, 1000, progress="yes"), "progress"),
    (lambda: tune(EURO, 1000, storage=3), "storage"),
    (lambda: tune(EURO, 10**13), "n_sims"),
    (lambda: MeasureOptions(seed="x"), "MeasureOptions.seed"),
    (lambda: MeasureOptions(seed=-1), "MeasureOptions.seed"),
    (lambda: MeasureOptions(isolate="yes"), "MeasureOptions.isolate"),
    (lambda: MeasureOptions(timeout_s=0), "MeasureOptions.timeout_s"),
    (lambda: search_space(EURO, 1000, backends="numpy"), "backends"),
    (lambda: search_space(EURO, 1000, qmc="yes"), "qmc"),
    (lambda: search_space(EURO, 1000, chunk_sizes=(0,)), "chunk_sizes"),
    (lambda: search_space(EURO, 10**13), "n_sims"),
])
def test_bad_tuning_arguments_get_a_clear_error_at_once(call, field) -> None:
    started = time.perf_counter()
    with pytest.raises(ValueError, match=field):
        call()
    assert time.perf_counter() - started < 1.0  # refused at the boundary, before any work
