"""The ``autotune`` command, run for real in subprocesses against temporary SQLite databases."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from autotune import open_storage, search_space
from autotune.cli import load_spec
from tests.autotune.features.test_cloud import StubIMDS

# Tiny workloads: every config of their (restricted) spaces runs in milliseconds.
SPEC = """
[tune]
backends = ["numpy", "numba"]
qmc = false

[[workload]]
name = "call"
kind = "european"
n_sims = 4000
S0 = 100.0
K = 105.0
T = 1.0
r = 0.03
sigma = 0.2

[[workload]]
name = "book"
kind = "portfolio"
n_sims = 3000
levels = [0.99]
[[workload.groups]]
n_policies = 20
frequency = { family = "poisson", lam = 1.0 }
severity = { family = "gamma", shape = 2.0, scale = 500.0 }
terms = { deductible = 100.0, limit = 5000.0 }
"""

UNSEEN = """
workload:
  - name: put
    kind: european
    n_sims: 6000
    S0: 100.0
    K: 95.0
    T: 0.5
    r: 0.02
    sigma: 0.3
    payoff: put
    seed: 7
"""


def autotune(*args: str, db: Path | None = None, env: dict[str, str] | None = None, cpus: str | None = None,
             check: bool = True, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``autotune ARGS`` (the installed console script's module) in a fresh process."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNE_")}
    full_env.update(env or {})
    command = [sys.executable, "-m", "autotune", *args]
    if db is not None:
        command += ["--storage", f"sqlite:///{db}"]
    if cpus is not None:
        command = ["taskset", "-c", cpus, *command]
    done = subprocess.run(command, capture_output=True, text=True, env=full_env, timeout=600,
                          cwd=cwd or Path(__file__).resolve().parents[2])
    if check and done.returncode != 0:
        raise AssertionError(f"autotune {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}")
    return done


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("specs")
    (root / "train.toml").write_text(SPEC)
    (root / "unseen.yaml").write_text(UNSEEN)
    return {"train": root / "train.toml", "unseen": root / "unseen.yaml"}


@pytest.fixture(scope="module")
def tuned_db(tmp_path_factory: pytest.TempPathFactory, specs: dict[str, Path]) -> Path:
    """A database with both spec workloads tuned on this machine, and a trained model."""
    db = tmp_path_factory.mktemp("cli") / "results.db"
    done = autotune("tune", str(specs["train"]), "--budget-trials", "6", "--json", db=db)
    sessions = json.loads(done.stdout)
    assert [s["name"] for s in sessions] == ["call", "book"]
    spec = load_spec(str(specs["train"]))
    for session, entry in zip(sessions, spec.entries, strict=True):
        valid = search_space(entry.workload, entry.n_sims, backends=("numpy", "numba"), qmc=(False,)).enumerate()
        assert session["trials"] == min(6, len(valid)) and session["best_time_s"] > 0
    autotune("train", "--n-estimators", "20", db=db)
    return db


def test_help_lists_every_command() -> None:
    done = autotune("--help")
    for command in ("profile", "tune", "train", "evaluate", "predict", "run", "runs", "export", "import",
                    "instances", "report", "demo"):
        assert command in done.stdout
    assert shutil.which("autotune") is None or Path(shutil.which("autotune")).exists()


def test_console_script_is_installed() -> None:
    script = Path(sys.executable).with_name("autotune")
    assert script.exists(), "pip install -e . installs the `autotune` console script"
    done = subprocess.run([str(script), "suites", "--json"], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNE_")})
    assert done.returncode == 0, done.stderr
    suites = json.loads(done.stdout)
    assert {"demo", "demo-unseen", "standard", "held-out"} <= set(suites)
    assert len(suites["standard"]["workloads"]) >= 15


def test_tune_resumes_without_measuring_again(tuned_db: Path, specs: dict[str, Path]) -> None:
    before = open_storage(f"sqlite:///{tuned_db}").count_measurements()
    done = autotune("tune", str(specs["train"]), "--only", "call", "--budget-trials", "2", "--json", db=tuned_db)
    (session,) = json.loads(done.stdout)
    assert session["name"] == "call" and session["trials"] == 2
    with open_storage(f"sqlite:///{tuned_db}") as store:
        rows = store.measurements(session_id=session["session_id"])
    # 2 new trials (configs never measured before) plus the final interleaved re-measurement.
    searched = [r for r in rows if r.accuracy_z is not None]
    assert len(searched) == 2
    assert store.count_measurements() > before


def test_predict_then_run_use_the_cache_and_the_model(tuned_db: Path, specs: dict[str, Path]) -> None:
    # Many calls expected: the tuned configs' one-off costs are repaid (a one-shot may get the default).
    seen = json.loads(autotune("predict", str(specs["train"]), "--json", "--calls", "1000000000", db=tuned_db).stdout)
    assert [p["source"] for p in seen] == ["cache", "cache"] and all(p["predicted_s"] > 0 for p in seen)
    unseen = json.loads(autotune("predict", str(specs["unseen"]), "--json", db=tuned_db).stdout)
    assert unseen[0]["source"] == "model" and unseen[0]["model_version"] is not None
    assert unseen[0]["config"]["backend"] in ("numpy", "numba")  # never a backend the model did not see

    # "exploit": cache, then model, never an exploration (which "auto" takes when the forest is unsure,
    # as it may be after a tuning measured on a loaded machine)
    text = autotune("run", str(specs["unseen"]), "--policy", "exploit", db=tuned_db).stdout
    assert "price" in text and "std error" in text and "decision: model" in text
    (run,) = json.loads(autotune("run", str(specs["unseen"]), "--json", "--policy", "default",
                                 db=tuned_db).stdout)
    assert run["decision"]["source"] == "default"
    price, se = run["estimates"]["price"], run["standard_errors"]["price"]
    from kernels import black_scholes

    exact = black_scholes(S0=100.0, K=95.0, T=0.5, r=0.02, sigma=0.3, kind="put")["price"]
    assert abs(price - exact) < 4 * se
    online = json.loads(autotune("runs", "--source", "online", "--json", db=tuned_db).stdout)
    assert len(online) >= 2 and all(r["outcome"] == "complete" for r in online)
    # each `autotune run` is a process of its own: its one call of a config is a first call, not a steady one
    assert all(r["first_call_s"] > 0 and r["steady_s"] is None for r in online)


def test_runs_filters_and_exports_csv_and_json(tuned_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "runs.csv"
    autotune("runs", "--kind", "portfolio", "--format", "csv", "-o", str(out), db=tuned_db)
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert rows and {r["kind"] for r in rows} == {"portfolio"}
    everything = json.loads(autotune("runs", "--json", db=tuned_db).stdout)
    assert len(everything) > len(rows)
    newest = json.loads(autotune("runs", "--json", "--limit", "3", db=tuned_db).stdout)
    assert [r["id"] for r in newest] == [r["id"] for r in everything[-3:]]
    table = autotune("runs", "--outcome", "complete", db=tuned_db).stdout
    assert "measurements" in table and "complete" in table
    header = table.splitlines()[0].split()
    assert "outcome" in header and "steady_s" in header and "status" not in header
    complete = json.loads(autotune("runs", "--outcome", "complete", "--json", db=tuned_db).stdout)
    assert complete and {r["outcome"] for r in complete} == {"complete"}
    alias = json.loads(autotune("runs", "--status", "complete", "--json", db=tuned_db).stdout)  # the old name
    assert [r["uid"] for r in alias] == [r["uid"] for r in complete]
    bad = autotune("runs", "--outcome", "great", db=tuned_db, check=False)
    assert bad.returncode == 2 and "--outcome must be one of" in bad.stderr
    # The spec's workload names are stored: --workload takes them, and an unknown one lists them.
    named = json.loads(autotune("runs", "--workload", "book", "--json", db=tuned_db).stdout)
    assert named and {(r["kind"], r["workload_name"]) for r in named} == {("portfolio", "book")}
    unknown = autotune("runs", "--workload", "book3", db=tuned_db, check=False)
    assert unknown.returncode == 2 and "no workload named 'book3'" in unknown.stderr
    assert "known: book, call" in unknown.stderr


def test_export_import_round_trip_without_duplicates(tuned_db: Path, tmp_path: Path) -> None:
    dump = tmp_path / "fleet.json.gz"
    exported = json.loads(autotune("export", str(dump), "--json", db=tuned_db).stdout)
    assert exported["measurements"] > 0 and dump.stat().st_size > 0
    fleet = tmp_path / "fleet.db"
    first = json.loads(autotune("import", str(dump), "--json", db=fleet).stdout)
    assert first["measurements"] == exported["measurements"] and first["skipped_duplicates"] == 0
    again = json.loads(autotune("import", str(dump), "--json", db=fleet).stdout)
    assert again["measurements"] == 0 and again["skipped_duplicates"] == exported["measurements"]
    # Straight from another database URL, too: still nothing new.
    direct = json.loads(autotune("import", f"sqlite:///{tuned_db}", "--json", db=fleet).stdout)
    assert direct["measurements"] == 0
    with open_storage(f"sqlite:///{fleet}") as a, open_storage(f"sqlite:///{tuned_db}") as b:
        assert sorted(m.uid for m in a.measurements()) == sorted(m.uid for m in b.measurements())


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="a second fingerprint needs a machine with 2+ cores")
def test_instances_compares_all_cores_with_one_pinned_core(tuned_db: Path, specs: dict[str, Path],
                                                           tmp_path: Path) -> None:
    db = tmp_path / "two.db"
    shutil.copy(tuned_db, db)
    autotune("tune", str(specs["train"]), "--only", "call", "--budget-trials", "4", db=db, cpus="0")
    with open_storage(f"sqlite:///{db}") as store:
        machines = {m.machine_id for m in store.measurements()}
    assert len(machines) == 2  # one core pinned is another fingerprint
    prices = tmp_path / "prices.csv"
    prices.write_text("instance_type,usd_per_hour\n")
    result = json.loads(autotune("instances", "--json", db=db).stdout)
    rows = [r for r in result["rows"] if r["n_sims"] == 4000]
    assert len(rows) == 2 and {r["machine_id"] for r in rows} == machines
    # Called fastest only outside the noise (else both are tied); nothing is "cheapest" without prices.
    assert sum(r["fastest"] for r in rows) <= 1 and all("cheapest" not in r for r in rows)
    assert sum(r["fastest"] for r in rows) == 1 or all(r["tied_fastest"] for r in rows)
    for r in rows:
        assert r["s_per_million"] == pytest.approx(r["seconds"] / 4000 * 1e6)
        assert r["seconds_low"] <= r["seconds"] <= r["seconds_high"]
    text = autotune("instances", db=db).stdout
    assert "(1 core)" in text and "(2 cores)" in text and "call (european-" in text  # the spec's name
    # A price table keyed by machine id (no instance type on this machine).
    ids = sorted(machines)
    prices.write_text(f"instance_type,usd_per_hour\n{ids[0]},1.0\n{ids[1]},0.5\n")
    priced = json.loads(autotune("instances", "--json", "--prices", str(prices), db=db).stdout)
    for r in priced["rows"]:
        assert r["usd_per_million"] == pytest.approx(r["s_per_million"] / 3600 * r["usd_per_hour"])
    prices.write_text("instance_type,usd_per_hour\nm7i.large,cheap\n")
    bad = autotune("instances", "--prices", str(prices), db=db, check=False)
    assert bad.returncode == 2 and "line 2" in bad.stderr and "usd_per_hour" in bad.stderr


def test_instances_needs_two_machines(tuned_db: Path) -> None:
    done = autotune("instances", db=tuned_db, check=False)
    assert done.returncode == 2 and "at least 2 machines" in done.stderr


def test_report_renders_with_png_figures(tuned_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = json.loads(autotune("report", "--out", str(out), "--json", db=tuned_db).stdout)
    html = Path(result["path"]).read_text()
    assert html.startswith("<!DOCTYPE html>") and "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # self-contained
    assert len(result["figures"]) >= 3
    for figure in result["figures"]:
        data = Path(figure).read_bytes()
        assert data.startswith(b"\x89PNG")
        with Image.open(figure) as image:
            assert image.size[0] > 100 and image.size[1] > 100
    assert "instances" in " ".join(result["skipped"]).lower() or "Instance" in html


def test_train_and_evaluate_print_the_quality_table(tuned_db: Path) -> None:
    done = autotune("evaluate", "--folds", "2", "--n-estimators", "10", db=tuned_db)
    for method in ("model", "default", "best_static", "nearest_neighbour", "classifier", "oracle"):
        assert method in done.stdout
    trained = json.loads(autotune("train", "--n-estimators", "10", "--json", db=tuned_db).stdout)
    assert trained["n_rows"] > 0 and trained["support"]["backend"]


def test_profile_records_a_row_and_identifies_the_instance_from_a_local_stub(tmp_path: Path) -> None:
    """The metadata probe is opt-in; here it talks only to a stub on 127.0.0.1."""
    stub = StubIMDS("v2")
    try:
        env = {"AUTOTUNE_METADATA_PROBE": "1", "AUTOTUNE_METADATA_URL": stub.url}
        db = tmp_path / "p.db"
        result = json.loads(autotune("profile", "--quick", "--json", db=db, env=env).stdout)
    finally:
        stub.close()
    assert stub.requests, "the probe asked the stub"
    profile = result["profile"]
    figures = profile["results"]
    assert figures["normal_draws_per_s_1core"] > 0 and figures["memory_bandwidth_gb_s"] > 0
    assert len(figures["thread_scaling"]) == len(os.sched_getaffinity(0))
    with open_storage(f"sqlite:///{db}") as store:
        machine = store.machine(profile["machine_id"])
        assert machine is not None and machine.instance_type == "c7i.2xlarge"
        assert store.profiles(profile["machine_id"])[0].results["quick"] is True


def test_profile_without_opt_in_contacts_nobody(tmp_path: Path) -> None:
    stub = StubIMDS("v2")
    try:
        autotune("profile", "--quick", "--json", db=tmp_path / "p.db", env={"AUTOTUNE_METADATA_URL": stub.url})
    finally:
        stub.close()
    assert stub.requests == []


BAD_SPECS = [
    ("a.toml", "[[workload]]\nkind = 'european'\nS0 = 100.0\nK = 1.0\nT = 1.0\nr = 0.0\nsigma = 0.2\n", "n_sims"),
    ("b.toml", "[[workload]]\nkind = 'european'\nn_sims = 1000\nS0 = 100.0\nK = 1.0\nT = 1.0\nr = 0.0\n"
               "sigma = -0.2\n", "sigma"),
    ("c.toml", "[[workload]]\nkind = 'swaption'\nn_sims = 1000\n", "kind"),
    ("d.toml", "[[workload]]\nname = 'x'\nkind = 'asian'\nn_sims = 1000\nS0 = 100.0\nK = 1.0\nT = 1.0\n"
               "r = 0.0\nsigma = 0.2\nsteps = 12\n", "steps"),
    ("e.yaml", "workload:\n  kind: portfolio\n  n_sims: 100\n  groups:\n    - n_policies: 5\n"
               "      frequency: {family: poison, lam: 1}\n      severity: {family: gamma, shape: 1, scale: 1}\n",
     "groups[0].frequency.family"),
    ("f.yaml", "workload: [unclosed\n", "not valid YAML"),
    ("g.toml", "[[workload]]\nkind = 'portfolio'\nn_sims = 100\n[[workload.groups]]\nn_policies = 5\n"
               "frequency = { family = 'poisson', lam = 1.0 }\nseverity = { family = 'pareto', shape = 2.0 }\n",
     "severity"),
    ("h.json", "{}", "neither a built-in suite"),
]


@pytest.mark.parametrize(("name", "text", "names"), BAD_SPECS, ids=[b[0] for b in BAD_SPECS])
def test_bad_spec_files_name_the_field(tmp_path: Path, name: str, text: str, names: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    done = autotune("tune", str(path), db=tmp_path / "r.db", check=False)
    assert done.returncode == 2, done.stderr
    assert names in done.stderr and "Traceback" not in done.stderr
    assert done.stderr.startswith("autotune tune: error:")


def test_bad_arguments_and_storage_give_clear_errors(tmp_path: Path) -> None:
    done = autotune("tune", "no-such-suite", db=tmp_path / "r.db", check=False)
    assert done.returncode == 2 and "built-in suite" in done.stderr
    done = autotune("tune", "demo", "--budget-trials", "0", check=False)
    assert done.returncode == 2 and "positive integer" in done.stderr
    done = autotune("runs", "--storage", "nosuchdb://x", check=False)
    assert done.returncode != 0 and "Traceback" not in done.stderr and "nosuchdb" in done.stderr
    done = autotune("train", db=tmp_path / "empty.db", check=False)
    assert done.returncode != 0 and "nothing to train on" in done.stderr


def test_storage_falls_back_to_the_environment_then_results_db(tmp_path: Path) -> None:
    env_db = tmp_path / "env.db"
    autotune("runs", env={"AUTOTUNE_STORAGE": f"sqlite:///{env_db}"})
    assert env_db.exists()
    autotune("runs", cwd=tmp_path)
    assert (tmp_path / "results.db").exists()


def test_profile_suite_tunes_within_its_time_budget(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    done = autotune("profile", "--quick", "--suite", "demo", "--budget-seconds", "4", "--json", db=db)
    result = json.loads(done.stdout)
    sessions = result["suite"]["sessions"]
    assert result["suite"]["name"] == "demo" and 1 <= len(sessions) < 8  # the budget stops it early
    assert "not tuned" in done.stderr
    with open_storage(f"sqlite:///{db}") as store:
        assert store.count_measurements() > 0
        machine_id = result["profile"]["machine_id"]
        assert store.profiles(machine_id) and {m.machine_id for m in store.measurements()} == {machine_id}
