"""`instances` for a purchase decision: medians with intervals, ties within noise, side-by-side data first,
costs per 1,000 runs only with prices, a weighted workload mix; on a real SQLite store with two fake
instance types written through the storage API."""

from __future__ import annotations

import dataclasses
import json
import math
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from autotune import machine_fingerprint, workload_features
from autotune.cli import main
from autotune.features import CloudIdentity, MachineFingerprint
from autotune.measure import Measurement
from autotune.report import (
    InstanceComparison,
    InstanceRow,
    InstanceSummary,
    compare_instances,
    load_weights,
    median_interval,
)
from autotune.storage import ResultsLog, Storage, config_id, open_storage
from kernels import AsianOption, Config, EuropeanOption

CALL = (EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2), 100_000)
ASIAN = (AsianOption(100.0, 100.0, 1.0, 0.02, 0.2, n_steps=16), 50_000)
FAST_CONFIG = Config(executor="threads", workers=2)
PRICES = {"m7i.large": 0.10, "c7i.xlarge": 0.20}


def _machine(instance_type: str, cores: int) -> MachineFingerprint:
    return dataclasses.replace(machine_fingerprint(), cpu_model=f"Fake {instance_type}", usable_cores=cores,
                               affinity=tuple(range(cores)), physical_cores=cores, logical_cores=cores,
                               cpu_quota=None, cloud=CloudIdentity("aws", instance_type, "env"))


SMALL, BIG = _machine("m7i.large", 2), _machine("c7i.xlarge", 4)


def _noisy(median: float, n: int, label: str, sd: float = 0.02) -> tuple[float, ...]:
    """``n`` lognormal samples around ``median`` (seeded by the label: the same numbers every run)."""
    rng = np.random.default_rng(zlib.crc32(label.encode()))
    return tuple(float(t) for t in median * np.exp(rng.normal(0.0, sd, n)))


def _write(store: Storage, machine: MachineFingerprint, pair: tuple, samples: Sequence[float], *,
           config: Config = FAST_CONFIG, session_id: int | None = None) -> Measurement:
    (m,) = ResultsLog(store, machine).write(workload_features(*pair), [
        Measurement(config=config, outcome="complete", n_sims=pair[1], steady_s=float(np.median(samples)),
                    samples=tuple(samples))], source="tune", session_id=session_id)
    return m


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Storage]:
    with open_storage(f"sqlite:///{tmp_path}/fleet.db") as opened:
        yield opened


def _row(comparison: InstanceComparison, machine: MachineFingerprint, pair: tuple) -> InstanceRow:
    key = workload_features(*pair).key
    (row,) = [r for r in comparison.rows if r.machine_id == machine.machine_id and r.workload_id == key]
    return row


# -- the median's interval -------------------------------------------------------------------------------------


def test_median_interval_is_the_order_statistic_interval() -> None:
    assert median_interval([1.0]) is None and median_interval([]) is None
    assert median_interval([3.0, 1.0, 2.0, 5.0, 4.0]) == (1.0, 5.0, 1 - 2 / 32)  # 5 samples: the range, 93.75 %
    low, high, coverage = median_interval(list(range(10, 0, -1)))
    assert (low, high) == (2, 9) and coverage == pytest.approx(1 - 2 * 11 / 1024)  # k = 2 of 10: 97.9 %


def test_median_interval_covers_the_true_median_as_often_as_it_says() -> None:
    rng = np.random.default_rng(zlib.crc32(b"median coverage"))
    trials, n = 4000, 10
    samples = rng.exponential(1.0, size=(trials, n))  # skewed, like timings
    true_median = math.log(2.0)
    hits = 0
    for row in samples:
        low, high, coverage = median_interval(row)
        hits += low <= true_median <= high
    se = math.sqrt(coverage * (1 - coverage) / trials)
    assert abs(hits / trials - coverage) < 4 * se


# -- ranking -----------------------------------------------------------------------------------------------------


