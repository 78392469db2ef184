"""``autotune pin`` writes a lock file; ``kernels.load_lock`` reads it back strictly and reproduces the bits."""

from __future__ import annotations

import importlib.metadata
import json
import re
import tomllib
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autotune import machine_fingerprint, tune, workload_features
from autotune.cli import load_spec
from autotune.space import reproducible_with
from kernels import (
    MAX_LOCK_BYTES,
    Config,
    EuropeanOption,
    Lock,
    LockEntry,
    LockEnvironmentWarning,
    LockFileError,
    Lognormal,
    Poisson,
    PolicyGroup,
    Portfolio,
    load_lock,
    lock_environment,
    simulate,
    workload_digest,
)

from .conftest import FAST
from .test_cli import autotune

SPEC = """
[[workload]]
name = "call"
kind = "european"
n_sims = 6000
S0 = 100.0
K = 105.0
T = 1.0
r = 0.03
sigma = 0.2

[[workload]]
name = "book"
kind = "portfolio"
n_sims = 5000
levels = [0.99]
[[workload.groups]]
n_policies = 40
frequency = { family = "poisson", lam = 0.2 }
severity = { family = "lognormal", mu = 8.0, sigma = 1.2 }
"""


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A spec, a database where "call" has a reproducible session (none for "book"), and the lock pinned from it."""
    root = tmp_path_factory.mktemp("pin")
    spec = root / "book.toml"
    spec.write_text(SPEC)
    db = root / "results.db"
    call = load_spec(str(spec)).entries[0]
    tune(call.workload, call.n_sims, storage=f"sqlite:///{db}", reproducible=True, sampler="brute",
         measure_options=FAST, progress=False)
    lock = root / "book.lock.toml"
    done = autotune("pin", str(spec), "-o", str(lock), "--json", db=db)
    return {"spec": spec, "db": db, "lock": lock, "stdout": done.stdout}


def test_pin_writes_the_reproducible_choice_with_its_provenance(pinned) -> None:
    lock = load_lock(pinned["lock"])
    spec = load_spec(str(pinned["spec"]))
    assert lock.names == ("call", "book") and list(lock) == ["call", "book"] and len(lock) == 2
    call, book = lock["call"], lock["book"]
    assert call.source == "cache" and book.source == "default"  # only "call" was tuned
    assert book.config == Config()
    for entry, spec_entry in zip(lock.entries, spec.entries, strict=True):
        assert reproducible_with(entry.config, Config())
        assert entry.workload_key == workload_features(spec_entry.workload, spec_entry.n_sims).key
        assert entry.workload_digest == workload_digest(spec_entry.workload)
        assert entry.n_sims == spec_entry.n_sims and entry.kind == entry.workload_key.split("-")[0]
        assert lock.config_for(spec_entry.workload) == entry.config == lock.config_for(entry.name)
    assert lock.machine["machine_id"] == machine_fingerprint().machine_id
    assert {k: lock.machine[k] for k in lock_environment()} == lock_environment()
    assert re.fullmatch(r"\d+\.\S+", lock.autotune_version) and lock.created_at.endswith("Z")
    # Every Config field is written, and the file is plain TOML any reader takes.
    raw = tomllib.loads(pinned["lock"].read_text(encoding="utf-8"))
    assert set(raw["workload"][0]["config"]) == set(Config().to_dict())
    out = json.loads(pinned["stdout"])
    assert [w["name"] for w in out["workloads"]] == ["call", "book"]


def test_the_locked_config_reproduces_the_reference_bits(pinned) -> None:
    lock = load_lock(pinned["lock"])
    for entry in load_spec(str(pinned["spec"])).entries:
        config = lock.config_for(entry.workload)
        ours = simulate(entry.workload, entry.n_sims, config=config, seed=2024)
        reference = simulate(entry.workload, entry.n_sims, Config(), seed=2024)
        names = sorted(reference.estimates)
        assert np.array_equal([ours.estimates[k] for k in names], [reference.estimates[k] for k in names])
        assert np.array_equal([ours.standard_errors[k] for k in names],
                              [reference.standard_errors[k] for k in names])


def test_pin_with_a_reference_and_tune(pinned, tmp_path: Path) -> None:
    lock_path = tmp_path / "numba.lock.toml"
    db = tmp_path / "fresh.db"
    autotune("pin", str(pinned["spec"]), "-o", str(lock_path), "--only", "book", "--tune", "--budget-trials", "2",
             "--reference", "backend=numba, chunk_size=1024, precision=float32", db=db)
    lock = load_lock(lock_path)
    ref = Config(backend="numba", chunk_size=1024, precision="float32")
    assert lock.names == ("book",) and lock["book"].source == "cache"
    assert reproducible_with(lock["book"].config, ref)


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "book.lock.json"], "the format follows the extension, which must be one of .toml"),
    (["-o", "x.toml", "--reference", "speed=fast"], "--reference: 'speed=fast' is not KNOB=VALUE"),
    (["-o", "x.toml", "--only", "nope"], "--only names no workload"),
])
def test_pin_bad_arguments_exit_2_naming_the_field(pinned, tmp_path: Path, args: list[str], message: str) -> None:
    args = [str(tmp_path / a) if a.endswith((".json", ".toml")) else a for a in args]
    done = autotune("pin", str(pinned["spec"]), *args, db=tmp_path / "r.db", check=False)
    assert done.returncode == 2 and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not list(tmp_path.glob("*.toml"))


def test_pin_with_an_unusable_database_writes_nothing(pinned, tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"this is not a database" * 100)
    out = tmp_path / "x.lock.toml"
    done = autotune("pin", str(pinned["spec"]), "-o", str(out), db=broken, check=False)
    assert done.returncode == 1 and "autotune pin: error:" in done.stderr and not out.exists(), done.stderr


# -- load_lock: the file is untrusted input ----------------------------------------------------------------------

OPTION = EuropeanOption(100.0, 100.0, 1.0, 0.03, 0.2)


def _valid_text() -> str:
    entry = LockEntry(name="call", config=Config(executor="threads", workers=2, chunk_size=4096),
                      workload_digest=workload_digest(OPTION), kind="european", n_sims=10_000,
                      workload_key="european-0123456789abcdef", source="cache")
    return Lock(entries=(entry,), machine=lock_environment(), autotune_version=importlib.metadata.version("autotune"),
                created_at="2026-12-01T22:00:00Z").to_toml()


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "hostile.lock.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def test_round_trip_keeps_every_field_and_awkward_names(tmp_path: Path) -> None:
    names = ['say "hi"', "back\\slash", "naïve € 日本"]
    entries = tuple(LockEntry(name=n, config=Config(backend="numba", qmc=True, qmc_scrambles=8, chunk_size=None),
                              workload_digest=workload_digest(EuropeanOption(100.0, 90.0 + i, 1.0, 0.03, 0.2)),
                              kind="european", n_sims=0 if i else 4096) for i, n in enumerate(names))
    lock = Lock(entries=entries, machine={**lock_environment(), "machine_id": "m", "instance_type": 'it "x"'},
                autotune_version=importlib.metadata.version("autotune"), created_at="2026-12-01T00:00:00Z")
    path = lock.write(tmp_path / "awkward.lock.toml")
    loaded = load_lock(path)
    assert loaded == lock and loaded.names == tuple(names) and loaded.source == str(path)
    assert loaded.config_for("naïve € 日本").qmc_scrambles == 8 and loaded["say \"hi\""].n_sims == 4096


def test_a_workload_not_in_the_lock_names_those_it_holds(tmp_path: Path) -> None:
    lock = load_lock(_write(tmp_path, _valid_text()))
    with pytest.raises(KeyError, match=r"no entry for this EuropeanOption .* it holds \['call'\]"):
        lock.config_for(EuropeanOption(100.0, 101.0, 1.0, 0.03, 0.2))
    with pytest.raises(KeyError, match=r"no workload named 'put' .* it holds \['call'\]"):
        lock.config_for("put")
    assert lock.config_for(OPTION) == Config(executor="threads", workers=2, chunk_size=4096)
    # A config that the matched workload has no estimator for is refused when it is looked up, not run.
    book = Portfolio([PolicyGroup(40, Poisson(0.2), Lognormal(8.0, 1.2))], levels=(0.99,))
    odd = Lock(entries=(LockEntry(name="book", config=Config(antithetic=True), workload_digest=workload_digest(book),
                                  kind="european"),))
    with pytest.raises(ValueError, match=r"Config\.antithetic=True applies to option workloads"):
        odd.config_for(book)


def _mutate(old: str, new: str):
    def apply(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)
    return apply


HOSTILE = [
    ("unknown top-level field", _mutate("lock_version = 1", "lock_version = 1\nexec = \"rm -rf /\""),
     r"unknown field\(s\) \['exec'\]"),
    ("future version", _mutate("lock_version = 1", "lock_version = 2"), "lock_version must be 1"),
    ("version as a string", _mutate("lock_version = 1", 'lock_version = "1"'), "lock_version must be 1"),
    ("unknown workload field", _mutate('source = "cache"', 'source = "cache"\npriority = 1'),
     r"workload\[0\] \(call\): unknown field\(s\) \['priority'\]"),
    ("unknown config field", _mutate('method = "mc"', 'method = "mc"\nturbo = true'),
     r"workload\[0\] \(call\)\.config: unknown field\(s\) \['turbo'\]"),
    ("missing config field", _mutate("workers = 2\n", ""), r"\.config: missing field\(s\) \['workers'\]"),
    ("workers as a string", _mutate("workers = 2", 'workers = "2"'), r"\.config\.workers must be an integer"),
    ("workers as a bool", _mutate("workers = 2", "workers = true"), r"\.config\.workers must be an integer"),
    ("workers as a float", _mutate("workers = 2", "workers = 2.0"), r"\.config\.workers must be an integer"),
    ("qmc as an integer", _mutate("qmc = false", "qmc = 0"), r"\.config\.qmc must be true/false"),
    ("workers out of range", _mutate("workers = 2", "workers = 0"), r"Config\.workers must be"),
    ("huge workers", _mutate("workers = 2", "workers = 99999999999999"), r"Config\.workers must be"),
    ("chunk size zero", _mutate("chunk_size = 4096", "chunk_size = 0"), r"Config\.chunk_size must be"),
    ("chunk size word", _mutate("chunk_size = 4096", 'chunk_size = "big"'),
     r"\.config\.chunk_size must be an integer in \[1, \d+\] or \"auto\""),
    ("unknown backend", _mutate('backend = "numpy"', 'backend = "os.system"'), r"Config\.backend must be"),
    ("serial with two workers", _mutate('executor = "threads"', 'executor = "serial"'), "executor='serial' runs"),
    ("bad kind", _mutate('kind = "european"', 'kind = "swaption"'), r"\(call\)\.kind must be one of"),
    ("an estimator the kind has not",
     lambda t: _mutate("antithetic = false", "antithetic = true")(
         _mutate('kind = "european"', 'kind = "portfolio"')(t)),
     r"\(call\)\.config\.antithetic=true applies to options; kind is 'portfolio'"),
    ("bad digest", _mutate('workload_digest = "', 'workload_digest = "zz'), r"workload_digest must be 32"),
    ("n_sims too small", _mutate("n_sims = 10000", "n_sims = 1"), r"\(call\)\.n_sims must be 0"),
    ("unknown source", _mutate('source = "cache"', 'source = "magic"'), r"\(call\)\.source must be one of"),
    ("control character in a name", _mutate('name = "call"', 'name = "ca\\u0007ll"'), "control characters"),
    ("overlong name", _mutate('name = "call"', f'name = "{"x" * 300}"'), r"over the limit of 256"),
    ("empty name", _mutate('name = "call"', 'name = " "'), r"\.name must not be empty"),
    ("duplicate names", lambda t: t + t[t.index("[[workload]]"):], r"workload\[1\]\.name 'call' is also the name"),
    ("unknown machine field", _mutate("[machine]", "[machine]\nsecret = \"x\""),
     r"\[machine\]: unknown field\(s\) \['secret'\]"),
    ("machine value not a string", _mutate("[machine]", "[machine]\nmachine_id = 7"),
     r"\[machine\]\.machine_id must be a string"),
    ("workload as a table", lambda t: t[:t.index("[[workload]]")] + "[workload]\nname = \"x\"\n",
     r"workload must be an array of tables"),
    ("no workload", lambda t: t[:t.index("[[workload]]")], r"missing field\(s\) \['workload'\]"),
    ("config under another name", _mutate("[workload.config]", "[workload.config2]"),
     r"unknown field\(s\) \['config2'\]"),
    ("config not a table", _mutate("[workload.config]\n", "config = 1\n[workload.x]\n"),
     r"unknown field\(s\) \['x'\]|must be a table"),
    ("invalid TOML", lambda t: t + "\n[[workload\n", "not valid TOML"),
    ("empty file", lambda t: "", r"missing field\(s\) \['lock_version', 'workload'\]"),
]


@pytest.mark.parametrize(("mutate", "message"), [(m, msg) for _, m, msg in HOSTILE], ids=[h[0] for h in HOSTILE])
def test_hostile_or_invalid_lock_files_give_clear_errors(tmp_path: Path, mutate, message: str) -> None:
    path = _write(tmp_path, mutate(_valid_text()))
    with pytest.raises(LockFileError, match=message) as info:
        load_lock(path)
    assert str(path) in str(info.value)


def test_unreadable_files_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(LockFileError, match="does not exist"):
        load_lock(tmp_path / "missing.lock.toml")
    with pytest.raises(LockFileError, match="is a directory"):
        load_lock(tmp_path)
    with pytest.raises(LockFileError, match="not UTF-8"):
        load_lock(_write(tmp_path, b"lock_version = 1\nname = \"\xff\xfe\"\n"))
    with pytest.raises(LockFileError, match=f"over the limit of {MAX_LOCK_BYTES}"):
        load_lock(_write(tmp_path, _valid_text() + "#" * MAX_LOCK_BYTES))
    with pytest.raises(LockFileError, match=r"nested too deeply|not valid TOML"):
        load_lock(_write(tmp_path, "lock_version = 1\nx = " + "[" * 100_000 + "]" * 100_000 + "\n"))


def test_a_lock_from_another_machine_warns_and_still_loads(tmp_path: Path) -> None:
    text = _valid_text()
    here = lock_environment()
    moved = text.replace(f'numpy = "{here["numpy"]}"', 'numpy = "1.0.0"').replace(
        f'cpu = "{here["cpu"]}"', 'cpu = "Some Other CPU"')
    with pytest.warns(LockEnvironmentWarning, match=re.escape("numpy: '1.0.0' in the lock")) as got:
        lock = load_lock(_write(tmp_path, moved))
    assert "numpy" in str(got[0].message) and "cpu" in str(got[0].message)
    assert lock.config_for("call").workers == 2
    # A library no entry uses (jax, for a numpy lock) is not a reason to warn.
    other_jax = text.replace(f'jax = "{here["jax"]}"', 'jax = "0.0.1"')
    with warnings.catch_warnings():
        warnings.simplefilter("error", LockEnvironmentWarning)
        load_lock(_write(tmp_path, other_jax))
    # Another autotune wrote it: the kernels' arithmetic may differ (0.2.0's numba exp), so it warns too.
    older = re.sub(r'autotune_version = "[^"]*"', 'autotune_version = "0.1.0"', text)
    with pytest.warns(LockEnvironmentWarning, match=re.escape("autotune: '0.1.0' in the lock")):
        load_lock(_write(tmp_path, older))
