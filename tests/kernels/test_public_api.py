"""The public names tools build on, and the module structure behind them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import kernels
import kernels.backends
from kernels import _chunks, _config, _validation
from kernels.backends import _registry

PACKAGE = Path(kernels.__file__).parent


@pytest.mark.parametrize(
    ("public", "private"),
    [
        (kernels.auto_chunk_size, _chunks.auto_chunk_size),
        (kernels.bytes_per_sim, _chunks.bytes_per_sim),
        (kernels.draws_per_sim, _chunks.draws_per_sim),
        (kernels.BACKENDS, _config.BACKENDS),
        (kernels.EXECUTORS, _config.EXECUTORS),
        (kernels.PRECISIONS, _config.PRECISIONS),
        (kernels.check_int, _validation.check_int),
        (kernels.check_real, _validation.check_real),
        (kernels.check_choice, _validation.check_choice),
        (kernels.backend_names, kernels.backends.backend_names),
        (kernels.register_backend, kernels.backends.register_backend),
        (kernels.backend_registry, kernels.backends.registry),
        (kernels.adopt_backend_registry, kernels.backends.adopt_registry),
        (kernels.backends.get_backend, _registry.get_backend),
        (kernels.BackendUnavailableError, _registry.BackendUnavailableError),
    ],
)
def test_public_names_are_the_private_ones_which_keep_working(public, private) -> None:
    assert public is private


def test_every_exported_name_exists() -> None:
    assert not [n for n in kernels.__all__ if not hasattr(kernels, n)]
    assert not [n for n in kernels.backends.__all__ if not hasattr(kernels.backends, n)]
    assert {"registry", "adopt_registry", "backend_names", "register_backend"} <= set(kernels.backends.__all__)


def test_knob_values_and_checks() -> None:
    assert kernels.BACKENDS == ("numpy", "numba", "jax")
    assert kernels.EXECUTORS == ("serial", "threads", "processes", "dask")
    assert kernels.PRECISIONS == ("float64", "float32")
    assert set(kernels.BACKENDS) <= set(kernels.backend_names())
    assert kernels.check_int("Tool", "repeats", 3.0, low=1) == 3
    assert kernels.check_real("Tool", "share", 1, low=0, high=1) == 1.0
    with pytest.raises(ValueError, match=r"Tool\.repeats must be an integer \[1, 9\], got 10"):
        kernels.check_int("Tool", "repeats", 10, low=1, high=9)
    with pytest.raises(ValueError, match=r"Tool\.share must be in \[0, 1\], got 2"):
        kernels.check_real("Tool", "share", 2.0, low=0, high=1)


def test_a_registry_handed_to_another_process_is_adopted_there() -> None:
    paths = kernels.backend_registry()
    assert paths["numpy"] == "kernels.backends.numpy_backend:NumpyBackend"
    kernels.adopt_backend_registry({**paths, "numpy_again": paths["numpy"]})
    try:
        assert "numpy_again" in kernels.backend_names()
        assert kernels.Config(backend="numpy_again").backend == "numpy_again"
    finally:
        _registry._PATHS.pop("numpy_again")
        _registry._INSTANCES.pop("numpy_again", None)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(node: ast.If) -> bool:
    return isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"


def _imports(path: Path) -> set[str]:
    """kernels modules that ``path`` imports anywhere (functions included), outside ``if TYPE_CHECKING``."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            return
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, node.module] if node.module else base)
            if target.startswith("kernels"):
                found.add(target)
                found.update(f"{target}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("kernels"))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text()))
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    edges = set()
    for target in found & modules:
        parts = target.split(".")
        edges.update(".".join(parts[:i]) for i in range(2, len(parts) + 1))  # importing a.b.c runs a.b too
    return edges - {name}


def test_the_modules_import_each_other_without_cycles() -> None:
    graph = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or
             p.parent != PACKAGE}  # the top package imports everything; it is not part of any cycle
    assert graph["kernels.backends._registry"] == set()
    assert "kernels._config" not in graph["kernels.backends"]
    done: set[str] = set()

    def walk(node: str, path: tuple[str, ...]) -> None:
        assert node not in path, f"import cycle: {' -> '.join((*path, node))}"
        if node in done:
            return
        for nxt in graph.get(node, ()):
            walk(nxt, (*path, node))
        done.add(node)

    for module in graph:
        walk(module, ())


def test_no_module_defers_a_kernels_import_into_a_function() -> None:
    """A deferred import is how a cycle hides (``_config`` used to import the backends that way)."""
    deferred = [f"{path.name}:{line}" for path in PACKAGE.rglob("*.py") for line in _deferred(path.read_text())]
    assert deferred == []


def _deferred(source: str) -> list[int]:
    """Lines of kernels imports inside functions."""
    lines = []
    for func in ast.walk(ast.parse(source)):
        if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
            lines += [node.lineno for node in ast.walk(func) if isinstance(node, ast.ImportFrom)
                      and (node.level or (node.module or "").startswith("kernels"))]
    return lines
