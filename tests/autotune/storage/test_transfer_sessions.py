"""Merges keep tuning sessions: after ``import``, the cache tier of ``tuned_simulate`` serves the tuned config.

A real tuning session is run once into a SQLite file; its export is imported into empty
databases (SQLite and PostgreSQL), and carried SQLite -> PostgreSQL -> SQLite.
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from autotune import tune, tuned_simulate
from autotune.api import reset
from autotune.measure import MeasureOptions
from autotune.space import search_space
from autotune.storage import Storage, export_results, import_results, open_storage
from autotune.tuner import TuningReport
from kernels import EuropeanOption

EURO = EuropeanOption(100.0, 100.0, 1.0, 0.02, 0.2)
N_SIMS = 4000
FAST = MeasureOptions(min_repeats=2, max_repeats=3, min_total_s=0.0, isolate=False)
MANY_CALLS = 10**9  # one-off costs repaid: the cache tier's config is used whatever its first call cost


@pytest.fixture(autouse=True)
def _fresh_runtime() -> Iterator[None]:
    reset()  # tuned_simulate caches stores and decisions per process
    yield
    reset()


@pytest.fixture(scope="module")
def tuned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TuningReport]:
    """A SQLite file holding one complete tuning session of EURO on this machine."""
    path = tmp_path_factory.mktemp("tuned") / "a.db"
    space = search_space(EURO, N_SIMS, cores=2, backends=("numpy",), executors=("serial", "threads"), qmc=(False,),
                         chunk_sizes=(None, 1024))
    report = tune(EURO, N_SIMS, storage=f"sqlite:///{path}", space=space, sampler="brute", measure_options=FAST,
                  progress=False)
    assert isinstance(report, TuningReport)
    return path, report


@pytest.fixture
def source(tuned: tuple[Path, TuningReport], tmp_path: Path) -> Iterator[Storage]:
    """A copy of the tuned database (tests must not change the module's), made with SQLite's backup API
    (a copy of the file alone would miss what is still in its write-ahead log)."""
    copy = tmp_path / "a.db"
    with sqlite3.connect(tuned[0]) as original, sqlite3.connect(copy) as duplicate:
        original.backup(duplicate)
    original.close()
    duplicate.close()
    with open_storage(str(copy)) as store:
        yield store


def _sessions(store: Storage) -> list[dict[str, Any]]:
    """Every session's fields but its id (local to each database), with the uids of its measurements."""
    out = []
    with store.session(read_only=True) as session:
        from autotune.storage._models import TuningSessionModel

        for row in session.query(TuningSessionModel).order_by(TuningSessionModel.started_at):
            fields = {c.name: getattr(row, c.name) for c in TuningSessionModel.__table__.columns if c.name != "id"}
            fields["uids"] = sorted(m.uid for m in store.measurements(session_id=row.id))
            out.append(fields)
    return out


def _cache_decision(url: str) -> Any:
    return tuned_simulate(EURO, N_SIMS, storage=url, seed=1, calls=MANY_CALLS, record=False).decision


def test_import_carries_sessions_and_the_cache_tier_works(source: Storage, tuned: tuple[Path, TuningReport],
                                                          any_db_url: str, tmp_path: Path) -> None:
    report = tuned[1]
    path = tmp_path / "a.json.gz"
    document = export_results(source, path)
    assert [s["status"] for s in document["tuning_sessions"]] == ["complete"]
    assert document["tuning_sessions"][0]["measurement_uids"]
    with open_storage(any_db_url) as target:
        assert _cache_decision(any_db_url).source != "cache"  # empty: nothing tuned yet
        reset()
        counts = import_results(target, str(path))
        assert counts.tuning_sessions == 1 and counts.measurements == len(document["measurements"])
        assert _sessions(target) == _sessions(source)  # the session, and which measurements it took
        decision = _cache_decision(any_db_url)
        assert decision.source == "cache"
        assert decision.config == report.best_config
        again = import_results(target, str(path))
        assert (again.tuning_sessions, again.measurements) == (0, 0)
        assert len(_sessions(target)) == 1


def test_sqlite_to_postgresql_and_back(source: Storage, tuned: tuple[Path, TuningReport], pg_url: str,
                                       tmp_path: Path) -> None:
    with open_storage(pg_url) as pg:
        counts = import_results(pg, source)  # straight from one database into the other
        assert counts.tuning_sessions == 1
        back_url = f"sqlite:///{tmp_path / 'back.db'}"
        with open_storage(back_url) as back:
            import_results(back, export_results(pg, tmp_path / "pg.json"))
            for store in (pg, back):
                assert _sessions(store) == _sessions(source)
                assert [dataclasses.replace(m, session_id=None) for m in store.measurements()] == [
                    dataclasses.replace(m, session_id=None) for m in source.measurements()]
    for url in (pg_url, back_url):
        reset()
        decision = _cache_decision(url)
        assert (decision.source, decision.config) == ("cache", tuned[1].best_config)


def test_running_sessions_stay_home_and_bad_session_items_are_refused(source: Storage, target_url: str) -> None:
    with source.session() as session:
        from autotune.storage._models import TuningSessionModel

        session.add(TuningSessionModel(machine_id=session.query(TuningSessionModel).first().machine_id,
                                       workload_id=session.query(TuningSessionModel).first().workload_id,
                                       n_sims=N_SIMS, status="running", budget={}))
    document = export_results(source)
    assert [s["status"] for s in document["tuning_sessions"]] == ["complete"]  # not the running one
    with open_storage(target_url) as target:
        for change, message in (({"status": "running"}, r"tuning_sessions\[0\]\.status must be one of"),
                                ({"best_config_id": "nope"}, r"tuning_sessions\[0\]\.best_config_id 'nope' names a "
                                                             r"config that is neither"),
                                ({"measurement_uids": "x"}, r"tuning_sessions\[0\]\.measurement_uids must be a list"),
                                ({"n_sims": 0}, r"tuning_sessions\[0\]\.n_sims must be a positive integer")):
            bad = {**document, "tuning_sessions": [{**document["tuning_sessions"][0], **change}]}
            with pytest.raises(ValueError, match=message):
                import_results(target, bad)
        assert target.count_measurements() == 0  # nothing written


@pytest.fixture
def target_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'target.db'}"
