"""The JAX device probe is cached on disk per boot, JAX version and device environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from autotune.features import _host

PROBE = textwrap.dedent("""
    import json, sys
    from autotune.features import machine_fingerprint
    fp = machine_fingerprint()
    print(json.dumps({"jax_imported": "jax" in sys.modules, "gpu_count": fp.gpu_count}))
""")


def _probe(cache_dir, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "AUTOTUNE_CACHE_DIR": str(cache_dir), **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not os.path.exists("/proc/sys/kernel/random/boot_id"), reason="no boot id to key the cache")
def test_a_second_process_reads_the_devices_without_importing_jax(tmp_path):
    first = _probe(tmp_path)
    assert first["jax_imported"]  # probed: JAX imported once
    second = _probe(tmp_path)
    assert not second["jax_imported"] and second["gpu_count"] == first["gpu_count"]
    third = _probe(tmp_path, CUDA_VISIBLE_DEVICES="")  # a different device environment: probed again
    assert third["jax_imported"]


def test_a_hostile_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOTUNE_CACHE_DIR", str(tmp_path))
    key = _host._devices_key()
    if key is None:
        pytest.skip("no boot id to key the cache")  # not a failure: the probe then simply runs every time
    for devices in ({"platform": "gpu", "kind": "x" * 10_000, "count": 1, "memory_bytes": None},
                    {"platform": None, "kind": None, "count": -1, "memory_bytes": None}, ["not", "a", "dict"]):
        (tmp_path / "jax_devices.json").write_text(json.dumps({"key": key, "devices": devices}))
        assert _host._cached_devices(key) is None
    (tmp_path / "jax_devices.json").write_text("{" + " " * (_host.MAX_PROBE_CACHE_BYTES + 1) + "}")
    assert _host._cached_devices(key) is None