def test_two_machines_within_noise_are_tied_never_fastest_and_second(store: Storage) -> None:
    # 0.6 % apart with 2 % noise: the case that was once called "fastest" and "second".
    _write(store, SMALL, CALL, _noisy(0.0500, 7, "small call"))
    _write(store, BIG, CALL, _noisy(0.0503, 7, "big call"))
    comparison = compare_instances(store)
    rows = comparison.rows
    assert len(rows) == 2 and all(r.n_samples == 7 and r.evidence == "search" for r in rows)
    a, b = rows
    assert a.seconds_low <= b.seconds_high and b.seconds_low <= a.seconds_high  # the premise: they overlap
    assert not any(r.fastest for r in rows) and all(r.tied_fastest for r in rows)
    assert "tied for fastest" in comparison.table() and "fastest," not in comparison.table()


def test_a_machine_clearly_faster_is_fastest_and_the_cheaper_one_cheapest(store: Storage) -> None:
    _write(store, SMALL, CALL, _noisy(0.090, 5, "small call"))
    _write(store, BIG, CALL, _noisy(0.040, 5, "big call"))
    comparison = compare_instances(store, PRICES)
    small, big = _row(comparison, SMALL, CALL), _row(comparison, BIG, CALL)
    assert big.fastest and not big.tied_fastest and not small.fastest and not small.tied_fastest
    assert small.coverage == 1 - 2 / 32  # 5 samples: the range, and it says so
    for r in (small, big):  # a run is 0.04-0.09 s: dollars per 1,000 runs = seconds x 1,000 x $/h / 3,600
        assert r.usd_per_1k_runs == pytest.approx(r.seconds * 1000 * r.usd_per_hour / 3600)
        assert r.usd_per_1k_runs_low == pytest.approx(r.seconds_low * 1000 * r.usd_per_hour / 3600)
    # 0.09 s at $0.10/h against 0.04 s at $0.20/h: 0.0025 against 0.0022 $ per 1,000 runs, intervals apart.
    assert big.cheapest and not small.cheapest
    text = comparison.table()
    assert "$ per 1,000 runs" in text and "$0.10" in text and "$0.0022" in text


def test_rows_without_repeats_are_said_so_and_not_ranked(store: Storage) -> None:
    _write(store, SMALL, CALL, (0.09,))
    _write(store, BIG, CALL, _noisy(0.040, 5, "big call"))
    comparison = compare_instances(store)
    small, big = _row(comparison, SMALL, CALL), _row(comparison, BIG, CALL)
    assert small.seconds_low is None and small.coverage is None and small.note == "no repeats: not ranked"
    assert not big.fastest  # against a single number, nothing can be claimed
    assert "no repeats" in comparison.table()


def test_side_by_side_finalists_are_preferred_over_a_lucky_search_sample(store: Storage) -> None:
    _write(store, SMALL, CALL, _noisy(0.050, 5, "small call"))
    ResultsLog(store, BIG).register_workload(workload_features(*CALL))
    session = store.create_session(BIG.machine_id, workload_features(*CALL).key, n_sims=CALL[1], sampler="brute")
    _write(store, BIG, CALL, (0.030,), config=Config(), session_id=session)  # a lucky search trial
    finals = {FAST_CONFIG: _noisy(0.045, 5, "big finalist"), Config(): _noisy(0.047, 5, "big default")}
    for config, samples in finals.items():
        _write(store, BIG, CALL, samples, config=config, session_id=session)
    store.finish_session(session, status="complete", best_config_id=config_id(FAST_CONFIG.to_dict()), report={
        "best_config": FAST_CONFIG.to_dict(),
        "finalists": [[c.to_dict(), float(np.median(s))] for c, s in finals.items()]})
    comparison = compare_instances(store)
    big, small = _row(comparison, BIG, CALL), _row(comparison, SMALL, CALL)
    assert big.evidence == "side-by-side" and small.evidence == "search"
    assert big.best_config == FAST_CONFIG.label()
    assert big.seconds == pytest.approx(float(np.median(finals[FAST_CONFIG])))
    assert (big.seconds_low, big.seconds_high) == (min(finals[FAST_CONFIG]), max(finals[FAST_CONFIG]))


