"""The measurement harness: timings, failures, time-outs, crashes and the accuracy gate."""

from __future__ import annotations

import math
import time

import pytest

from autotune import Outcome
from autotune.measure import DEFAULT_TIMEOUT_S, Measurement, MeasureOptions, compare_configs, measure, reference_result
from kernels import Config, EuropeanOption, Gamma, Poisson, PolicyGroup, Portfolio, black_scholes

from ..conftest import assert_close
from .conftest import FAST

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)
N = 200_000


@pytest.fixture(scope="module")
def reference():
    return reference_result(EURO, N)


def test_complete_measurement_has_honest_timings(reference) -> None:
    m = measure(EURO, N, Config(), reference=reference,
                options=MeasureOptions(min_repeats=3, max_repeats=5, isolate=False))
    assert isinstance(m, Measurement) and m.outcome is Outcome.COMPLETE and m.ok
    assert 3 <= len(m.samples) <= 5
    assert m.steady_s == pytest.approx(sorted(m.samples)[len(m.samples) // 2])
    assert m.iqr_s >= 0 and m.one_off_s >= 0 and m.first_call_s > 0
    assert m.one_off_s == pytest.approx(max(m.first_call_s - m.steady_s, 0.0))
    assert m.peak_memory_bytes is not None and m.peak_memory_bytes >= 0
    assert 0 <= m.accuracy_z < 4 and m.error is None
    assert m.headline == "price" and set(m.standard_errors) <= set(m.estimates)
    assert_close(m.estimates["price"], black_scholes(100.0, 100.0, 1.0, 0.02, 0.2)["price"],
                 m.standard_errors["price"])
    # keys are the recorder's (ResultsLog) to set
    assert (m.machine_id, m.workload_id, m.session_id) == (None, None, None)


def test_default_options_measure_in_a_process_of_their_own() -> None:
    options = MeasureOptions()
    assert options.isolate is True and options.timeout_s == DEFAULT_TIMEOUT_S == 300


def test_numba_compile_time_is_kept_apart_from_steady_state() -> None:
    pf = Portfolio([PolicyGroup(3, Poisson(1.0), Gamma(2.0, 10.0))])
    # a process of its own, so that its first call really is this config's first in the process
    options = MeasureOptions(min_repeats=2, max_repeats=3, min_total_s=0.0, timeout_s=120)
    m = measure(pf, 20_000, Config(backend="numba", precision="float32"), options=options)
    assert m.ok, m.error
    # the first call pays the backend's preparation (numba import, JIT or cache load); steady-state calls do not
    assert m.first_call_s > m.steady_s > 0
    assert m.one_off_s == pytest.approx(m.first_call_s - m.steady_s) and m.one_off_s > 0
    assert max(m.samples) < m.first_call_s


def test_failing_config_is_recorded_as_failed() -> None:
    m = measure(EURO, 10_000, Config(backend="failing"), options=FAST)
    assert m.outcome is Outcome.FAILED and "always fails" in m.error and m.steady_s is None
    assert (m.first_call_s, m.samples, m.estimates) == (None, (), {})


def test_failing_config_in_a_subprocess_is_recorded_as_failed() -> None:
    m = measure(EURO, 10_000, Config(backend="failing"), options=MeasureOptions(isolate=True, timeout_s=60))
    assert m.outcome is Outcome.FAILED and "always fails" in m.error


def test_crashing_config_is_recorded_as_failed() -> None:
    # isolated by default: the crash is the measurement process's, not this one's
    m = measure(EURO, 10_000, Config(backend="crashing"), options=MeasureOptions(timeout_s=60))
    assert m.outcome is Outcome.FAILED and "died" in m.error


def test_hanging_config_times_out_and_is_killed() -> None:
    start = time.perf_counter()
    m = measure(EURO, 10_000, Config(backend="hanging"), options=MeasureOptions(isolate=True, timeout_s=3))
    assert m.outcome is Outcome.TIMED_OUT
    assert time.perf_counter() - start < 20


def test_biased_config_is_rejected_by_the_accuracy_gate(reference) -> None:
    m = measure(EURO, N, Config(backend="biased"), reference=reference, options=FAST)
    assert m.outcome is Outcome.REJECTED and not m.ok
    assert m.accuracy_z > 4 and "standard errors" in m.error
    assert math.isfinite(m.steady_s)  # it ran: rejected for its answer, not its speed


def test_isolated_measurement_returns_the_same_kind_of_result(reference) -> None:
    m = measure(EURO, N, Config(executor="threads", workers=2), reference=reference,
                options=MeasureOptions(isolate=True, timeout_s=120, min_repeats=2, max_repeats=3))
    assert m.outcome is Outcome.COMPLETE and m.peak_memory_bytes > 0
    assert m.steady_s > 0 and m.first_call_s > 0 and 2 <= len(m.samples) <= 3 and 0 <= m.accuracy_z < 4


@pytest.mark.parametrize(("kwargs", "field"), [({"warmup": 0}, "warmup"), ({"max_repeats": 0}, "max_repeats"),
                                               ({"timeout_s": 0}, "timeout_s"), ({"accuracy_k": -1}, "accuracy_k")])
def test_bad_options_name_the_field(kwargs: dict, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        MeasureOptions(**kwargs)


def test_compare_configs_times_every_config_once_per_round() -> None:
    configs = [Config(), Config(precision="float32"), Config()]  # the duplicate is timed once
    samples = compare_configs(EURO, 20_000, configs, rounds=4)
    assert list(samples) == [Config(), Config(precision="float32")]
    assert all(len(s) == 4 and min(s) > 0 for s in samples.values())


def test_compare_configs_batches_runs_shorter_than_min_sample(monkeypatch) -> None:
    import importlib

    # by module path: the package `autotune` re-exports the function `measure` under the same name
    harness = importlib.import_module("autotune.measure._harness")

    calls: list[Config] = []

    def slow_simulate(workload, n_sims, config, seed=None):
        calls.append(config)
        time.sleep(0.002)

    monkeypatch.setattr(harness, "simulate", slow_simulate)
    samples = compare_configs(EURO, 1_000, [Config(), Config(precision="float32")], rounds=3, min_sample_s=0.02)
    # 2 warm-up/probe runs per config, then each sample batches several 2 ms runs to reach 20 ms
    assert len(calls) > 2 * 2 + 3 * 2 * 3
    # a sample is the time per run, not per batch
    assert all(0.002 <= t < 0.02 for s in samples.values() for t in s)


def test_compare_configs_goes_on_past_a_failing_config(caplog) -> None:
    samples = compare_configs(EURO, 10_000, [Config(backend="failing"), Config()], rounds=2)
    assert samples[Config(backend="failing")] == [] and len(samples[Config()]) == 2
    assert "always fails" in caplog.text


@pytest.mark.parametrize(("kwargs", "field"), [({"rounds": 0}, "rounds"), ({"min_sample_s": -1.0}, "min_sample_s"),
                                               ({"configs": []}, "configs"), ({"configs": ["numpy"]}, "configs")])
def test_compare_configs_bad_arguments_name_the_field(kwargs: dict, field: str) -> None:
    args = {"configs": [Config()], **kwargs}
    with pytest.raises(ValueError, match=field):
        compare_configs(EURO, 1_000, **args)
