"""Errors of the command line itself."""

from __future__ import annotations

__all__ = ["UsageError"]


class UsageError(Exception):
    """Bad input from the command line (exit status 2)."""