# -- the workload mix --------------------------------------------------------------------------------------------


@pytest.fixture
def mix(store: Storage) -> Storage:
    """CALL: the big machine 2x faster; ASIAN: the small one 1.5x faster."""
    for machine, call_s, asian_s in ((SMALL, 0.08, 0.20), (BIG, 0.04, 0.30)):
        _write(store, machine, CALL, _noisy(call_s, 6, f"{machine.cpu_model} call", sd=0.01))
        _write(store, machine, ASIAN, _noisy(asian_s, 6, f"{machine.cpu_model} asian", sd=0.01))
    store.name_workload(workload_features(*CALL).key, "atm-call")
    store.name_workload(workload_features(*ASIAN).key, "asian-book")
    return store


def _summary(comparison: InstanceComparison, machine: MachineFingerprint) -> InstanceSummary:
    (s,) = [s for s in comparison.summary if s.machine_id == machine.machine_id]
    return s


def test_the_mix_is_a_weighted_geometric_mean(mix: Storage) -> None:
    equal = compare_instances(mix)
    assert dict(equal.weights) == {"atm-call": 1.0, "asian-book": 1.0}
    for machine in (SMALL, BIG):
        s = _summary(equal, machine)
        call, asian = _row(equal, machine, CALL), _row(equal, machine, ASIAN)
        assert s.workloads == 2 and s.seconds == pytest.approx(math.sqrt(call.seconds * asian.seconds))
        assert s.seconds_low == pytest.approx(math.sqrt(call.seconds_low * asian.seconds_low))
    # Equal weights: sqrt(0.08 * 0.2) = 0.126 against sqrt(0.04 * 0.3) = 0.110: the big machine, clearly.
    assert _summary(equal, BIG).fastest and not _summary(equal, SMALL).fastest
    weighted = compare_instances(mix, weights={"asian-book": 3, "atm-call": 1})
    for machine in (SMALL, BIG):
        call, asian = _row(weighted, machine, CALL), _row(weighted, machine, ASIAN)
        expected = math.exp((math.log(call.seconds) + 3 * math.log(asian.seconds)) / 4)
        assert _summary(weighted, machine).seconds == pytest.approx(expected)
    # Mostly Asian: 0.08^.25 * 0.2^.75 = 0.16 against 0.04^.25 * 0.3^.75 = 0.18: now the small machine.
    assert _summary(weighted, SMALL).fastest and not _summary(weighted, BIG).fastest
    by_key = compare_instances(mix, weights={workload_features(*ASIAN).key: 3, "atm-call": 1})
    assert _summary(by_key, SMALL).seconds == pytest.approx(_summary(weighted, SMALL).seconds)
    priced = compare_instances(mix, PRICES)
    s = _summary(priced, BIG)
    assert s.usd_per_1k_runs == pytest.approx(s.seconds * 1000 * PRICES["c7i.xlarge"] / 3600)
    assert "workload mix" in priced.table()


def test_unknown_weight_names_list_the_known_ones(mix: Storage) -> None:
    with pytest.raises(ValueError, match=r"no compared workload named 'book3'; known: asian-book, atm-call"):
        compare_instances(mix, weights={"book3": 1.0})
    with pytest.raises(ValueError, match=r"entry 'atm-call': the weight must be a positive number"):
        compare_instances(mix, weights={"atm-call": 0})


