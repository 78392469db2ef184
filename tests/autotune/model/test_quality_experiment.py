"""The scoring of experiments/model_quality.py's side-by-side re-measurement (``validate``)."""

from __future__ import annotations

import json
import math

import pytest

from experiments.model_quality import _summary, _validated_section, validate_table


def _group(model: float, default: float, model_top1: bool) -> dict:
    return {"ratios": {"model": model, "default": default}, "top1": {"model": model_top1, "default": False}}


def test_summary_is_the_geometric_mean_of_ratios_with_top1_and_worst() -> None:
    groups = [_group(1.0, 0.5, True), _group(0.5, 0.25, False)]
    s = _summary(groups, "model")
    assert s["fraction_of_oracle"] == pytest.approx(math.sqrt(0.5))
    assert s["top1"] == 0.5 and s["worst"] == 0.5 and s["n_groups"] == 2
    assert s["speedup_over_default"] == pytest.approx(2.0)  # t_default / t_model in both groups


def test_summary_of_no_groups_is_nan_not_an_error() -> None:
    s = _summary([], "model")
    assert math.isnan(s["fraction_of_oracle"]) and s["n_groups"] == 0


def test_validated_section_pools_the_groups_of_every_measured_machine(tmp_path) -> None:
    for machine, groups in (("m1", [_group(1.0, 0.5, True)]), ("m2", [_group(0.25, 0.25, False)]),
                            ("other", [_group(0.01, 0.01, False)])):
        doc = {"machine_id": machine, "rounds": 15, "top": 5, "groups": groups,
               "summary": {m: _summary(groups, m) for m in ("model", "default")}}
        (tmp_path / f"model_quality_validate_{machine}.json").write_text(json.dumps(doc))
    text, summary = _validated_section(tmp_path, ["m1", "m2"])  # "other" is not in this database
    assert summary["all"]["model"]["fraction_of_oracle"] == pytest.approx(0.5)
    assert summary["all"]["model"]["n_groups"] == 2 and set(summary) == {"all", "m1", "m2"}
    assert "m1 + m2" in "\n".join(text)


def test_validated_section_says_how_to_get_it_when_missing(tmp_path) -> None:
    text, summary = _validated_section(tmp_path, ["m1"])
    assert summary is None and "validate" in text[0]


def test_validate_table_names_the_stored_oracle_stored_best() -> None:
    groups = [_group(1.0, 0.5, True)]
    doc = {"machine_id": "m1", "rounds": 15,
           "summary": {"model": _summary(groups, "model"), "oracle": _summary(groups, "model")}}
    table = validate_table(doc)
    rows = [line.split()[0] for line in table.splitlines()[3:]]
    assert rows == ["model", "stored_best"]
