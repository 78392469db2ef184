"""Config claims: of the tuners sharing a study, one measures each config (SQLite and PostgreSQL)."""

from __future__ import annotations

import multiprocessing
import traceback
from typing import Any

from sqlalchemy import text

from autotune.storage import Storage, open_storage
from kernels import Config

from ._data import CONFIG, MACHINE, WORKLOAD, record, seed

N_SIMS = 100_000  # record()'s


def _session(store: Storage) -> int:
    return store.create_session(MACHINE, WORKLOAD, n_sims=N_SIMS, sampler="brute")


def test_first_claim_wins_and_a_finished_holder_keeps_it_once_measured(seeded: tuple[Storage, str]) -> None:
    store, _ = seeded
    first, second = _session(store), _session(store)
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, CONFIG, first) is None
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, CONFIG, first) is None  # its own: still held
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, CONFIG, second) == first
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS + 1, CONFIG, second) is None  # another n_sims
    other = Config(workers=1)  # not stored yet: the claim stores it
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, other, second) is None
    assert store.pending_claims(MACHINE, WORKLOAD, N_SIMS, other_than=second) == 1  # `first` is measuring CONFIG
    assert store.pending_claims(MACHINE, WORKLOAD, N_SIMS, other_than=first) == 1  # `second` is measuring `other`
    store.add_measurements([record(session_id=first, source="tune")])
    store.finish_session(first, status="complete")
    assert store.pending_claims(MACHINE, WORKLOAD, N_SIMS, other_than=second) == 0
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, CONFIG, second) == first  # measured: nothing to take over


def test_a_claim_left_unmeasured_by_a_stopped_session_passes_on(seeded: tuple[Storage, str]) -> None:
    store, _ = seeded
    dead, alive = _session(store), _session(store)
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, CONFIG, dead) is None
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, CONFIG, alive) == dead  # still running: its claim
    store.finish_session(dead, status="failed")
    assert store.pending_claims(MACHINE, WORKLOAD, N_SIMS, other_than=alive) == 0
    assert store.claim_config(MACHINE, WORKLOAD, N_SIMS, CONFIG, alive) is None  # taken over
    with store.session(read_only=True) as session:
        holders = session.execute(text("SELECT session_id FROM config_claims")).scalars().all()
    assert holders == [alive]


def _claimer(url: str, session_id: int, barrier: Any, results: Any) -> None:
    try:
        with open_storage(url) as store:
            barrier.wait(timeout=60)
            won = [i for i in range(20)
                   if store.claim_config(MACHINE, WORKLOAD, N_SIMS, Config(chunk_size=1024 * (i + 1)), session_id)
                   is None]
        results.put((session_id, won))
    except BaseException:
        results.put((session_id, traceback.format_exc()))


def test_racing_processes_claim_each_config_once(any_db_url: str) -> None:
    with open_storage(any_db_url) as store:
        seed(store)
        sessions = [_session(store) for _ in range(4)]
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(len(sessions)), ctx.Queue()
    processes = [ctx.Process(target=_claimer, args=(any_db_url, sid, barrier, results)) for sid in sessions]
    for process in processes:
        process.start()
    outcomes = dict(results.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)
    assert all(isinstance(won, list) for won in outcomes.values()), outcomes
    won = sorted(i for claimed in outcomes.values() for i in claimed)
    assert won == list(range(20))  # every config claimed, none twice
