"""Grouped cross-validation of the config choice, against the baselines."""

from __future__ import annotations

import json

import numpy as np
import pytest

from autotune.model import METHODS, TrainingDataError, TrainingSet, evaluate
from autotune.storage import Storage


@pytest.fixture(scope="module")
def by_workload(data: TrainingSet):
    return evaluate(data, group_by="workload", n_splits=3, n_estimators=30)


def test_model_is_close_to_the_oracle_and_beats_the_default(by_workload) -> None:
    model, default = by_workload.method("model"), by_workload.method("default")
    assert model.coverage == 1.0 and model.n_groups == by_workload.n_groups > 0
    assert model.fraction_of_oracle > 0.9
    assert model.fraction_of_oracle > default.fraction_of_oracle
    assert model.speedup_over_default > 1.5
    assert 0 < model.worst <= model.fraction_of_oracle <= 1.0
    assert model.top1 <= model.top3


def test_report_lists_every_method_in_a_table(by_workload) -> None:
    assert [m.name for m in by_workload.methods] == list(METHODS)
    oracle = by_workload.method("oracle")
    assert (oracle.fraction_of_oracle, oracle.top1, oracle.worst) == (1.0, 1.0, 1.0)
    assert by_workload.method("default").speedup_over_default == pytest.approx(1.0)
    assert by_workload.method("best_static").speedup_over_static == pytest.approx(1.0)
    assert by_workload.method("oracle").speedup_over_static >= 1.0
    for m in by_workload.methods:
        assert 0.0 < m.coverage <= 1.0
    table = by_workload.table()
    for name in METHODS:
        assert name in table
    assert "frac_oracle" in table and "coverage" in table and "vs_static" in table
    json.dumps(by_workload.to_dict())
    with pytest.raises(KeyError, match="no method"):
        by_workload.method("magic")


def test_held_out_workloads_are_never_in_training(by_workload, data: TrainingSet) -> None:
    folds: dict[int, set[str]] = {}
    for g in by_workload.groups:
        folds.setdefault(g.fold, set()).add(g.workload_id)
    assert len(folds) == by_workload.n_folds == 3
    seen = [w for ws in folds.values() for w in ws]
    assert len(seen) == len(set(seen)) == len(np.unique(data.workload_ids))


@pytest.mark.parametrize("group_by", ["machine", "both"])
def test_machines_can_be_held_out_too(data: TrainingSet, group_by: str) -> None:
    report = evaluate(data, group_by=group_by, n_splits=2, n_estimators=8)
    assert report.group_by == group_by
    assert report.n_folds == (2 if group_by == "machine" else 4)
    assert report.method("model").fraction_of_oracle > report.method("default").fraction_of_oracle


def test_evaluate_reads_a_store(synthetic_store: Storage, data: TrainingSet) -> None:
    first = str(data.machine_ids[0])
    report = evaluate(synthetic_store, machine_id=first, group_by="both", n_splits=2, n_estimators=5)
    assert report.group_by == "workload"  # one machine: nothing else to hold out
    assert {g.machine_id for g in report.groups} == {first}


def test_bad_arguments_and_too_little_data(store: Storage, data: TrainingSet) -> None:
    with pytest.raises(ValueError, match="group_by must be one of"):
        evaluate(data, group_by="config")
    with pytest.raises(ValueError, match="n_splits must be an int >= 2"):
        evaluate(data, n_splits=1)
    with pytest.raises(TypeError):
        evaluate(data, n_trees=3)
    with pytest.raises(TrainingDataError, match="no COMPLETE measurements"):
        evaluate(store)
    one_workload = data.subset(data.workload_ids == data.workload_ids[0])
    with pytest.raises(TrainingDataError, match="at least 2 workloads"):
        evaluate(one_workload)


def test_explicit_holdout_scores_only_the_named_workloads(data: TrainingSet) -> None:
    workloads = sorted(set(data.workload_ids.tolist()))
    held = workloads[:3]
    report = evaluate(data, holdout_workloads=held, n_estimators=30)
    assert report.group_by == "holdout" and report.n_folds == 1
    assert {g.workload_id for g in report.groups} <= set(held)
    assert report.method("model").fraction_of_oracle > 0.8
    with pytest.raises(TrainingDataError, match="holdout_workloads"):
        evaluate(data, holdout_workloads=["no-such-workload"])
