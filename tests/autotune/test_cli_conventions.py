"""Conventions of the ``autotune`` command: --version, exit statuses, output formats, broken pipes,
log levels, messages worded for command-line users, and one source for "best" and "trials".

What is about processes (exit statuses, stderr, pipes) runs in a real subprocess.
"""

from __future__ import annotations

import csv
import gzip
import importlib.metadata
import json
import logging
import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from autotune import open_storage
from autotune.cli import configure_logging, main
from autotune.cli._errors import for_cli
from autotune.storage import RUN_COLUMNS
from tests.autotune.storage._data import record, seed

ROOT = Path(__file__).resolve().parents[2]

SPEC = """
[tune]
backends = ["numpy"]
qmc = false

[[workload]]
name = "put"
kind = "european"
n_sims = 2000
S0 = 100.0
K = 105.0
T = 1.0
r = 0.03
sigma = 0.2
payoff = "put"
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def autotune(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "autotune", *args], capture_output=True, text=True, timeout=120,
                          env=_env(), cwd=cwd or ROOT)


def python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter (to drive ``main`` with a stand-in failure)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=ROOT)


def assert_no_traceback(done: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in done.stderr, done.stderr


@pytest.fixture(scope="module")
def spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("spec") / "spec.toml"
    path.write_text(SPEC)
    return path


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with 3000 measurements: more output than a pipe buffers."""
    path = tmp_path_factory.mktemp("many") / "results.db"
    with open_storage(str(path)) as store:
        seed(store)
        store.add_measurements([record(steady_s=0.5 + i * 1e-4) for i in range(3000)])
    return path


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.db"
    path.write_bytes(b"this is not a database " * 300)
    return path


# -- --version ---------------------------------------------------------------------------------------


def test_version_prints_the_package_version() -> None:
    done = autotune("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"autotune {importlib.metadata.version('autotune')}"


# -- exit statuses -----------------------------------------------------------------------------------


def test_usage_errors_exit_2_without_traceback(tmp_path: Path) -> None:
    for args in (("runs", "--limit", "0"), ("tune", str(tmp_path / "missing.toml"))):
        done = autotune(*args, "--storage", str(tmp_path / "r.db"))
        assert done.returncode == 2, (args, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.strip(), done.stderr


@pytest.mark.parametrize("command", ["run", "predict"])
def test_run_and_predict_on_a_broken_database_print_the_result_warn_and_exit_1(
        command: str, spec: Path, broken: Path) -> None:
    done = autotune(command, str(spec), "--json", "--storage", str(broken))
    assert done.returncode == 1, done.stderr
    (out,) = json.loads(done.stdout)  # the result is still there, computed with the default config
    decision = out["decision"] if command == "run" else out
    assert decision["source"] == "default"
    if command == "run":
        assert out["estimates"]["price"] > 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"autotune {command}: warning: "), done.stderr
    assert "not a database" in lines[0]
    assert "Traceback" not in done.stderr


def test_run_on_a_good_database_exits_0(spec: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(spec), "--storage", f"sqlite:///{tmp_path / 'r.db'}"]) == 0
    out, err = capsys.readouterr()
    assert "price" in out and "warning" not in err


FAILING_TUNE = """
    import json, sys
    import autotune.tuner._suite as suite
    from autotune import TuningError
    from autotune.cli import main
    statuses = []
    for error in (TuningError("no config completed in study 's': {'timed_out': 1}"),
                  RuntimeError("the worker went away")):
        def tune(*args, error=error, **kwargs):
            raise error
        suite.tune = tune
        statuses.append(main(["tune", sys.argv[1], "--no-progress", "--storage", sys.argv[2]]))
        print("--", file=sys.stderr)
    print(json.dumps(statuses))
"""


def test_nothing_completing_and_runtime_errors_are_one_line_and_exit_1(spec: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(FAILING_TUNE), str(spec), str(tmp_path / "r.db")],
                          capture_output=True, text=True, timeout=120, env=_env(), cwd=ROOT)
    assert json.loads(done.stdout.splitlines()[-1]) == [1, 1], done.stderr
    assert_no_traceback(done)
    nothing, runtime, _ = done.stderr.split("--\n")
    assert nothing.splitlines() == ["put: not tuned: no config completed in study 's': {'timed_out': 1}",
                                    "autotune tune: error: nothing completed for 1 of 1 workloads: put"]
    assert runtime.strip() == "autotune tune: error: RuntimeError: the worker went away"