def test_weights_files_toml_and_json(tmp_path: Path) -> None:
    (tmp_path / "w.toml").write_text('atm-call = 1\n"asian-book" = 2.5\n')
    (tmp_path / "t.toml").write_text("[weights]\natm-call = 2\n")
    (tmp_path / "w.json").write_text('{"atm-call": 1, "asian-book": 2.5}')
    assert load_weights(tmp_path / "w.toml") == load_weights(tmp_path / "w.json") == {"atm-call": 1.0,
                                                                                       "asian-book": 2.5}
    assert load_weights(tmp_path / "t.toml") == {"atm-call": 2.0}
    (tmp_path / "bad.json").write_text('{"atm-call": "heavy"}')
    with pytest.raises(ValueError, match=r"bad\.json, entry 'atm-call': the weight must be a positive number"):
        load_weights(tmp_path / "bad.json")
    (tmp_path / "w.csv").write_text("atm-call,1\n")
    with pytest.raises(ValueError, match=r"must end in \.toml or \.json"):
        load_weights(tmp_path / "w.csv")
    (tmp_path / "broken.toml").write_text("atm-call = \n")
    with pytest.raises(ValueError, match="cannot read the weights file"):
        load_weights(tmp_path / "broken.toml")


# -- the command -------------------------------------------------------------------------------------------------


def test_cli_json_has_cheapest_only_with_prices_and_weights_errors_exit_2(
        mix: Storage, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = mix.url
    assert main(["instances", "--json", "--storage", db]) == 0
    data = json.loads(capsys.readouterr().out)
    assert not data["priced"] and data["rows"] and all("cheapest" not in r and "usd_per_hour" not in r
                                                       for r in data["rows"])
    assert all("cheapest" not in s for s in data["summary"]["machines"])
    prices = tmp_path / "prices.csv"
    prices.write_text("instance_type,usd_per_hour\nm7i.large,0.10\nc7i.xlarge,0.20\n")
    weights = tmp_path / "mix.toml"
    weights.write_text('asian-book = 3\natm-call = 1\n')
    assert main(["instances", "--json", "--prices", str(prices), "--weights", str(weights), "--storage", db]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["priced"] and all("cheapest" in r and "usd_per_1k_runs" in r for r in data["rows"])
    assert data["summary"]["weights"] == {"asian-book": 3.0, "atm-call": 1.0}
    weights.write_text("book3 = 1\n")
    assert main(["instances", "--weights", str(weights), "--storage", db]) == 2
    err = capsys.readouterr().err
    assert "no compared workload named 'book3'; known: asian-book, atm-call" in err and "Traceback" not in err
    assert main(["instances", "--csv", "--storage", db]) == 0
    header = capsys.readouterr().out.splitlines()[0].split(",")
    assert "seconds_low" in header and "cheapest" not in header


def test_remeasure_times_this_machines_best_configs_side_by_side_and_stores_them(store: Storage) -> None:
    tiny = (EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2), 4000)
    local = machine_fingerprint()
    # Stored figures of this machine: a lucky, too-fast sample of float32 and a plain default.
    _write(store, local, tiny, (1e-6, 1e-6), config=Config(precision="float32"))
    _write(store, local, tiny, (2e-6, 2e-6), config=Config())
    _write(store, local, tiny, (5e-6, 5e-6), config=FAST_CONFIG)
    _write(store, BIG, tiny, _noisy(0.001, 5, "big tiny"))
    before = store.count_measurements()
    comparison = compare_instances(store, remeasure=True, remeasure_configs=2, remeasure_rounds=4)
    row = _row(comparison, local, tiny)
    assert row.evidence == "re-measured" and row.n_samples == 4
    assert row.best_config in {Config(precision="float32").label(), Config().label()}  # the 2 best stored, only
    assert row.seconds > 2e-6  # a real run of 4,000 paths, not the stored microsecond
    assert _row(comparison, BIG, tiny).evidence == "search"  # another machine cannot be re-measured from here
    fresh = store.measurements(source="benchmark")
    assert store.count_measurements() == before + 2 and len(fresh) == 2
    assert all(m.machine_id == local.machine_id and len(m.samples) == 4 for m in fresh)
    with pytest.raises(ValueError, match="remeasure_rounds must be an integer from 1 to 100"):
        compare_instances(store, remeasure=True, remeasure_rounds=0)
