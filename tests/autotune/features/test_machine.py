"""The machine fingerprint: stability, identity, round trip and feature vector."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autotune.features import MACHINE_FEATURES, CloudIdentity, MachineFingerprint, machine_fingerprint

REPO = Path(__file__).resolve().parents[3]


def run_python(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter at the repository root; its stdout lines."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOTUNE_")}
    env["PYTHONPATH"] = str(REPO)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.split()


@pytest.fixture(scope="module")
def fingerprint(clean_cloud_env) -> MachineFingerprint:
    return machine_fingerprint()


@pytest.fixture(scope="module")
def clean_cloud_env():
    with pytest.MonkeyPatch.context() as mp:
        for name in ("AUTOTUNE_CLOUD_PROVIDER", "AUTOTUNE_INSTANCE_TYPE", "AUTOTUNE_METADATA_PROBE",
                     "AUTOTUNE_METADATA_URL"):
            mp.delenv(name, raising=False)
        yield


def test_cached_and_stable(fingerprint):
    assert machine_fingerprint() is fingerprint
    fresh = machine_fingerprint(refresh=True)
    assert fresh.machine_id == fingerprint.machine_id
    assert len(fingerprint.machine_id) == 16
    int(fingerprint.machine_id, 16)


def test_contents_are_plausible(fingerprint):
    assert fingerprint.usable_cores == len(os.sched_getaffinity(0))
    assert fingerprint.affinity == tuple(sorted(os.sched_getaffinity(0)))
    assert 1 <= fingerprint.physical_cores <= fingerprint.logical_cores
    assert fingerprint.usable_cores <= fingerprint.logical_cores
    assert fingerprint.memory_total_bytes >= fingerprint.memory_available_bytes > 0
    assert fingerprint.cpu_model and fingerprint.cpu_model == fingerprint.cpu_model.strip()
    assert fingerprint.python_version == ".".join(map(str, sys.version_info[:3]))
    assert fingerprint.gpu_count >= 0
    assert isinstance(fingerprint.cloud, CloudIdentity)


def test_same_id_in_a_fresh_process(fingerprint):
    (other,) = run_python("from autotune.features import machine_fingerprint; print(machine_fingerprint().machine_id)")
    assert other == fingerprint.machine_id


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
                    reason="needs sched_setaffinity and at least two usable cores")
def test_affinity_changes_the_id(fingerprint):
    code = (
        "import os\n"
        "from autotune.features import machine_fingerprint\n"
        "full = os.sched_getaffinity(0)\n"
        "os.sched_setaffinity(0, {min(full)})\n"
        "one = machine_fingerprint()\n"
        "print(one.machine_id, one.usable_cores)\n"
        "os.sched_setaffinity(0, full)\n"
        "print(machine_fingerprint().machine_id)\n"
    )
    pinned, usable, restored = run_python(code)
    assert usable == "1"
    assert pinned != fingerprint.machine_id
    assert restored == fingerprint.machine_id  # the per-process cache is keyed by affinity


def test_id_ignores_volatile_fields(fingerprint):
    volatile = dataclasses.replace(fingerprint, memory_available_bytes=1, freq_current_mhz=1.0, numpy_version="0",
                                   jax_version=None, blas_threads=99, os_release="x")
    assert volatile.machine_id == fingerprint.machine_id


@pytest.mark.parametrize("change", [
    {"affinity": (0,), "usable_cores": 1},
    {"cpu_model": "Another CPU"},
    {"memory_total_bytes": 2 * 1024**4},
    {"gpu_count": 8, "gpu_kind": "NVIDIA H100"},
    {"cloud": CloudIdentity("aws", "c7i.large", "env")},
])
def test_id_follows_identity_fields(fingerprint, change):
    assert dataclasses.replace(fingerprint, **change).machine_id != fingerprint.machine_id


def test_dict_round_trip_through_json(fingerprint):
    data = json.loads(json.dumps(fingerprint.to_dict(), allow_nan=False))
    assert data["machine_id"] == fingerprint.machine_id
    again = MachineFingerprint.from_dict(data)
    assert again == fingerprint
    assert again.machine_id == fingerprint.machine_id


def test_from_dict_rejects_bad_input(fingerprint):
    data = fingerprint.to_dict()
    del data["cpu_model"]
    with pytest.raises(ValueError, match="cpu_model"):
        MachineFingerprint.from_dict(data)
    with pytest.raises(ValueError, match="schema"):
        MachineFingerprint.from_dict({**fingerprint.to_dict(), "schema": 999})
    with pytest.raises(ValueError, match="dict"):
        MachineFingerprint.from_dict([1, 2])


def test_vector(fingerprint):
    vec = fingerprint.vector()
    assert list(vec) == list(MACHINE_FEATURES)
    assert all(isinstance(v, float) and math.isfinite(v) for v in vec.values())
    assert vec["usable_cores"] == fingerprint.usable_cores
    assert all(vec[k] in (0.0, 1.0) for k in MACHINE_FEATURES if k.startswith("isa_"))


@pytest.mark.parametrize("kwargs", [{"refresh": 1}, {"probe_metadata": "yes"}, {"metadata_timeout": 0},
                                    {"metadata_timeout": True}])
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        machine_fingerprint(**kwargs)
