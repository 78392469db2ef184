"""Reproducible mode: tune and tuned_simulate pick only configs bit-identical to the pinned reference."""

from __future__ import annotations

import numpy as np
import pytest

from autotune import machine_fingerprint, open_storage, tune, tuned_simulate, workload_features
from autotune.api import predict_config, reset
from autotune.model import train
from autotune.space import REPRODUCIBLE_KNOBS, reproducible_with, search_space
from kernels import Config, EuropeanOption, Gamma, Poisson, PolicyGroup, Portfolio, Target, simulate

from .conftest import FAST

OPTION = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)
OTHER = EuropeanOption(100.0, 110.0, 0.5, 0.01, 0.25, kind="put")
PORTFOLIO = Portfolio([PolicyGroup(30, Poisson(0.3), Gamma(2.0, 400.0))], levels=(0.99, 0.995))
N = 12_000


@pytest.fixture(autouse=True)
def _fresh_runtime():
    reset()
    yield
    reset()


def _bits(result) -> tuple[np.ndarray, np.ndarray]:
    names = sorted(result.estimates)
    return (np.array([result.estimates[k] for k in names]), np.array([result.standard_errors[k] for k in names]))


def _assert_bit_identical(a, b, what: str) -> None:
    assert sorted(a.estimates) == sorted(b.estimates), what
    assert np.array_equal(_bits(a)[0], _bits(b)[0]), f"{what}: estimates differ"
    assert np.array_equal(_bits(a)[1], _bits(b)[1]), f"{what}: standard errors differ"


