"""TuningReport: what an offline tuning session found and what it cost."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kernels import Config


@dataclass(frozen=True)
class TuningReport:
    """The result of :func:`autotune.tune`.

    Attributes:
        best_config: the config to use (after the final interleaved re-measurement; a statistical
            tie goes to the simpler config).
        best_time_s: its median steady-state time in the final re-measurement.
        default_time_s: the default config's median in the same final re-measurement.
        speedup_over_default: ``default_time_s / best_time_s`` (None if the default failed).
        speedup_over_worst: slowest complete config's median over the best's, from the search.
        trials: trials run in this session (resumed trials not counted).
        outcomes: counts of measurement outcomes in this session, by :class:`autotune.Outcome`
            value, plus ``"pruned"`` for sampled configs that broke a hard constraint and
            ``"cached"`` for repeats of a config already measured.
        seconds: wall-clock cost of the session.
        sampler: ``"brute"``, ``"tpe"`` or ``"random"``.
        study_name: the Optuna study (resumable) in the results database.
        session_id: the row in the ``tuning_sessions`` table.
        machine_id, workload_key, n_sims: what was tuned, where.
        space_size: valid configs in the search space.
        configs_measured: configs of the space measured in this session that ran to the end
            (complete, or rejected by the accuracy gate).
        configs_failed: configs of the space measured in this session that failed or timed out.
        configs_skipped: configs of the space already measured before this session (resumed, or
            measured over another space): skipped, never measured again, but their results count.
            ``configs_examined`` sums the three; a budget that stops a search early leaves it below
            ``space_size`` (``coverage`` < 1).
        finalists: ``(config, median_s)`` of the final re-measurement, fastest first.
        history: ``(trial, elapsed_s, best_so_far_s)`` after each trial of this session.
    """

    best_config: Config
    best_time_s: float
    default_time_s: float | None
    speedup_over_default: float | None
    speedup_over_worst: float | None
    trials: int
    outcomes: dict[str, int]
    seconds: float
    sampler: str
    study_name: str
    session_id: int
    machine_id: str
    workload_key: str
    n_sims: int
    space_size: int
    configs_measured: int
    configs_failed: int
    configs_skipped: int
    finalists: tuple[tuple[Config, float], ...] = ()
    history: tuple[tuple[int, float, float], ...] = field(default=(), repr=False)

    @property
    def configs_examined(self) -> int:
        """Configs of the space whose result the search knows: measured, failed or skipped as already measured."""
        return self.configs_measured + self.configs_failed + self.configs_skipped

    @property
    def coverage(self) -> float:
        """The share of the space examined, in [0, 1]."""
        return self.configs_examined / self.space_size if self.space_size else 0.0

    def coverage_line(self) -> str:
        """E.g. ``"examined 8 of 48 configs (17%): 7 measured, 1 failed, 0 already measured"``."""
        return (f"examined {self.configs_examined} of {self.space_size} configs ({self.coverage:.0%}): "
                f"{self.configs_measured} measured, {self.configs_failed} failed, "
                f"{self.configs_skipped} already measured")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (stored with the session)."""
        return {
            "best_config": self.best_config.to_dict(),
            "best_time_s": self.best_time_s,
            "default_time_s": self.default_time_s,
            "speedup_over_default": self.speedup_over_default,
            "speedup_over_worst": self.speedup_over_worst,
            "trials": self.trials,
            "outcomes": dict(self.outcomes),
            "seconds": self.seconds,
            "sampler": self.sampler,
            "study_name": self.study_name,
            "session_id": self.session_id,
            "machine_id": self.machine_id,
            "workload_key": self.workload_key,
            "n_sims": self.n_sims,
            "space_size": self.space_size,
            "configs_examined": self.configs_examined,
            "configs_measured": self.configs_measured,
            "configs_failed": self.configs_failed,
            "configs_skipped": self.configs_skipped,
            "coverage": self.coverage,
            "finalists": [[c.to_dict(), t] for c, t in self.finalists],
            "history": [list(h) for h in self.history],
        }

    def summary(self) -> str:
        """A few human-readable lines."""
        sd = f"{self.speedup_over_default:.2f}x" if self.speedup_over_default else "n/a"
        sw = f"{self.speedup_over_worst:.2f}x" if self.speedup_over_worst else "n/a"
        outcomes = ", ".join(f"{k}={v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"best: {self.best_config.label()}  {self.best_time_s * 1e3:.2f} ms\n"
            f"speedup over default: {sd}, over worst: {sw}\n"
            f"{self.trials} trials ({outcomes}) with {self.sampler} in {self.seconds:.1f} s; study {self.study_name}\n"
            f"{self.coverage_line()}"
        )
