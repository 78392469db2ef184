"""experiments/coverage.py --merge: rerun rows replace their namesakes, the others stay."""

from __future__ import annotations

import json

import pytest

from experiments import coverage


def _row(family: str, estimator: str, claimed: float, observed: float) -> dict:
    return {"family": family, "estimator": estimator, "claimed": claimed, "observed": observed}


def test_merge_replaces_only_the_rows_rerun(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(coverage, "RESULTS", tmp_path)
    old_rows = [_row("european", "qmc", 0.95, 0.90), _row("asian", "qmc", 0.95, 0.94)]
    (tmp_path / "coverage.json").write_text(json.dumps({"summary": {"runs": 500, "total_s": 800.0},
                                                        "rows": old_rows}))
    new = [_row("european", "qmc", 0.95, 0.92), _row("european", "qmc32", 0.95, 0.95)]
    summary, rows = coverage.merge({"runs": 500, "total_s": 20.0, "jobs": 1}, new)
    assert [(r["family"], r["estimator"], r["observed"]) for r in rows] == [
        ("european", "qmc", 0.92), ("asian", "qmc", 0.94), ("european", "qmc32", 0.95)]
    assert summary["total_s"] == 800.0 and summary["rerun"]["total_s"] == 20.0


def test_merge_refuses_a_different_number_of_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(coverage, "RESULTS", tmp_path)
    (tmp_path / "coverage.json").write_text(json.dumps({"summary": {"runs": 500}, "rows": []}))
    with pytest.raises(SystemExit, match="500 runs per row"):
        coverage.merge({"runs": 200, "total_s": 1.0, "jobs": 1}, [])
