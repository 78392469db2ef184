"""Many tuners, one study: `autotune tune` run by several processes at once on the same workload.

They share the study's trials without crashing, measure each config once (a claim per config),
leave no session ``running``, and each ends with a best chosen from every measurement of the
study, which the cache tier (``autotune predict``) then serves. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import optuna
import pytest

from autotune.measure import config_key
from autotune.storage import open_storage
from kernels import Config

REPO = Path(__file__).resolve().parents[3]
N_TUNERS = 4

# One tiny workload (milliseconds per run) and a small numpy-only space.
SPEC = """
[tune]
backends = ["numpy"]
qmc = false
sampler = "brute"

[[workload]]
name = "call"
kind = "european"
n_sims = 2000
S0 = 100.0
K = 105.0
T = 1.0
r = 0.03
sigma = 0.2
"""


def _command(*args: str, url: str) -> list[str]:
    return [sys.executable, "-m", "autotune", *args, "--storage", url]


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNE_")}


@pytest.mark.slow  # 4 fresh `autotune tune` processes (Optuna, SciPy imports) and a final comparison each
def test_four_tuners_on_one_workload_share_the_study(any_db_url: str, tmp_path: Path) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(SPEC)
    url = any_db_url
    open_storage(url).close()
    tune = _command("tune", str(spec), "--in-process", "--budget-trials", "3", "--json", "--no-progress", url=url)
    tuners = [subprocess.Popen(tune, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(),
                               cwd=REPO) for _ in range(N_TUNERS)]
    outputs = [tuner.communicate(timeout=600) for tuner in tuners]
    for tuner, (out, err) in zip(tuners, outputs, strict=True):
        assert tuner.returncode == 0, f"exit {tuner.returncode}:\n{out}\n{err}"
        assert "UpdateFinishedTrialError" not in err and "Traceback" not in err, err
    reports = [json.loads(out)[0] for out, _ in outputs]
    assert len({r["session_id"] for r in reports}) == N_TUNERS

    with open_storage(url) as store:
        rows = store.measurements(source="tune")
        sessions = [store.tuning_session(r["session_id"]) for r in reports]
        # every session finished (none left running), each with its best config
        assert [s.status for s in sessions] == ["complete"] * N_TUNERS
        searched = [r for r in rows if r.accuracy_z is not None]  # the search's runs, not the final comparisons
        counts = Counter(r.config_id for r in searched)
        assert counts and max(counts.values()) == 1, f"configs measured more than once: {counts}"
        assert len(counts) >= 3  # the tuners together measured more configs than any one's budget
        by_search = sorted(searched, key=lambda r: r.steady_s)
        study_best = by_search[0].config_id
        for report in reports:
            finalist_ids = {config_key(Config.from_dict(knobs)) for knobs, _ in report["finalists"]}
            # the finalists come from the whole study, not from what this tuner measured itself
            assert study_best in finalist_ids, (study_best, finalist_ids)
        latest = max(sessions, key=lambda s: s.finished_at)
        cached = store.best_tuned(latest.machine_id, latest.workload_id)
        assert cached is not None and cached[0] == latest.id  # the cache serves the session that finished last

    study = optuna.load_study(study_name=reports[0]["study_name"], storage=url)
    trials = study.get_trials(deepcopy=False)
    states = Counter(t.state.name for t in trials)
    assert states["RUNNING"] == 0, states
    # one trial per measured config carries its measurement; the others reused a stored value (or were pruned)
    measured = Counter(t.user_attrs["measurement_uid"] for t in trials if "measurement_uid" in t.user_attrs)
    assert sorted(measured) == sorted(r.uid for r in searched)

    predicted = subprocess.run(_command("predict", str(spec), "--json", "--calls", "1000000000", url=url),
                               capture_output=True, text=True, env=_env(), cwd=REPO, timeout=300)
    assert predicted.returncode == 0, predicted.stderr
    (decision,) = json.loads(predicted.stdout)
    assert decision["source"] == "cache"
    assert config_key(Config.from_dict(decision["config"])) == latest.best_config_id


def test_a_running_trial_is_failed_only_when_its_session_is_known_dead(tmp_path: Path) -> None:
    """Another tuner's trial between ``ask`` and naming its session must survive a tuner that opens the study."""
    from autotune.tuner._tune import _fail_orphan_trials

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with open_storage(f"sqlite:///{tmp_path / 'r.db'}") as store:
        store.upsert_machine("m", {})
        store.upsert_workload("w", "european", {}, {})
        rdb = store.optuna_storage()
        study = optuna.create_study(study_name="s", storage=rdb)
        unnamed, live, dead = study.ask(), study.ask(), study.ask()
        live.set_user_attr("session_id", store.create_session("m", "w", n_sims=10))
        stopped = store.create_session("m", "w", n_sims=10)
        store.finish_session(stopped, status="failed")
        dead.set_user_attr("session_id", stopped)
        assert _fail_orphan_trials(rdb, study, store) == 1
        states = {t.number: t.state.name for t in study.get_trials(deepcopy=False)}
        assert states == {unnamed.number: "RUNNING", live.number: "RUNNING", dead.number: "FAIL"}
        study.tell(unnamed, 1.0)  # its tuner tells it as usual
        study.tell(dead, 1.0, skip_if_finished=True)  # a tuner taken for dead: no UpdateFinishedTrialError
        rdb.engine.dispose()
