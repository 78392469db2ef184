"""experiments/fft_peers.py and experiments/bench_fft.py: the peers' answers, the grid search, the quick bench."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from experiments import bench_fft as bf
from experiments import fft_peers as fp
from kernels import Pareto, Poisson, PolicyGroup, PolicyTerms, Portfolio
from kernels._analytic import portfolio_moments

pytest.importorskip("gemact")
pytest.importorskip("aggregate")

ISSUE = bf.SHAPES[0].portfolio  # Poisson(3) x Gamma(2, 1000), 5,000 xs 500
ONE_POLICY_AGG = Portfolio([PolicyGroup(1, Poisson(2.0), Pareto(2.5, 3000.0),
                                        PolicyTerms(500.0, 20_000.0, 1000.0, 30_000.0))])


def test_estimates_follow_the_kernels_definitions_on_a_small_discrete_distribution() -> None:
    # P(0) = 0.5, P(10) = 0.49, P(100) = 0.01: VaR_0.99 = 10 (P(L <= 10) = 0.99 >= 0.99)
    est = fp.estimates_from_pmf(np.array([0.5] + [0.0] * 9 + [0.49] + [0.0] * 89 + [0.01]), 1.0, (0.5, 0.99, 0.995))
    assert est["mean"] == pytest.approx(0.49 * 10 + 1.0)
    assert est["VaR_0.5"] == 0.0 and est["VaR_0.99"] == 10.0 and est["VaR_0.995"] == 100.0
    assert est["TVaR_0.99"] == pytest.approx(10 + 0.01 * 90 / 0.01)
    assert est["TVaR_0.5"] == pytest.approx(0 + (0.49 * 10 + 0.01 * 100) / 0.5)
    assert est["TVaR_0.995"] == 100.0


def test_gemact_and_aggregate_agree_with_each_other_and_the_analytic_mean() -> None:
    mean = portfolio_moments(ISSUE)[0]
    span = fp.default_span(ISSUE)
    g = fp.gemact_fft(ISSUE, span / 2**14, 2**14).estimates
    a = fp.aggregate_fft(ISSUE, span / 2**14, 2**14).estimates
    assert g["mean"] == pytest.approx(mean, rel=1e-6)  # local moments keep the mean
    assert a["mean"] == pytest.approx(mean, rel=1e-4)  # rounding does not, quite
    for name in ("TVaR_0.95", "TVaR_0.99", "TVaR_0.995", "std"):
        assert a[name] == pytest.approx(g[name], rel=2e-4), name
    assert g["TVaR_0.99"] > g["VaR_0.99"] > g["mean"]


def test_the_peers_apply_per_policy_aggregate_terms_alike() -> None:
    span = 400_000.0
    g = fp.gemact_fft(ONE_POLICY_AGG, span / 2**14, 2**14).estimates
    a = fp.aggregate_fft(ONE_POLICY_AGG, span / 2**14, 2**14).estimates
    unlimited = portfolio_moments(fp.without_aggregate_terms(ONE_POLICY_AGG))[0]
    assert g["mean"] < unlimited - 500  # the aggregate deductible takes at least a little off
    for name in ("mean", "TVaR_0.99", "VaR_0.995"):
        assert a[name] == pytest.approx(g[name], rel=1e-3), name
    assert g["VaR_0.995"] <= 30_000.0 and a["TVaR_0.995"] <= 30_000.0 + 1e-6  # capped by the aggregate limit


def test_aggregate_sums_policies_that_each_have_aggregate_terms() -> None:
    # two such policies: aggregate's 2-unit Portfolio against gemact's one policy convolved with itself
    two = Portfolio([PolicyGroup(2, Poisson(2.0), Pareto(2.5, 3000.0), PolicyTerms(500.0, 20_000.0, 1000.0, 30_000.0))])
    assert fp.unsupported("gemact", two) is not None and fp.unsupported("aggregate", two) is None
    step, nodes = 20.0, 2**13
    peer = fp.GemactFFT(ONE_POLICY_AGG)
    peer(step, nodes)
    x = np.asarray(peer.model.dist[0].nodes)
    pmf1 = np.diff(np.asarray(peer.model.dist[0].cumprobs), prepend=0.0)
    grid = np.zeros(2 * nodes)
    np.add.at(grid, np.rint(x / step).astype(int), pmf1)
    pmf2 = np.convolve(grid, grid)[: 2 * nodes]
    expected = fp.estimates_from_pmf(pmf2, step, two.levels)
    got = fp.aggregate_fft(two, step, 2 * nodes).estimates
    for name in ("mean", "TVaR_0.99"):
        assert got[name] == pytest.approx(expected[name], rel=5e-3), name


def test_unsupported_says_why_and_the_peers_refuse() -> None:
    groups = bf.SHAPES[3].portfolio
    assert "LossAggregation" in fp.unsupported("gemact", groups)
    assert fp.unsupported("aggregate", groups) is None
    with pytest.raises(ValueError, match="one frequency"):
        fp.gemact_fft(groups, 100.0, 1024)
    with pytest.raises(ValueError, match="power-of-2"):
        fp.aggregate_fft(ISSUE, 10.0, 1000)


@pytest.mark.parametrize("peer", ["gemact", "aggregate"])
def test_the_search_stops_when_step_and_span_agree_and_lands_near_a_fine_answer(peer: str) -> None:
    pareto = bf.SHAPES[2].portfolio  # mean + 8 sd is too short a span for its tail: the search must widen it
    run = fp.PEERS[peer](pareto)
    search = fp.refine(run, pareto, "TVaR_0.99", 1e-3)
    assert search.converged and search.seconds > 0 and len(search.runs) >= 3
    assert search.final.nodes * search.final.step > 1.5 * fp.default_span(pareto, sds=8.0)
    fine = run(search.final.nodes * search.final.step * 2 / 2**17, 2**17)
    assert search.final.estimates["TVaR_0.99"] == pytest.approx(fine.estimates["TVaR_0.99"], rel=3e-3)


def test_helpers() -> None:
    assert bf.ratio(10.0, 2.0) == 5.0 and bf.ratio(None, 1.0) is None and bf.ratio(1.0, 0.0) is None
    assert bf.verdict(30.0, 30.0) == "met" and bf.verdict(29.0, 30.0) == "missed" and bf.verdict(None, 1) == "n/a"
    assert bf.scale_mc(2.0, 1000, 1e-2, 1e-3) == pytest.approx((200.0, 100_000))
    assert bf.rel_error(101.0, 100.0) == pytest.approx(0.01) and bf.rel_error(math.nan, 1.0) is None
    assert [s.single_group for s in bf.SHAPES] == [True, True, True, False, False]
    assert bf.reference_span(ISSUE) > fp.default_span(ISSUE, sds=12.0)


def test_the_quick_bench_writes_its_rows_and_the_peers_agree_with_ours(tmp_path) -> None:
    kernels = pytest.importorskip("kernels")
    if not hasattr(kernels, "aggregate_distribution"):
        pytest.skip("kernels has no FFT method yet")
    assert bf.main(["--quick", "--shapes", "issue", "groups_agg", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "bench_fft.json").read_text())
    md = (tmp_path / "bench_fft.md").read_text()
    assert "## Aims" in md and "| issue | 0.001 | gemact FFT, search |" in md
    assert "| groups_agg | 0.001 | gemact FFT, search | n/a |" in md
    cells = {(c["shape"], c["method"]): c for c in report["cells"]}
    assert set(cells) == {(s, m) for s in ("issue", "groups_agg") for m in ("ours_target", *bf.METHODS)}
    for (shape, method), cell in cells.items():
        if cell["status"] == "n/a":
            assert (shape, method) == ("groups_agg", "gemact")
            continue
        assert cell["status"] == "measured", cell["note"]
        # every answer within 2x the tolerance of the reference (the self-agreement search may overshoot it a bit)
        assert cell["rel_error"] <= 2 * cell["tol"], (shape, method, cell["rel_error"])
    for key, ref in report["references"].items():
        assert ref["self_check"] < 1e-4, key
        for name, peer in ref["peers"].items():
            if peer["status"] == "ok":
                assert peer["error"] < 1e-3, (key, name)  # the peers agree with our reference
    assert report["references"]["issue"]["mean_error"] < 1e-6
    assert report["mc"]["issue"]["speedup"] is not None and "groups_agg" not in report["mc"]
    assert report["ratios"][0]["gemact"]["search_over_ours_target"] > 0


def test_oracle_grid_is_the_coarsest_grid_within_the_tolerance_of_the_reference() -> None:
    def run(step: float, nodes: int) -> fp.PeerRun:  # error halves with each doubling: 1/nodes
        return fp.PeerRun("fake", {"TVaR_0.99": 100.0 * (1 + 1.0 / nodes)}, 0.0, step, nodes, 1.0)

    found, error = bf.oracle_grid(run, 1000.0, 100.0, "TVaR_0.99", 1e-3)
    assert found is not None and found.nodes == 1024 and error == pytest.approx(1 / 1024)
    assert bf.oracle_grid(run, 1000.0, 100.0, "TVaR_0.99", 1e-9, max_nodes=2**12) == (None, None)
