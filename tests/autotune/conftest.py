"""Fixtures for the tuner tests: a temporary results database and the broken test backends."""

from __future__ import annotations

import pytest

from autotune.measure import MeasureOptions

from . import fake_backends

fake_backends.register()

#: Quick measurements: the tests check behaviour, not speed.
FAST = MeasureOptions(min_repeats=2, max_repeats=3, min_total_s=0.0, isolate=False)


@pytest.fixture
def db_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'results.db'}"
