"""Errors of the command line itself, and the wording of library messages for command-line users."""

from __future__ import annotations

import re

__all__ = ["UsageError", "for_cli"]


class UsageError(Exception):
    """Bad input from the command line (exit status 2)."""


# Library messages speak to Python callers ("pass open_storage(url)"); a command-line user has
# options instead. Each pattern rewrites one such phrase; the rest of the message is kept.
_REWRITES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), r) for p, r in (
    (r"to import from a results database, pass open_storage\(url\)",
     "to import from a results database, give its URL (sqlite:///other.db, postgresql+psycopg://...)"),
    (r"\(adopt=True; CLI: --adopt-database\)", "(--adopt-database)"),
    (r"Point the storage URL at", "Point --storage at"),
    (r" or autotune\.model\.train\(store\)", ""),
    (r" \(autotune\.model\.train\(store\)\)", ""),
    (r"call fit\(training_set\) \(see autotune\.model\.training_set\), or load a trained one with "
     r"autotune\.model\.load_model\(store\)", "train one with `autotune train`"),
    (r"pass n_sims=\.\.\. or target=kernels\.Target\(\.\.\.\)", "give the workload n_sims or a target"),
    (r", or autotune\.tune\(workload, target=\.\.\.\),", ","),
    (r"store must be an autotune Storage \(open_storage\(url\)\)", "--storage must be a database URL"),
))


def for_cli(message: str) -> str:
    """``message`` with the Python API calls it names replaced by what a command-line user would do."""
    for pattern, replacement in _REWRITES:
        message = pattern.sub(replacement, message)
    return message
