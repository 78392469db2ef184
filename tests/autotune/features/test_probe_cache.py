"""The slow host probes (JAX devices, BLAS, versions) are cached on disk per boot, packages and environment."""

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
    print(json.dumps({"jax_imported": "jax" in sys.modules, "threadpoolctl_imported": "threadpoolctl" in sys.modules,
                      "metadata_imported": "importlib.metadata" in sys.modules, "fingerprint": fp.to_dict()}))
""")

needs_boot_id = pytest.mark.skipif(not os.path.exists("/proc/sys/kernel/random/boot_id"),
                                   reason="no boot id to key the cache: the probes then run in every process")


def _probe(cache_dir, **env) -> dict:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True,
                         env={**os.environ, "AUTOTUNE_CACHE_DIR": str(cache_dir), **env})
    return json.loads(out.stdout.strip().splitlines()[-1])


@needs_boot_id
def test_a_second_process_reads_the_probes_without_importing_jax_or_threadpoolctl(tmp_path):
    first = _probe(tmp_path)
    assert first["jax_imported"] and first["threadpoolctl_imported"]  # probed once
    second = _probe(tmp_path)
    assert not (second["jax_imported"] or second["threadpoolctl_imported"] or second["metadata_imported"])
    same = ("gpu_count", "gpu_kind", "blas_vendor", "blas_threads", "blas_version", "numba_version", "jax_version")
    assert {k: second["fingerprint"][k] for k in same} == {k: first["fingerprint"][k] for k in same}
    assert second["fingerprint"]["numba_version"]  # numba is a dependency: its version is known
    third = _probe(tmp_path, CUDA_VISIBLE_DEVICES="")  # a different device environment: probed again
    assert third["jax_imported"]
    fourth = _probe(tmp_path, OPENBLAS_NUM_THREADS="1")  # a different BLAS environment: probed again
    assert fourth["threadpoolctl_imported"] and fourth["fingerprint"]["blas_threads"] in (1, None)


@needs_boot_id
def test_installing_a_package_invalidates_the_cache(tmp_path, monkeypatch):
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(sys, "path", [*sys.path, str(site)])
    before = _host._probes_key()
    os.utime(site, ns=(1, 1))  # what adding or removing a dist-info folder does to the directory
    assert _host._probes_key() != before


def test_a_hostile_cache_file_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTOTUNE_CACHE_DIR", str(tmp_path))
    key = {"boot": "b", "python": sys.executable, "sites": [], "env": {}, "affinity": [0]}
    path = tmp_path / "host_probes.json"
    good = {"devices": dict(_host._NO_DEVICES), "blas": {"vendor": "openblas", "threads": 2},
            "versions": {"numba": "0.61.0", "jax": None}}
    path.write_text(json.dumps({"key": key, "probes": good}))
    assert _host._cached_probes(key) == good
    assert _host._cached_probes({**key, "boot": "other"}) == {}
    for bad in ({"devices": {"platform": "gpu", "kind": "x" * 10_000, "count": 1, "memory_bytes": None}},
                {"devices": {"platform": None, "kind": None, "count": -1, "memory_bytes": None}},
                {"blas": {"vendor": "openblas", "threads": True}}, {"blas": {"evil": 1}},
                {"versions": {"numba": 3, "jax": None}}, {"versions": ["not", "a", "dict"]}):
        path.write_text(json.dumps({"key": key, "probes": {**good, **bad}}))
        [name] = bad
        assert name not in _host._cached_probes(key)  # that section is probed again; the valid ones are kept
    path.write_text(json.dumps({"key": key, "probes": ["not", "a", "dict"]}))
    assert _host._cached_probes(key) == {}
    path.write_text("{" + " " * (_host.MAX_PROBE_CACHE_BYTES + 1) + "}")
    assert _host._cached_probes(key) == {}
