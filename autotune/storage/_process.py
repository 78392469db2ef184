"""Which process owns a row: host, pid and the process's start time (so a reused pid is not mistaken for it)."""

from __future__ import annotations

import functools
import os
import socket

import psutil

__all__ = ["process_alive", "process_identity"]


@functools.cache
def _identity(pid: int) -> tuple[str, int, float | None]:
    try:
        started: float | None = psutil.Process(pid).create_time()
    except psutil.Error:
        started = None
    return socket.gethostname(), pid, started


def process_identity() -> tuple[str, int, float | None]:
    """``(host, pid, start time)`` of this process."""
    return _identity(os.getpid())


def process_alive(pid: int | None, started: float | None) -> bool:
    """Whether the process ``pid`` on this host is still the one that started at ``started``."""
    if pid is None:
        return False
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except psutil.Error:
        return False