def test_tune_raises_the_projects_error_when_nothing_completes() -> None:
    from autotune import AutotuneError, TuningError

    assert issubclass(TuningError, AutotuneError) and not issubclass(TuningError, RuntimeError)
    source = (ROOT / "autotune" / "tuner" / "_tune.py").read_text()
    assert "raise RuntimeError" not in source


# -- output formats follow the extension -------------------------------------------------------------


def test_runs_output_format_follows_the_extension(many: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{many}"
    assert main(["runs", "--limit", "5", "-o", str(tmp_path / "x.csv"), "--storage", url]) == 0
    with open(tmp_path / "x.csv", newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        rows = list(reader)
    assert reader.fieldnames == list(RUN_COLUMNS) and len(rows) == 5
    assert main(["runs", "--limit", "3", "-o", str(tmp_path / "x.json"), "--storage", url]) == 0
    assert len(json.loads((tmp_path / "x.json").read_text())) == 3
    assert main(["runs", "--limit", "2", "-o", str(tmp_path / "x.JSON.gz"), "--storage", url]) == 0
    assert len(json.loads(gzip.decompress((tmp_path / "x.JSON.gz").read_bytes()))) == 2
    assert main(["runs", "--limit", "2", "-o", str(tmp_path / "x.txt"), "--storage", url]) == 0
    assert (tmp_path / "x.txt").read_text().rstrip().endswith("2 measurements")


def test_unknown_or_contradicting_extensions_are_usage_errors(many: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{many}"
    done = autotune("runs", "-o", str(tmp_path / "x.xlsx"), "--storage", url)
    assert done.returncode == 2 and ".csv, .json, .json.gz" in done.stderr, done.stderr

def test_contradicting_or_non_json_export_extensions_are_usage_errors(many: Path, tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{many}"
    assert main(["runs", "--format", "json", "-o", str(tmp_path / "x.csv"), "--storage", url]) == 2
    assert "--format json" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "x.csv"), "--storage", url]) == 2
    assert "must be one of .json, .json.gz" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # nothing written


def test_export_writes_gzip_json_for_json_gz(many: Path, tmp_path: Path) -> None:
    assert main(["export", str(tmp_path / "x.json.gz"), "--storage", f"sqlite:///{many}"]) == 0
    document = json.loads(gzip.decompress((tmp_path / "x.json.gz").read_bytes()))
    assert len(document["measurements"]) == 3000


# -- broken pipes -------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_a_closed_pipe_is_quiet(many: Path, fmt: str) -> None:
    process = subprocess.Popen([sys.executable, "-m", "autotune", "runs", "--format", fmt, "--storage", str(many)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env(), cwd=ROOT)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # `| head -1`
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, stderr
    assert first.startswith(b"id")
    assert stderr == ""


# -- log levels --------------------------------------------------------------------------------------


LIBRARIES = ("jax._src.dispatch", "numba.core", "matplotlib", "urllib3", "optuna.study")
LOGS = """
    import logging, sys
    from autotune.cli import main
    for flags in ([], ["-v"], ["-vv"], ["-vvv"]):
        main(["suites", *flags, "--storage", "sqlite://"])
        print("--", flush=True, file=sys.stderr)
        for name in ("autotune.tuner", "kernels", *sys.argv[1:]):
            logging.getLogger(name).debug("debug from %s", name)
            logging.getLogger(name).info("info from %s", name)
            logging.getLogger(name).warning("warning from %s", name)
"""


def test_verbosity_shows_our_logs_and_keeps_libraries_at_warning() -> None:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(LOGS), *LIBRARIES], capture_output=True, text=True,
                          timeout=120, env=_env(), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    outputs = done.stderr.split("--\n")[1:]
    order = ["DEBUG", "INFO", "WARNING"]
    expected = [("WARNING", "WARNING"), ("INFO", "WARNING"), ("DEBUG", "WARNING"), ("DEBUG", "DEBUG")]
    assert len(outputs) == len(expected), done.stderr
    for stderr, (ours, theirs) in zip(outputs, expected, strict=True):
        for name in ("autotune.tuner", "kernels", *LIBRARIES):
            lowest = ours if name.startswith(("autotune", "kernels")) else theirs
            for level in order:
                shown = f"{level.lower()} from {name}" in stderr
                assert shown == (order.index(level) >= order.index(lowest)), (name, level, ours, stderr)


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """``main`` configures logging: leave the levels as they were for the next test."""
    names = ("", "autotune", "kernels")
    levels = {n: logging.getLogger(n).level for n in names}
    yield
    for n, level in levels.items():
        logging.getLogger(n).setLevel(level)


def test_configure_logging_levels() -> None:
    configure_logging(2)
    assert logging.getLogger("autotune.api").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("jax").isEnabledFor(logging.INFO)
    configure_logging(1)
    assert logging.getLogger("kernels").isEnabledFor(logging.INFO)
    assert not logging.getLogger("kernels").isEnabledFor(logging.DEBUG)


# -- messages speak to command-line users --------------------------------------------------------------


API_CALL = ("open_storage(", "adopt=True", "autotune.model.", "autotune.tune(", "kernels.Target(", "n_sims=...")


def test_import_of_a_non_export_file_names_no_python_call(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    done = autotune("import", str(junk), "--storage", str(tmp_path / "r.db"))
    assert done.returncode == 2 and "not an autotune export file" in done.stderr, done.stderr
    assert "give its URL" in done.stderr
    assert not any(call in done.stderr for call in API_CALL), done.stderr


def test_a_foreign_database_names_the_option_not_the_argument(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("create table invoices (id integer)")
    done = autotune("runs", "--storage", str(path))
    assert done.returncode == 1, done.stderr
    assert "--adopt-database" in done.stderr and "--storage" in done.stderr
    assert not any(call in done.stderr for call in API_CALL), done.stderr


def test_library_messages_are_translated() -> None:
    from autotune.model import _persist

    messages = [
        "x.bin is not an autotune export file (JSON, or gzip-compressed JSON): bad; to import from a results "
        "database, pass open_storage(url)",
        f"the stored model is broken; {_persist._RETRAIN}",
        "n_sims is required without a target: pass n_sims=... or target=kernels.Target(...)",
        "no model: none was passed and none is stored; train one with `autotune train` (autotune.model.train(store))",
    ]
    for message in messages:
        translated = for_cli(message)
        assert not any(call in translated for call in API_CALL), translated


# -- best and trials from one source -----------------------------------------------------------------------


def test_tune_table_and_report_agree_on_best_and_trials(spec: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from autotune.cli._commands import _tune_table
    from autotune.report._html import _convergence, _Data, _speedup

    url = f"sqlite:///{tmp_path / 'r.db'}"
    assert main(["tune", str(spec), "--budget-trials", "4", "--in-process", "--no-progress", "--json",
                 "--storage", url]) == 0
    (session,) = json.loads(capsys.readouterr().out)
    with open_storage(url) as store:
        stored = store.tuning_session(session["session_id"])
        assert stored is not None and stored.report is not None
        assert {k: session[k] for k in ("trials", "best_time_s", "best_config")} == \
               {k: stored.report[k] for k in ("trials", "best_time_s", "best_config")}
        data = _Data(store)
        (convergence,) = _convergence(data).tables
        speedup = _speedup(data).tables[0]
    from kernels import Config

    label = Config.from_dict(session["best_config"]).label()
    row = dict(zip(convergence.header, next(r for r in convergence.rows if r[0] == session["session_id"]),
                   strict=True))
    assert row["trials"] == session["trials"] == 4
    assert row["best"] == f"{label} ({session['best_time_s']:.4g} s)"
    (speed,) = [dict(zip(speedup.header, r, strict=True)) for r in speedup.rows]
    assert speed["best (s)"] == session["best_time_s"] and speed["best config"] == label
    assert speed["default (s)"] == session["default_time_s"]
    text = _tune_table([session])
    assert label in text and " 4 " in text.splitlines()[2]
