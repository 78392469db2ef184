"""Every ```python block of README.md runs verbatim as a script.

Each block is saved as a script (no ``if __name__ == "__main__":`` guard, as a reader would save
it) in a temporary directory, with a temporary results database (``AUTOTUNE_STORAGE``), and run
in a fresh interpreter; it must exit 0 within ``TIMEOUT_S`` and leak nothing.

A block is not run by default when the line before it is an HTML comment (invisible on the
rendered page) that says why:

- ``<!-- no-run: why -->``: a fragment that cannot run on its own (e.g. it needs a database that
  already holds measurements);
- ``<!-- long-run: why -->``: a complete script that takes minutes (tuning); it runs only with
  ``AUTOTUNE_LONG_SNIPPETS=1`` in the environment.

Keep these few (``MAX_MARKED``), and every other block self-contained.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TIMEOUT_S = 120
LONG_TIMEOUT_S = 1800
LONG_ENV = "AUTOTUNE_LONG_SNIPPETS"
MAX_MARKED = 3
_MARK = re.compile(r"^<!--\s*(no-run|long-run):\s*(\S.*?)\s*-->$")

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Snippet:
    line: int  # of the opening fence, 1-based
    code: str
    mark: str | None  # "no-run", "long-run" or None
    why: str


def snippets(text: str) -> list[Snippet]:
    """The README's ```python blocks, with the marker on the line before each (if any)."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```python":
            start = i
            i += 1
            body = []
            while i < len(lines) and lines[i].strip() != "```":
                body.append(lines[i])
                i += 1
            before = next((ln.strip() for ln in reversed(lines[:start]) if ln.strip()), "")
            m = _MARK.match(before)
            found.append(Snippet(start + 1, "\n".join(body) + "\n", m and m.group(1), m.group(2) if m else ""))
        i += 1
    return found


SNIPPETS = snippets(README.read_text(encoding="utf-8"))


def test_readme_has_snippets_and_few_are_marked() -> None:
    assert len(SNIPPETS) >= 3
    marked = [s for s in SNIPPETS if s.mark]
    assert len(marked) <= MAX_MARKED, [f"line {s.line}: {s.mark}: {s.why}" for s in marked]


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[f"line{s.line}" for s in SNIPPETS])
def test_snippet_runs_as_a_script(snippet: Snippet, tmp_path: Path) -> None:
    if snippet.mark == "no-run":
        pytest.skip(f"no-run: {snippet.why}")
    long_ok = os.environ.get(LONG_ENV, "") not in ("", "0")
    if snippet.mark == "long-run" and not long_ok:
        pytest.skip(f"long-run ({LONG_ENV}=1 runs it): {snippet.why}")
    script = tmp_path / f"readme_line{snippet.line}.py"
    script.write_text(snippet.code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "AUTOTUNE_STORAGE": f"sqlite:///{tmp_path / 'results.db'}",
    }
    timeout = LONG_TIMEOUT_S if snippet.mark == "long-run" else TIMEOUT_S
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=timeout)
    said = f"README.md line {snippet.line}\nstdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    assert proc.returncode == 0, said
    assert "leaked" not in proc.stderr, said
