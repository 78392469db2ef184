"""tuned_simulate: tier order, exploration switch, recording, stale cache, safe fallbacks, concurrency."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import subprocess
import sys
from pathlib import Path

import pytest

from autotune import Outcome, Source, machine_fingerprint, open_storage, tune, tuned_simulate, workload_features
from autotune.api import flush, reset
from autotune.model import train, training_set
from autotune.space import search_space
from autotune.storage import ResultsLog, Storage
from kernels import Config, EuropeanOption, black_scholes

from ..conftest import assert_close
from .conftest import FAST

TUNED = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)
OTHER = EuropeanOption(100.0, 120.0, 2.0, 0.01, 0.3, kind="put")
N = 20_000
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _fresh_runtime():
    reset()
    yield
    reset()


def _tune_and_train(url: str) -> None:
    space = search_space(TUNED, N, backends=("numpy", "numba"), qmc=(False,), chunk_sizes=(None, 4096))
    tune(TUNED, N, storage=url, space=space, sampler="brute", measure_options=FAST, progress=False)
    train(open_storage(url))


def _check_price(result, option: EuropeanOption) -> None:
    exact = black_scholes(option.S0, option.K, option.T, option.r, option.sigma, option.q, option.kind)["price"]
    assert_close(result["price"], exact, result.standard_errors["price"])


def test_tiers_in_order(db_url: str) -> None:
    first = tuned_simulate(TUNED, N, storage=db_url, seed=1)
    assert first.decision.source == "default" and first.decision.config == Config()
    assert "no tuned config" in first.decision.note and "no trained model" in first.decision.note
    _check_price(first, TUNED)
    _tune_and_train(db_url)
    reset()
    cached = tuned_simulate(TUNED, N, storage=db_url, seed=2, calls=10**9)  # one-offs repaid: the cache tier
    assert cached.decision.source == "cache" and cached.decision.predicted_s > 0
    best = open_storage(db_url).best_tuned(machine_fingerprint().machine_id, workload_features(TUNED, N).key)
    assert cached.decision.config == Config.from_dict(best[1])
    modelled = tuned_simulate(OTHER, N, storage=db_url, seed=3, policy="exploit")
    assert modelled.decision.source == "model" and modelled.decision.model_version is not None
    assert modelled.decision.uncertainty is not None and modelled.decision.predicted_s > 0
    _check_price(modelled, OTHER)
    assert tuned_simulate(TUNED, N, storage=db_url, policy="model").decision.source == "model"
    assert tuned_simulate(TUNED, N, storage=db_url, policy="default").decision.source == "default"
    assert tuned_simulate(OTHER, N, storage=db_url, policy="cache").decision.source == "default"


def test_exploit_never_explores(db_url: str, monkeypatch) -> None:
    _tune_and_train(db_url)
    import autotune.api._tuned as tuned_module

    monkeypatch.setattr(tuned_module, "EXPLORE_UNCERTAINTY", -1.0)  # every prediction counts as uncertain
    monkeypatch.setattr(tuned_module, "EXPLORE_COST_FACTOR", 1e9)
    sources = {tuned_simulate(OTHER, N, storage=db_url, policy="exploit").decision.source for _ in range(12)}
    assert sources == {"model"}
    sources = [tuned_simulate(OTHER, N, storage=db_url, policy="auto").decision.source for _ in range(12)]
    assert "explore" in sources
    assert sources.count("explore") <= tuned_module.EXPLORE_MAX  # bounded


def test_every_call_is_recorded_for_online_learning(db_url: str) -> None:
    results = [tuned_simulate(TUNED, N, storage=db_url, seed=seed) for seed in range(5)]
    tuned_simulate(TUNED, N, storage=db_url, record=False)
    flush()
    store = open_storage(db_url)
    rows = store.measurements(source="online")
    assert len(rows) == 5 and all(r.outcome is Outcome.COMPLETE and r.config == Config() for r in rows)
    assert all(r.source is Source.ONLINE and not r.legacy_timing for r in rows)
    assert [r.estimates for r in rows] == [dict(res.estimates) for res in results]
    # The same meanings as the tuner's: the process's first call of a config on a workload is its
    # first_call_s (one-off costs included) and nothing else; later calls are steady-state wall times.
    first, *later = rows
    assert first.first_call_s == results[0].decision.measured_s > 0
    assert (first.steady_s, first.samples) == (None, ())
    assert [r.steady_s for r in later] == [res.decision.measured_s for res in results[1:]]
    assert all(r.first_call_s is None and r.samples == (r.steady_s,) and r.steady_s > 0 for r in later)
    # Only the steady-state rows are training rows.
    assert len(training_set(store)) == 4


def _tuned_session(store: Storage, config: Config, best_time_s: float) -> int:
    """A complete tuning session of TUNED on this machine whose best is ``config``; returns its id."""
    machine = machine_fingerprint()
    features = workload_features(TUNED, N)
    ResultsLog(store, machine).register_workload(features)
    cid = store.upsert_config(config.to_dict())
    session = store.create_session(machine.machine_id, features.key, n_sims=N)
    store.finish_session(session, status="complete", best_config_id=cid, report={"best_time_s": best_time_s})
    return session


def test_drifting_cache_entry_is_marked_stale(db_url: str) -> None:
    store = open_storage(db_url)
    machine = machine_fingerprint()
    features = workload_features(TUNED, N)
    session = _tuned_session(store, Config(), 1e-9)
    sources = [tuned_simulate(TUNED, N, storage=db_url).decision.source for _ in range(5)]
    # The first call (one-off costs included) is no evidence of drift; three slow steady calls are.
    assert sources == ["cache", "cache", "cache", "cache", "default"]
    flush()
    assert store.tuning_session(session).status == "stale"
    assert store.best_tuned(machine.machine_id, features.key) is None


def test_failing_config_falls_back_to_the_default_and_is_recorded(db_url: str) -> None:
    store = open_storage(db_url)
    _tuned_session(store, Config(backend="failing"), 0.01)
    result = tuned_simulate(TUNED, N, storage=db_url, seed=4)
    assert result.decision.source == "default" and "failed at run time" in result.decision.note
    _check_price(result, TUNED)
    flush()
    failed = store.measurements(outcome=Outcome.FAILED, source="online")
    assert len(failed) == 1 and "always fails" in failed[0].error and failed[0].config == Config(backend="failing")
    [ran] = store.measurements(outcome=Outcome.COMPLETE, source="online")
    assert ran.config == Config() and ran.first_call_s == result.decision.measured_s


def test_corrupt_database_gives_the_default_a_warning_and_the_result(tmp_path) -> None:
    path = tmp_path / "results.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.warns(RuntimeWarning, match="results database unavailable"):
        result = tuned_simulate(TUNED, N, storage=f"sqlite:///{path}", seed=5)
    assert result.decision.source == "default"
    _check_price(result, TUNED)


def test_missing_database_directory_gives_the_default(tmp_path) -> None:
    with pytest.warns(RuntimeWarning, match="unavailable"):
        result = tuned_simulate(TUNED, N, storage=f"sqlite:///{tmp_path}/no/such/dir/results.db", seed=6)
    assert result.decision.source == "default"


def test_read_only_database_still_returns_results(db_url: str, tmp_path, caplog) -> None:
    _tune_and_train(db_url)
    reset()
    path = db_url.removeprefix("sqlite:///")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    with caplog.at_level(logging.WARNING, logger="autotune.api._runtime"):
        result = tuned_simulate(TUNED, N, storage=read_only, seed=7)
        flush()
    _check_price(result, TUNED)
    assert result.decision.source in ("cache", "default")
    assert "could not record" in caplog.text


def test_mismatched_model_schema_falls_back_to_the_default(db_url: str, caplog) -> None:
    store = open_storage(db_url)
    store.add_model(name="default", feature_schema_version=999, n_rows=1, rows_hash="x", versions={}, params={},
                    payload=b"", metrics={})
    with caplog.at_level(logging.WARNING, logger="autotune.api._runtime"):
        result = tuned_simulate(OTHER, N, storage=db_url, policy="model")
    assert result.decision.source == "default" and "retrain" in caplog.text


def test_a_model_row_that_fails_to_load_is_not_retried_by_the_process(db_url: str, monkeypatch) -> None:
    import autotune.model._persist as persist
    from autotune.api._runtime import runtime

    store = open_storage(db_url)
    row = store.add_model(name="default", feature_schema_version=999, n_rows=1, rows_hash="x", versions={},
                          params={}, payload=b"not a model", metrics={})
    loads = []
    real = persist.from_row
    monkeypatch.setattr(persist, "from_row", lambda *a, **k: loads.append(1) or real(*a, **k))
    for _ in range(3):
        runtime(db_url).model_checked_at = -1e9  # as if the check interval had passed
        assert tuned_simulate(OTHER, N, storage=db_url, policy="model").decision.source == "default"
    assert len(loads) == 1 and runtime(db_url).failed_model_id == row


def test_an_error_model_row_that_fails_to_load_is_not_retried_by_the_process(db_url: str, monkeypatch) -> None:
    import autotune.model._errors_store as errors_store
    from autotune.api._runtime import runtime

    store = open_storage(db_url)
    row = store.add_model(name="errors", feature_schema_version=999, n_rows=1, rows_hash="x", versions={},
                          params={}, payload=b"not a model", metrics={})
    loads = []
    real = errors_store.error_model_from_row
    monkeypatch.setattr(errors_store, "error_model_from_row", lambda *a, **k: loads.append(1) or real(*a, **k))
    rt = runtime(db_url)
    for _ in range(3):
        rt.error_model_checked_at = -1e9  # as if the check interval had passed
        assert rt.current_error_model() is None
    assert len(loads) == 1 and rt.failed_error_model_id == row


@pytest.mark.parametrize(("kwargs", "match"), [({"policy": "fastest"}, "policy"), ({"calls": 0}, "calls"),
                                               ({"n_sims": 1}, "n_sims"), ({"record": "yes"}, "record"),
                                               ({"storage": 3}, "storage"), ({"seed": "x"}, "seed"),
                                               ({"n_sims": 10**15}, "n_sims")])
def test_bad_arguments_name_the_field(db_url: str, kwargs: dict, match: str) -> None:
    args = {"n_sims": N, "storage": db_url, **kwargs}
    with pytest.raises(ValueError, match=match):
        tuned_simulate(TUNED, **args)


def _calls_in_process(url: str, n: int) -> None:
    for seed in range(n):
        tuned_simulate(TUNED, 5_000, storage=url, seed=seed)
    flush()


def test_many_processes_record_into_one_sqlite_file(db_url: str) -> None:
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_calls_in_process, args=(db_url, 15)) for _ in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(240)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    assert len(open_storage(db_url).measurements(source="online")) == 45


def test_import_is_lazy_and_every_public_name_resolves() -> None:
    """``import autotune`` loads neither Optuna, SQLAlchemy, scipy's special/fft/stats, numba, JAX, Dask nor the
    tuner; each name loads on first use."""
    code = (
        "import sys, autotune\n"
        "heavy = ('optuna', 'sqlalchemy', 'sklearn', 'autotune.tuner', 'autotune.storage', 'autotune.api',\n"
        "         'scipy.special', 'scipy.fft', 'scipy.stats', 'numba', 'jax', 'distributed')\n"
        "assert not [m for m in heavy if m in sys.modules], [m for m in heavy if m in sys.modules]\n"
        "missing = [n for n in autotune.__all__ if getattr(autotune, n, None) is None]\n"
        "assert not missing, missing\n"
        "from autotune.measure import Measurement\n"
        "assert callable(autotune.measure) and autotune.Measurement is Measurement\n"
        "assert autotune.tune.__module__ == 'autotune.tuner._tune'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_model_decision_in_a_fresh_process_never_imports_scikit_learn_or_optuna(db_url: str) -> None:
    _tune_and_train(db_url)
    code = (
        "import sys\n"
        "from autotune import tuned_simulate\n"
        "from kernels import EuropeanOption\n"
        f"r = tuned_simulate({OTHER!r}, {N}, storage={db_url!r}, seed=1, policy='exploit')\n"
        "assert r.decision.source == 'model', r.decision\n"
        "loaded = [m for m in ('sklearn', 'optuna', 'sqlalchemy.dialects.postgresql') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_overhead_benchmark_runs(tmp_path) -> None:
    out = subprocess.run([sys.executable, "-m", "experiments.bench_overhead", "--calls", "20", "--cold", "1",
                          "--out", str(tmp_path)],
                         cwd=REPO, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "cache" in out.stdout and "model" in out.stdout and "cold, fresh processes" in out.stdout
    cold = json.loads((tmp_path / "bench_overhead.json").read_text())["cold"]
    for bytecode in ("cached", "none"):
        b = cold[bytecode]
        assert b["help_s"] > 0 and b["cache"]["first_decision_s"] > 0 and b["model"]["api_import_s"] > 0


def test_enough_new_rows_retrain_the_model_in_the_background(db_url: str, monkeypatch) -> None:
    import time

    import autotune.api._runtime as rt_module

    _tune_and_train(db_url)
    store = open_storage(db_url)
    first = store.latest_model("default").id
    monkeypatch.setattr(rt_module, "RETRAIN_CHECK_EVERY", 1)
    monkeypatch.setattr(rt_module, "RETRAIN_MIN_NEW_ROWS", 3)
    monkeypatch.setattr(rt_module, "RETRAIN_FRACTION", 0.0)
    for seed in range(4):  # many calls expected: one config, whose later calls record steady rows
        tuned_simulate(OTHER, N, storage=db_url, seed=seed, policy="exploit", calls=1000)
    flush()
    deadline = time.monotonic() + 60
    while store.latest_model("default").id == first and time.monotonic() < deadline:
        time.sleep(0.2)
    newer = store.latest_model("default")
    assert newer.id != first and newer.n_rows > 0
    assert store.count_measurements(outcome=Outcome.COMPLETE) >= newer.n_rows