def test_the_reproducible_class_pins_every_knob_that_decides_the_bits() -> None:
    ref = Config(backend="numba", precision="float32", chunk_size=4096, antithetic=True)
    space = search_space(OPTION, N, cores=4, reference=ref)
    configs = space.enumerate()
    assert ref in configs and len(configs) == 7  # serial, threads x2/x4, processes x2/x4 with and without shm
    assert {(c.executor, c.workers, c.shared_memory) for c in configs} >= {("threads", 4, False),
                                                                          ("processes", 2, True)}
    for c in configs:
        assert all(getattr(c, k) == getattr(ref, k) for k in REPRODUCIBLE_KNOBS), c.label()
    assert space.violation(ref.replace(chunk_size=None)).startswith("not bit-identical")
    assert not reproducible_with(ref.replace(precision="float64"), ref)
    assert reproducible_with(ref.replace(executor="processes", workers=3, shared_memory=True), ref)
    # The wide space is unchanged by the new knob; a pinned space gets its own study name.
    wide = search_space(OPTION, N, cores=4)
    assert wide.reference is None and len(wide.enumerate()) > len(configs)
    assert wide.signature() != space.signature()
    assert space.signature() != search_space(OPTION, N, cores=4, reference=ref.replace(antithetic=False)).signature()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"reproducible": "yes"}, "reproducible must be True or False"),
    ({"reference": Config()}, "reference= is the pinned config of reproducible mode"),
    ({"reproducible": True, "reference": {"backend": "numpy"}}, "reference must be a kernels.Config"),
    ({"reproducible": True, "target": Target(rtol=0.01)}, "pins the estimator"),
])
def test_tune_rejects_bad_reproducible_arguments(db_url: str, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        tune(OPTION, N, storage=db_url, measure_options=FAST, progress=False, **kwargs)


def test_a_reference_the_workload_has_no_estimator_for_is_named() -> None:
    with pytest.raises(ValueError, match=r"Config\.antithetic=True applies to option workloads"):
        tuned_simulate(PORTFOLIO, N, reproducible=True, reference=Config(antithetic=True), record=False)
    with pytest.raises(ValueError, match=r"backends=\[.numba.\] excludes the pinned reference.s value .numpy."):
        search_space(OPTION, N, backends=("numba",), reference=Config())
    with pytest.raises(ValueError, match="method='fft'"):
        tuned_simulate(PORTFOLIO, N, reproducible=True, reference=Config(method="fft"), record=False)


WIDE_SESSIONS: set[int] = set()


@pytest.fixture(scope="module")
def tuned_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store where the latest session's best is never in the default's class (every config has chunk 4096),
    plus reproducible sessions of the option and the portfolio, and a trained model."""
    url = f"sqlite:///{tmp_path_factory.mktemp('reproducible') / 'results.db'}"
    for workload in (OPTION, PORTFOLIO):
        tune(workload, N, storage=url, reproducible=True, sampler="brute", measure_options=FAST, progress=False)
        _tune_wide(url, workload)
    train(open_storage(url), n_estimators=20)
    return url


def _tune_wide(url: str, workload) -> None:
    """A (resumed) session over configs that all have chunk_size=4096: its best is outside Config()'s class."""
    wide = search_space(workload, N, backends=("numpy", "numba"), qmc=(False,), chunk_sizes=(4096,))
    WIDE_SESSIONS.add(tune(workload, N, storage=url, space=wide, sampler="brute", measure_options=FAST,
                           progress=False).session_id)


def test_tune_searches_and_reports_only_the_class(tuned_url: str) -> None:
    store = open_storage(tuned_url)
    for workload in (OPTION, PORTFOLIO):
        report = tune(workload, N, storage=tuned_url, reproducible=True, sampler="brute", measure_options=FAST,
                      progress=False)  # resumes: every in-class config is measured, the wider session's too
        assert reproducible_with(report.best_config, Config()), report.best_config.label()
        assert report.finalists and all(reproducible_with(c, Config()) for c, _ in report.finalists)
        assert report.space_size == len(search_space(workload, N, reference=Config()).enumerate())
        sessions = {m.session_id for m in store.measurements(workload_id=workload_features(workload, N).key)}
        assert report.session_id in sessions and report.session_id not in WIDE_SESSIONS
        for sid in sessions - WIDE_SESSIONS:
            for m in store.measurements(session_id=sid):
                assert reproducible_with(m.config, Config()), (sid, m.config.label())


#: Disjoint reproducible classes; the wide session measured the last two whole, so the latest session's
#: best lies in at most one of them and the others are served from the in-class measurements.
REFS = [Config(), Config(chunk_size=4096), Config(backend="numba", chunk_size=4096)]


def _fastest_in_class(url: str, workload, ref: Config) -> Config:
    machine, key = machine_fingerprint().machine_id, workload_features(workload, N).key
    samples: dict[Config, list[float]] = {}
    for m in open_storage(url).measurements(machine_id=machine, workload_id=key, n_sims=N, source="tune",
                                            outcome="complete"):
        if m.steady_s is not None and reproducible_with(m.config, ref):
            samples.setdefault(m.config, []).append(m.steady_s)
    return min(samples, key=lambda c: float(np.median(samples[c])))


@pytest.mark.parametrize("workload", [OPTION, PORTFOLIO], ids=["option", "portfolio"])
def test_tuned_simulate_picks_in_class_and_reproduces_the_reference_bits(tuned_url: str, workload) -> None:
    machine, key = machine_fingerprint().machine_id, workload_features(workload, N).key
    latest = Config.from_dict(open_storage(tuned_url).best_tuned(machine, key)[1])
    free = tuned_simulate(workload, N, storage=tuned_url, seed=9, policy="cache", calls=10**9, record=False)
    assert free.decision.source == "cache" and free.decision.config == latest
    served_from_measurements = 0
    for ref in REFS:
        pinned = tuned_simulate(workload, N, storage=tuned_url, seed=9, reproducible=True, reference=ref,
                                record=False)
        assert pinned.decision.source == "cache" and reproducible_with(pinned.decision.config, ref)
        if reproducible_with(latest, ref):
            assert pinned.decision.config == latest
        else:
            served_from_measurements += 1
            assert pinned.decision.config == _fastest_in_class(tuned_url, workload, ref)
        reference = simulate(workload, N, ref, seed=9)
        _assert_bit_identical(pinned, reference, f"{pinned.decision.config.label()} vs {ref.label()}")
        # Every config of the class, whatever the executor and workers, gives the same bits (VaR included).
        for config in search_space(workload, N, reference=ref).enumerate():
            _assert_bit_identical(simulate(workload, N, config, seed=9), reference, config.label())
        if workload is PORTFOLIO:
            assert pinned["VaR_0.99"] == reference["VaR_0.99"] and pinned["TVaR_0.995"] == reference["TVaR_0.995"]
    assert served_from_measurements >= 2


def test_the_model_tier_ranks_only_the_class_and_never_explores(tuned_url: str) -> None:
    ref = Config(chunk_size=4096)
    for _ in range(6):  # "auto" would explore an uncertain candidate on some calls; reproducible mode never does
        d = tuned_simulate(OTHER, N, storage=tuned_url, seed=1, reproducible=True, reference=ref,
                           policy="auto", record=False).decision
        assert d.source == "model" and reproducible_with(d.config, ref), d
    d = predict_config(OTHER, N, storage=tuned_url, policy="model", reproducible=True, reference=ref)
    assert d.source == "model" and reproducible_with(d.config, ref)
    result = tuned_simulate(OTHER, N, storage=tuned_url, seed=4, reproducible=True, reference=ref, record=False)
    _assert_bit_identical(result, simulate(OTHER, N, ref, seed=4), "model pick vs reference")


def test_without_a_store_the_reference_runs(tmp_path) -> None:
    ref = Config(backend="numba", precision="float32", chunk_size=3000)
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = tuned_simulate(PORTFOLIO, N, storage=url, seed=2, reproducible=True, reference=ref, record=False)
    assert result.decision.source == "default" and result.decision.config == ref
    assert "bit-identical to the reference" in result.decision.note
    _assert_bit_identical(result, simulate(PORTFOLIO, N, ref.replace(executor="threads", workers=2), seed=2),
                          "reference vs threads")


def test_runs_to_a_target_keep_the_reference_estimator(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    target = Target(rtol=0.01)
    ref = Config(chunk_size=2048, antithetic=True)
    result = tuned_simulate(OPTION, target=target, storage=url, seed=5, reproducible=True, reference=ref,
                            record=False)
    assert result.decision.source == "default" and result.decision.config == ref and result.target_met
    again = simulate(OPTION, config=ref.replace(executor="processes", workers=2), target=target, seed=5)
    assert again.n_sims == result.n_sims
    _assert_bit_identical(result, again, "run to a target vs processes")
