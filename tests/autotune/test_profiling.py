"""Machine profiling: the micro-benchmarks measure real figures and profile_machine stores them."""

from __future__ import annotations

import json
import math
import os
import socket
import sys

import pytest

from autotune.profiling import FIGURES, ProfileResult, profile_machine, run_micro_benchmarks
from autotune.storage import open_storage

USABLE = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
KEYS = {*FIGURES, "thread_scaling", "usable_cores", "quick", "process_start_method", "versions", "errors"}


@pytest.fixture(scope="module", autouse=True)
def network_attempts():
    """Fail (and remember) any attempt to reach a host; local AF_UNIX sockets (the fork server) stay allowed.

    Module-scoped, so that it also guards the module-scoped benchmark run below.
    """
    attempts: list[object] = []
    connect = socket.socket.connect

    def guarded(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append(address)
            raise OSError(f"network access in a test: {address!r}")
        return connect(self, address)

    def no_lookup(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError(f"DNS lookup in a test: {args!r}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", guarded)
        mp.setattr(socket, "getaddrinfo", no_lookup)
        mp.setenv("AUTOTUNE_METADATA_PROBE", "0")
        yield attempts
    assert attempts == [], f"something tried to reach the network: {attempts}"


def test_the_network_guard_works(network_attempts: list) -> None:
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock, pytest.raises(OSError, match="network"):
            sock.connect(("192.0.2.1", 80))  # TEST-NET-1: never routed
        with pytest.raises(OSError, match="DNS lookup"):
            socket.create_connection(("example.invalid", 80), timeout=0.01)
        assert len(network_attempts) == 2
    finally:
        network_attempts.clear()


@pytest.fixture(scope="module")
def quick() -> dict:
    return run_micro_benchmarks(quick=True)


def test_quick_run_has_every_key_and_is_json_safe(quick: dict) -> None:
    assert set(quick) == KEYS
    assert quick["quick"] is True
    assert quick["usable_cores"] == USABLE
    assert json.loads(json.dumps(quick)) == quick
    assert set(quick["versions"]) == {"numpy", "numba", "jax"}
    assert quick["versions"]["numpy"]


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_figure_is_positive_and_finite_or_explained(quick: dict, name: str) -> None:
    value = quick[name]
    if value is None:
        assert quick["errors"].get(name), f"{name} is None without a reason in errors"
    else:
        assert isinstance(value, float) and math.isfinite(value) and value > 0, (name, value)
        assert name not in quick["errors"]


def test_figures_are_in_plausible_ranges(quick: dict) -> None:
    # Wide bounds: they catch unit mistakes (ns vs s, bytes vs GB), not slow machines.
    assert 1e6 < quick["normal_draws_per_s_1core"] < 1e11
    assert 1e6 < quick["exp_per_s"] < 1e12
    assert 0.1 < quick["memory_bandwidth_gb_s"] < 1e4
    assert 1e-4 < quick["process_spawn_s"] < 60
    for name in ("numba_compile_s", "jax_compile_s"):
        if quick[name] is not None:
            assert 1e-4 < quick[name] < 60


def test_thread_scaling_covers_every_usable_core(quick: dict) -> None:
    scaling = quick["thread_scaling"]
    assert [p["threads"] for p in scaling] == list(range(1, USABLE + 1))
    x1 = scaling[0]["draws_per_s"]
    assert scaling[0]["efficiency"] == pytest.approx(1.0)
    for p in scaling:
        assert p["draws_per_s"] > 0 and math.isfinite(p["draws_per_s"])
        assert p["efficiency"] == pytest.approx(p["draws_per_s"] / (p["threads"] * x1))
    assert quick["normal_draws_per_s_all"] == scaling[-1]["draws_per_s"]


def test_missing_numba_and_jax_leave_none_and_a_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes the import fail, as on a machine without the package.
    monkeypatch.setitem(sys.modules, "numba", None)
    monkeypatch.setitem(sys.modules, "jax", None)
    results = run_micro_benchmarks(quick=True, max_workers=1)
    for name, package in (("numba_compile_s", "numba"), ("jax_compile_s", "jax")):
        assert results[name] is None
        assert package in results["errors"][name]
    assert results["normal_draws_per_s_1core"] > 0  # the other figures are still measured
    assert len(results["thread_scaling"]) == 1  # max_workers caps the thread counts


def test_profile_machine_stores_the_results(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    store = open_storage(url)
    result = profile_machine(store, quick=True, max_workers=1)
    assert isinstance(result, ProfileResult)
    assert result.seconds > 0
    assert result.results["thread_scaling"][0]["threads"] == 1 and len(result.results["thread_scaling"]) == 1
    machine = store.machine(result.machine_id)
    assert machine is not None and machine.usable_cores == USABLE
    rows = store.profiles(result.machine_id)
    assert len(rows) == 1
    assert rows[0].results == result.results
    assert json.loads(json.dumps(result.to_dict())) == {"machine_id": result.machine_id,
                                                          "results": result.results, "seconds": result.seconds}


def test_profile_machine_opens_a_url(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The figures themselves are covered above; this checks the URL path of the storage plumbing.
    monkeypatch.setattr("autotune.profiling._micro.run_micro_benchmarks",
                        lambda **kwargs: {"normal_draws_per_s_1core": 1.5, "errors": {}})
    url = f"sqlite:///{tmp_path / 'r.db'}"
    first = profile_machine(url, quick=True)
    second = profile_machine(url, quick=True)
    assert first.machine_id == second.machine_id
    rows = open_storage(url).profiles(first.machine_id)
    assert [r.results for r in rows] == [first.results, second.results]


def test_table_mentions_each_figure(quick: dict) -> None:
    quick = {**quick, "errors": {"jax_compile_s": "ImportError: jax could not be imported"}}
    table = ProfileResult(machine_id="0123456789abcdef", results=quick, seconds=1.25).table()
    assert "0123456789abcdef" in table
    lines = table.splitlines()
    for name in FIGURES:
        line = next((ln for ln in lines if ln.split()[0] == name), None)
        assert line is not None, f"{name} missing from\n{table}"
        assert FIGURES[name] in line
    for k in range(1, USABLE + 1):
        assert any(ln.startswith(f"thread_scaling[{k}]") for ln in lines)
    assert "usable_cores" in table and "versions.numpy" in table
    assert "errors.jax_compile_s" in table and "could not be imported" in table


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_bad_max_workers_is_rejected(bad: object, tmp_path) -> None:
    with pytest.raises(ValueError, match="max_workers"):
        run_micro_benchmarks(quick=True, max_workers=bad)
    with pytest.raises(ValueError, match="max_workers"):
        profile_machine(f"sqlite:///{tmp_path / 'r.db'}", quick=True, max_workers=bad)
    assert not (tmp_path / "r.db").exists()  # rejected before anything was opened


def test_bad_quick_and_store_are_rejected() -> None:
    with pytest.raises(ValueError, match="quick"):
        run_micro_benchmarks(quick=1)
    with pytest.raises(ValueError, match="store"):
        profile_machine(42, quick=True)
