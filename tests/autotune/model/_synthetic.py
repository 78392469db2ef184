"""A synthetic results database: real fingerprints and workloads, times from a known law plus noise."""

from __future__ import annotations

import dataclasses
import math
import random

from autotune import Outcome, Source, machine_fingerprint, search_space, workload_features
from autotune.features import MachineFingerprint
from autotune.measure import Measurement
from autotune.storage import ResultsLog, Storage
from kernels import AsianOption, Config, EuropeanOption, Gamma, Poisson, PolicyGroup, Portfolio

#: (usable cores, max frequency in MHz) of the fake machines.
MACHINES = ((1, 2000.0), (2, 3000.0), (4, 2600.0), (8, 3400.0), (16, 2200.0))

BACKEND_SPEED = {"numpy": 1.0, "numba": 0.35, "jax": 0.5}
COMPILE_S = {"numpy": 1e-4, "numba": 0.6, "jax": 1.0}


def machines() -> list[MachineFingerprint]:
    """Fake machines: this machine's fingerprint with other cores, CPU model and frequency."""
    base = machine_fingerprint()
    return [
        dataclasses.replace(base, cpu_model=f"Synthetic CPU {i}", usable_cores=cores, affinity=tuple(range(cores)),
                            physical_cores=cores, logical_cores=cores, freq_max_mhz=mhz, cpu_quota=None)
        for i, (cores, mhz) in enumerate(MACHINES)
    ]


def workloads() -> list[tuple[object, int]]:
    """(workload, n_sims) pairs of the three kinds, sizes spread so that a held-out one lies between others."""
    euro = EuropeanOption(S0=100.0, K=100.0, T=1.0, r=0.01, sigma=0.2)
    book = Portfolio(groups=[PolicyGroup(200, Poisson(0.2), Gamma(2.0, 100.0))], levels=(0.99,))
    asian = [AsianOption(S0=100.0, K=100.0, T=1.0, r=0.01, sigma=0.2, n_steps=s) for s in (16, 32, 64)]
    return [
        *((euro, n) for n in (20_000, 60_000, 200_000, 600_000, 2_000_000, 6_000_000)),
        (asian[0], 30_000), (asian[1], 100_000), (asian[2], 100_000), (asian[2], 300_000),
        (book, 10_000), (book, 30_000), (book, 100_000),
    ]


def steady_time(machine: MachineFingerprint, features: dict[str, float], config: Config, n_sims: int) -> float:
    """The noiseless law: work / parallel speed-up, plus executor and per-chunk overheads."""
    draws = 10 ** features["log10_total_draws"]
    work = draws * 5e-9 * (3.0 / (machine.freq_max_mhz / 1000.0)) * BACKEND_SPEED[config.backend]
    if config.precision == "float32":
        work *= 0.9 if config.backend == "numpy" else 0.7
    workers = min(config.workers, machine.usable_cores)
    if config.executor == "threads":
        work /= workers ** (0.5 if config.backend == "numpy" else 0.9)
        overhead = 2e-4 * workers
    elif config.executor == "processes":
        work /= workers**0.95
        overhead = 0.02 + 0.004 * workers + (0.0 if config.shared_memory else n_sims * 8 / 2e9)
    else:
        overhead = 1e-4
    chunk = config.chunk_size or 65536 * 4
    chunks = math.ceil(n_sims / min(chunk, n_sims))
    return work + overhead + chunks * 3e-5 * (1.0 if config.backend == "numpy" else 0.3)


def fill(store: Storage, *, configs_per_group: int = 30, seed: int = 0) -> dict[str, int]:
    """Store every (machine, workload) with ``configs_per_group`` sampled configs (always ``Config()``).

    Each row's ``steady_s`` follows :func:`steady_time` and its first call costs ``COMPILE_S`` more,
    so that its ``one_off_s`` is the (noisy) compile time.
    """
    rng = random.Random(seed)
    n_rows = 0
    for machine in machines():
        log = ResultsLog(store, machine)
        for workload, n_sims in workloads():
            wf = workload_features(workload, n_sims)
            space = search_space(workload, n_sims, cores=machine.usable_cores, qmc=(False,),
                                 chunk_sizes=(None, *(c for c in (16384, 65536) if c < n_sims)))
            candidates = space.enumerate()
            chosen = [Config(), *rng.sample(candidates[1:], min(configs_per_group - 1, len(candidates) - 1))]
            records = []
            for config in chosen:
                t = steady_time(machine, wf.vector(), config, n_sims) * math.exp(rng.gauss(0.0, 0.03))
                compile_s = COMPILE_S[config.backend] * math.exp(rng.gauss(0.0, 0.05))
                records.append(Measurement(
                    config=config, outcome=Outcome.COMPLETE, n_sims=n_sims, steady_s=t, samples=(t,),
                    first_call_s=t + compile_s,
                ))
            log.write(wf, records, source=Source.TUNE)
            n_rows += len(records)
    return {"rows": n_rows}


__all__ = ["COMPILE_S", "MACHINES", "fill", "machines", "steady_time", "workloads"]
