"""Tuning several workloads under one time budget (``autotune tune SPEC``, ``profile --suite``, the demo)."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kernels import check_real

from .._errors import TuningError
from ..measure import MeasureOptions
from ..space import search_space
from ..storage import Storage, open_storage
from ..suites import Suite, SuiteEntry
from ._report import TuningReport
from ._tune import tune

if TYPE_CHECKING:
    from ..accuracy import TargetReport

__all__ = ["SuiteRun", "tune_suite"]

log = logging.getLogger(__name__)

#: The least time a workload is given when a total budget is nearly spent.
MIN_SECONDS_PER_WORKLOAD = 1.0


@dataclass(frozen=True)
class SuiteRun:
    """What :func:`tune_suite` did.

    Attributes:
        reports: ``(entry name, report)`` of every workload tuned, in order.
        failed: ``(entry name, why)`` of workloads where no config completed.
        not_tuned: names of workloads left untuned because the total time budget was spent.
        seconds: wall-clock time of the whole run.
    """

    reports: tuple[tuple[str, TuningReport | TargetReport], ...]
    failed: tuple[tuple[str, str], ...]
    not_tuned: tuple[str, ...]
    seconds: float


def tune_suite(
    entries: Sequence[SuiteEntry],
    *,
    storage: str | Storage | None = None,
    suite: Suite | None = None,
    budget_trials: int | None = None,
    budget_seconds: float | None = None,
    total_seconds: float | None = None,
    sampler: str = "auto",
    seed: int | None = None,
    backends: Sequence[str] | None = None,
    qmc: bool = True,
    measure_options: MeasureOptions | None = None,
    progress: bool | None = None,
    on_start: Callable[[int, int, SuiteEntry], None] | None = None,
) -> SuiteRun:
    """Tune each workload in turn (resuming earlier sessions) within an optional total time budget.

    Args:
        entries: the workloads to tune (for example ``get_suite("demo").entries``).
        storage: as for :func:`tune`.
        suite: take each entry's search space, measure options and trial budget from this suite
            (``backends`` and ``qmc`` are then ignored; ``measure_options``, if given, still wins).
        budget_trials, budget_seconds, sampler, seed, progress: per workload, as for :func:`tune`.
        total_seconds: stop starting workloads after this many seconds; the rest are reported
            in ``not_tuned``. A workload started near the end still gets its remaining share.
        backends: backends to search (default: all available).
        qmc: also search quasi-random configs.
        measure_options: as for :func:`tune`.
        on_start: called as ``on_start(index, count, entry)`` before each workload (for progress lines).

    Each entry's name is stored as its workload's display name (``tune(..., name=...)``), except
    the generated ``workload-N`` of a spec file entry that has none.

    Returns:
        A :class:`SuiteRun`. A workload where no config completes is listed in ``failed`` and the
        run goes on.

    Raises:
        ValueError: bad arguments, naming the argument.
        autotune.StorageError: the results database cannot be used.
    """
    if total_seconds is not None:
        total_seconds = check_real("", "total_seconds", total_seconds, low=0, low_open=True)
    entries = list(entries)
    if not all(isinstance(e, SuiteEntry) for e in entries):
        raise ValueError("entries must be autotune.suites.SuiteEntry items (name, workload, n_sims)")
    with contextlib.ExitStack() as stack:  # a store opened here is closed here
        store = storage if isinstance(storage, Storage) else stack.enter_context(open_storage(storage))
        started = time.perf_counter()
        reports: list[tuple[str, TuningReport | TargetReport]] = []
        failed: list[tuple[str, str]] = []
        not_tuned: list[str] = []
        for i, entry in enumerate(entries):
            elapsed = time.perf_counter() - started
            if total_seconds is not None and elapsed >= total_seconds:
                not_tuned = [e.name for e in entries[i:]]
                log.info("time budget of %.0f s spent: %d workloads not tuned", total_seconds, len(not_tuned))
                break
            if entry.target is not None:  # the execution space is built for the size the target needs
                space, options = None, measure_options or (suite.measure_options if suite is not None else None)
                trials = budget_trials if budget_trials is not None or suite is None else suite.budget_trials
            elif suite is not None:
                space, options = suite.space(entry), measure_options or suite.measure_options
                trials = budget_trials if budget_trials is not None else suite.budget_trials
            else:
                space = search_space(entry.workload, entry.n_sims, backends=tuple(backends) if backends else None,
                                     qmc=(False, True) if qmc else (False,))
                options, trials = measure_options, budget_trials
            left = None if total_seconds is None else max(total_seconds - elapsed, MIN_SECONDS_PER_WORKLOAD)
            limits = [x for x in (budget_seconds, left) if x is not None]
            if on_start is not None:
                on_start(i, len(entries), entry)
            try:
                report = tune(entry.workload, entry.n_sims, target=entry.target, storage=store, budget_trials=trials,
                              budget_seconds=min(limits) if limits else None, sampler=sampler, seed=seed, space=space,
                              measure_options=options, progress=progress, name=entry.display_name)
            except TuningError as exc:
                log.info("%s: not tuned: %s", entry.name, exc)  # the SuiteRun says so to the caller
                failed.append((entry.name, str(exc)))
                continue
            reports.append((entry.name, report))
        return SuiteRun(tuple(reports), tuple(failed), tuple(not_tuned), time.perf_counter() - started)
