"""One-shot honesty: the cache tier weighs one-off costs against the calls expected."""

from __future__ import annotations

import math

import autotune
from autotune._outcome import Outcome, Source
from autotune.features import machine_fingerprint, workload_features
from autotune.measure import Measurement, config_key
from autotune.storage import ResultsLog, open_storage
from kernels import Config, EuropeanOption

CALL = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2)
N = 2**14
TUNED = Config(executor="processes", workers=2)  # a pool to start: a large one-off cost
FIRST_S, STEADY_S, DEFAULT_S = 2.0, 0.001, 0.002


def _session(db_url: str) -> None:
    """A tuning session whose best (TUNED) is 2x faster per call but pays ~2 s on its first call."""
    machine = machine_fingerprint()
    features = workload_features(CALL, N)
    with open_storage(db_url) as store:
        log = ResultsLog(store, machine)
        log.register_workload(features)
        sid = store.create_session(machine.machine_id, features.key, n_sims=N)
        log.write(features, [
            Measurement(config=TUNED, outcome=Outcome.COMPLETE, n_sims=N, first_call_s=FIRST_S, steady_s=STEADY_S,
                        samples=(STEADY_S,) * 3),
            Measurement(config=Config(), outcome=Outcome.COMPLETE, n_sims=N, first_call_s=DEFAULT_S * 1.5,
                        steady_s=DEFAULT_S, samples=(DEFAULT_S,) * 3),
        ], source=Source.TUNE, session_id=sid)
        store.finish_session(sid, status="complete", best_config_id=config_key(TUNED),
                             report={"best_time_s": STEADY_S, "default_time_s": DEFAULT_S})


def test_a_one_shot_call_runs_the_default_when_the_one_off_cost_is_not_repaid(db_url):
    _session(db_url)
    once = autotune.tuned_simulate(CALL, N, storage=db_url, seed=1, record=False)
    assert once.decision.source == "default" and once.decision.config == Config()
    # one-off 2.0 - 0.001 (the first call includes one run), 0.001 s saved per call
    breakeven = math.ceil((FIRST_S - STEADY_S) / (DEFAULT_S - STEADY_S))
    assert f"after about {breakeven:,} calls" in once.decision.note and "pays 2 s once" in once.decision.note
    predicted = autotune.predict_config(CALL, N, storage=db_url)
    assert predicted.source == "default" and f"{breakeven:,}" in predicted.note


def test_many_expected_calls_repay_the_one_off_cost(db_url):
    _session(db_url)
    many = autotune.predict_config(CALL, N, storage=db_url, calls=10 * 2000)
    assert many.source == "cache" and many.config == TUNED
    few = autotune.predict_config(CALL, N, storage=db_url, calls=100)
    assert few.source == "default"
