"""Profiling a machine (e.g. a cloud instance type): micro-benchmarks stored as a profile row.

``run_micro_benchmarks()`` measures random-number, ``exp`` and memory throughput, thread
scaling, process start latency and numba/JAX compile times; ``profile_machine(store)`` also
fingerprints the machine and stores the figures, which is what ``autotune profile`` runs.
"""

from ._micro import FIGURES, ProfileResult, profile_machine, run_micro_benchmarks

__all__ = ["FIGURES", "ProfileResult", "profile_machine", "run_micro_benchmarks"]
