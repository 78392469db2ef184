"""Instance comparison and the HTML report, on a small synthetic results database."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from autotune import Outcome, Source, machine_fingerprint, open_storage, workload_features
from autotune.features import CloudIdentity, MachineFingerprint
from autotune.measure import Measurement
from autotune.model import ConfigTimeModel, train, training_set
from autotune.report import SECTIONS, InstanceComparison, compare_instances, load_prices, write_report
from autotune.storage import ResultsLog, Storage, config_id
from kernels import AsianOption, Config, EuropeanOption, Gamma, Poisson, PolicyGroup, Portfolio

#: Config -> time factor against Config(); the fastest is numba threads x4 float32.
CONFIGS = (
    (Config(), 1.0),
    (Config(precision="float32"), 0.9),
    (Config(executor="threads", workers=2), 0.6),
    (Config(backend="numba"), 0.4),
    (Config(backend="numba", executor="threads", workers=2), 0.25),
    (Config(backend="numba", executor="threads", workers=4, precision="float32"), 0.15),
)
FASTEST = CONFIGS[-1][0]
EURO = (EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.01, sigma=0.2), 200_000)
ASIAN = (AsianOption(S0=100.0, K=100.0, T=1.0, r=0.01, sigma=0.2, n_steps=32), 100_000)
BOOK = (Portfolio(groups=[PolicyGroup(200, Poisson(0.2), Gamma(2.0, 100.0))], levels=(0.99,)), 30_000)
#: (workload, n_sims) -> seconds of Config() on the big machine.
BASE_S = {EURO: 0.02, ASIAN: 0.3, BOOK: 0.5}
SLOWDOWN = 3.0  # the small machine is 3x slower...
PRICES = {"c7i.2xlarge": 0.40}  # ...and the big one 4x dearer per hour: the small one is cheaper per simulation
SMALL_PRICE = 0.10


@dataclasses.dataclass(frozen=True)
class Synthetic:
    store: Storage
    big: MachineFingerprint
    small: MachineFingerprint
    keys: dict[tuple[object, int], str]

    def prices(self) -> dict[str, float]:
        """The big machine by instance type, the small one (no instance type) by machine id."""
        return {**PRICES, self.small.machine_id: SMALL_PRICE}


def _fingerprints() -> tuple[MachineFingerprint, MachineFingerprint]:
    base = machine_fingerprint()
    big = dataclasses.replace(base, cpu_model="Synthetic Xeon", usable_cores=8, affinity=tuple(range(8)),
                              physical_cores=8, logical_cores=8, cpu_quota=None,
                              cloud=CloudIdentity("aws", "c7i.2xlarge", "env"))
    small = dataclasses.replace(base, cpu_model="Synthetic EPYC", usable_cores=2, affinity=(0, 1), physical_cores=2,
                                logical_cores=2, cpu_quota=None, cloud=CloudIdentity())
    return big, small


def _fill(store: Storage, small_pairs: tuple[tuple[object, int], ...] = (EURO, ASIAN)) -> Synthetic:
    big, small = _fingerprints()
    logs = {fp.machine_id: ResultsLog(store, fp) for fp in (big, small)}
    for log in logs.values():
        log.register_machine()
    features = {pair: workload_features(*pair) for pair in BASE_S}
    for wf in features.values():
        store.upsert_workload(wf.key, wf.kind, wf.spec, wf.vector())
    keys = {pair: wf.key for pair, wf in features.items()}
    # The portfolio is measured on the big machine only: it is not an instance comparison.
    for fp, slowdown, pairs in ((big, 1.0, (EURO, ASIAN, BOOK)), (small, SLOWDOWN, small_pairs)):
        for pair in pairs:
            records = []
            for config, factor in CONFIGS:
                t = BASE_S[pair] * factor * slowdown
                records.append(Measurement(config=config, outcome=Outcome.COMPLETE, n_sims=pair[1], steady_s=t,
                                           samples=(t, t * 1.01),
                                           first_call_s=t + (0.5 if config.backend == "numba" else 0.0)))
            # A failed run is never the fastest.
            records.append(Measurement(config=FASTEST, outcome=Outcome.FAILED, n_sims=pair[1], error="boom"))
            logs[fp.machine_id].write(features[pair], records, source=Source.TUNE)
            # Nor are online rows without a steady-state wall time: a first call, and a row migrated from
            # schema 1 that timed the kernel's compute only (far below every whole call).
            t0 = BASE_S[pair] * slowdown
            logs[fp.machine_id].write(features[pair], [
                Measurement(config=Config(), outcome=Outcome.COMPLETE, n_sims=pair[1], first_call_s=t0 * 2),
                Measurement(config=Config(), outcome=Outcome.COMPLETE, n_sims=pair[1], steady_s=t0 * 0.01,
                            legacy_timing=True),
            ], source=Source.ONLINE)
    # A tuning session on the big machine: the best time falls over 8 trials.
    session = store.create_session(big.machine_id, keys[EURO], n_sims=EURO[1], sampler="tpe")
    order = [0, 1, 2, 1, 3, 4, 3, 5]
    for i in order:
        config, factor = CONFIGS[i]
        t = BASE_S[EURO] * factor * 1.02
        logs[big.machine_id].write(features[EURO], [
            Measurement(config=config, outcome="complete", n_sims=EURO[1], steady_s=t, samples=(t,))],
            source="tune", session_id=session)
    store.finish_session(session, status="complete", best_config_id=config_id(FASTEST.to_dict()),
                         report={"best_time_s": BASE_S[EURO] * 0.15})
    return Synthetic(store, big, small, keys)


@pytest.fixture
def synthetic(tmp_path: Path) -> Iterator[Synthetic]:
    with open_storage(f"sqlite:///{tmp_path}/r.db") as store:
        yield _fill(store)


# -- prices ----------------------------------------------------------------------------------------


def test_load_prices_reads_the_table_and_ignores_extra_columns(tmp_path: Path) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("region,instance_type,usd_per_hour\nus-east-1, c7i.large ,0.089\nus-east-1,m7i.xlarge,0.2016\n")
    assert load_prices(path) == {"c7i.large": 0.089, "m7i.xlarge": 0.2016}


@pytest.mark.parametrize(("text", "expected"), [
    ("instance_type,price\nc7i.large,0.1\n", r"line 1.*usd_per_hour"),
    ("instance_type,usd_per_hour\nc7i.large,0.1\nm7i.large,cheap\n", r"line 3, field usd_per_hour.*'cheap'"),
    ("instance_type,usd_per_hour\nc7i.large,-0.1\n", r"line 2, field usd_per_hour.*non-negative"),
    ("instance_type,usd_per_hour\nc7i.large,0.1\nc7i.large,0.2\n", r"line 3, field instance_type.*duplicate"),
    ("instance_type,usd_per_hour\n,0.1\n", r"line 2, field instance_type"),
    ("", r"line 1.*misses column"),
])
def test_load_prices_errors_name_the_file_line_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "prices.csv"
    path.write_text(text)
    with pytest.raises(ValueError, match=expected) as info:
        load_prices(path)
    assert "prices.csv" in str(info.value)


def test_load_prices_of_a_missing_file_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read the price table"):
        load_prices(tmp_path / "nope.csv")


# -- instance comparison -------------------------------------------------------------------------------


def test_compare_instances_picks_fastest_and_cheapest(synthetic: Synthetic) -> None:
    comparison = compare_instances(synthetic.store, synthetic.prices())
    assert set(comparison.machines) == {synthetic.big.machine_id, synthetic.small.machine_id}
    assert {r.workload_id for r in comparison.rows} == {synthetic.keys[EURO], synthetic.keys[ASIAN]}  # not BOOK
    assert len(comparison.rows) == 4
    for row in comparison.rows:
        big = row.machine_id == synthetic.big.machine_id
        pair = EURO if row.workload_id == synthetic.keys[EURO] else ASIAN
        assert row.best_config == FASTEST.label() and row.evidence == "search"
        t = BASE_S[pair] * 0.15 * (1.0 if big else SLOWDOWN)
        # The median of the config's pooled samples: (t, 1.01 t), and the session's 1.02 t on the big machine.
        in_session = big and pair == EURO
        assert row.seconds == pytest.approx(t * (1.01 if in_session else 1.005))
        assert (row.seconds_low, row.seconds_high) == pytest.approx((t, t * (1.02 if in_session else 1.01)))
        assert row.n_samples == (3 if in_session else 2) and row.coverage == (0.75 if in_session else 0.5)
        assert row.s_per_million == pytest.approx(row.seconds / pair[1] * 1e6)
        assert row.usd_per_hour == (PRICES["c7i.2xlarge"] if big else SMALL_PRICE)
        assert row.usd_per_million == pytest.approx(row.s_per_million / 3600 * row.usd_per_hour)
        assert row.usd_per_1k_runs == pytest.approx(row.seconds * 1000 / 3600 * row.usd_per_hour)
        assert row.fastest is big and not row.tied_fastest  # 3x apart: far outside the noise
        assert row.cheapest is not big and not row.tied_cheapest  # 3x slower but 4x cheaper per hour
        assert row.label == ("c7i.2xlarge" if big else "local: Synthetic EPYC (2 cores)")


def test_compare_instances_without_prices_ranks_by_time(synthetic: Synthetic) -> None:
    comparison = compare_instances(synthetic.store)
    assert not comparison.priced
    for row in comparison.rows:
        assert row.usd_per_hour is None and row.usd_per_million is None and row.usd_per_1k_runs is None
        assert row.cheapest is None and row.tied_cheapest is None  # no prices: nothing is called cheapest
        assert row.fastest is (row.machine_id == synthetic.big.machine_id)
    data = comparison.to_dict()
    assert not any("cheapest" in row or "usd_per_hour" in row for row in data["rows"])
    assert "cheapest" not in comparison.table() and "$" not in comparison.table()


def test_a_machine_missing_from_the_price_table_gets_no_cost(synthetic: Synthetic,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="autotune.report"):
        comparison = compare_instances(synthetic.store, PRICES)
    assert synthetic.small.machine_id in caplog.text and "no price" in caplog.text
    for row in comparison.rows:
        big = row.machine_id == synthetic.big.machine_id
        assert (row.usd_per_million is not None) is big
        assert row.cheapest is big  # the only machine with a price


def test_compare_instances_needs_two_machines_on_a_workload(tmp_path: Path) -> None:
    with open_storage(f"sqlite:///{tmp_path}/one.db") as store:
        _fill(store, small_pairs=())
        with pytest.raises(ValueError, match="at least 2 machines"):
            compare_instances(store)


def test_compare_instances_validates_prices(synthetic: Synthetic) -> None:
    with pytest.raises(ValueError, match="non-negative"):
        compare_instances(synthetic.store, {"c7i.2xlarge": -1.0})


def test_comparison_outputs(synthetic: Synthetic) -> None:
    comparison = compare_instances(synthetic.store, synthetic.prices())
    assert isinstance(comparison, InstanceComparison)
    data = json.loads(json.dumps(comparison.to_dict()))
    assert data["priced"] and len(data["rows"]) == 4 and all("cheapest" in r for r in data["rows"])
    rows = list(csv.DictReader(io.StringIO(comparison.to_csv())))
    assert len(rows) == 4 and {r["fastest"] for r in rows} == {"True", "False"}
    table = comparison.table()
    assert "c7i.2xlarge" in table and "local: Synthetic EPYC (2 cores)" in table and "cheapest" in table
    short = lambda key: key.split("-")[0] + "-" + key.split("-")[1][:6]  # noqa: E731
    assert short(synthetic.keys[EURO]) in table and short(synthetic.keys[BOOK]) not in table
    assert "$ per 1,000 runs" in table


# -- HTML report --------------------------------------------------------------------------------------


def _check_png(path: Path) -> None:
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    with Image.open(path) as image:
        assert image.size[0] > 0 and image.size[1] > 0


def test_report_without_a_model_skips_predictions(synthetic: Synthetic, tmp_path: Path) -> None:
    result = write_report(synthetic.store, tmp_path / "out", prices=synthetic.prices(), title="Q3 <runs> & more")
    assert result.path == tmp_path / "out" / "report.html"
    assert set(result.skipped) == {"Predicted vs measured time", "Time to a target"}
    assert "no model" in result.skipped["Predicted vs measured time"]
    assert "no session tuned for a precision target" in result.skipped["Time to a target"]
    assert result.sections == tuple(s for s in SECTIONS if s not in result.skipped)
    text = result.path.read_text(encoding="utf-8")
    for title in SECTIONS:
        assert title in text
    assert "Q3 &lt;runs&gt; &amp; more" in text and "<runs>" not in text
    assert text.count("data:image/png;base64,") == len(result.figures) >= 5  # heat maps: one per machine
    assert "<script" not in text and "http://" not in text and "https://" not in text
    for figure in result.figures:
        assert figure.parent == result.path.parent
        _check_png(figure)
    assert f"{1 / 0.15:.4g}" in text  # the speed-up over Config()


def test_report_with_a_model(synthetic: Synthetic, tmp_path: Path) -> None:
    model = ConfigTimeModel(n_estimators=5).fit(training_set(synthetic.store))
    result = write_report(synthetic.store, tmp_path, model=model)
    assert set(result.skipped) == {"Time to a target"}
    assert result.sections == tuple(s for s in SECTIONS if s != "Time to a target")
    assert (tmp_path / "predicted.png").stat().st_size > 0
    _check_png(tmp_path / "predicted.png")


def test_report_skips_a_model_that_cannot_predict_and_draws_unpriced_machines(synthetic: Synthetic,
                                                                             tmp_path: Path) -> None:
    result = write_report(synthetic.store, tmp_path, model=ConfigTimeModel(), prices=PRICES)
    assert set(result.skipped) == {"Predicted vs measured time", "Time to a target"}
    assert "cannot predict" in result.skipped["Predicted vs measured time"]
    assert "Instance comparison" in result.sections
    _check_png(tmp_path / "instances.png")


def test_report_uses_the_stored_model(synthetic: Synthetic, tmp_path: Path) -> None:
    train(synthetic.store, n_estimators=5)
    result = write_report(synthetic.store, tmp_path)
    assert "Predicted vs measured time" in result.sections
    assert "the stored model" in result.path.read_text(encoding="utf-8")


def test_report_of_an_empty_database_skips_every_section(tmp_path: Path) -> None:
    with open_storage(f"sqlite:///{tmp_path}/empty.db") as store:
        result = write_report(store, tmp_path / "out")
    assert result.sections == () and result.figures == ()
    assert set(result.skipped) == set(SECTIONS)
    text = result.path.read_text(encoding="utf-8")
    assert text.count("Skipped:") == len(SECTIONS)
    assert "at least 2 machines" in result.skipped["Instance comparison"]


def test_report_out_dir_must_not_be_a_file(synthetic: Synthetic, tmp_path: Path) -> None:
    path = tmp_path / "report"
    path.write_text("")
    with pytest.raises(ValueError, match="is a file"):
        write_report(synthetic.store, path)


def test_report_shows_time_to_target_from_a_real_target_session(tmp_path: Path) -> None:
    from autotune import tune
    from autotune.space import search_space
    from kernels import AsianOption, Target

    from .conftest import FAST

    asian = AsianOption(S0=100.0, K=100.0, T=1.0, r=0.05, sigma=0.2, n_steps=8)
    with open_storage(f"sqlite:///{tmp_path}/t.db") as store:
        report = tune(asian, target=Target(rtol=2e-3), storage=store, budget_trials=2, measure_options=FAST,
                      space=search_space(asian, 2**14, backends=("numpy",), executors=("serial",), qmc=(False,)))
        result = write_report(store, tmp_path / "out")
    assert "Time to a target" in result.sections
    text = result.path.read_text(encoding="utf-8")
    assert Target(rtol=2e-3).label() in text and report.best_config.label() in text
    assert f"{report.speedup_over_default:.4g}" in text
    _check_png(tmp_path / "out" / "to_target.png")
