"""The house keeps its shape: layers, no import loops, modules small enough to hold in your head.

Fast tier (about a second, no TensorFlow): import-linter checks the contracts in
``pyproject.toml`` (``[tool.importlinter]``), a small AST walk finds module-level import
loops the way ``python -c 'import ...'`` would meet them (imports inside functions count),
and every module is held to 400 lines. ``docs/architecture.md`` explains the floors.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The packages held to these rules; the runtime distribution's is checked once it is in the tree.
PACKAGES = [ROOT / "lstm_deploy", ROOT / "runtime" / "lstm_deploy_runtime"]
MAX_LINES = 400
#: Modules allowed over MAX_LINES for now.
OVERSIZED: set[str] = set()  # a module may only be listed here while a split is under way


def _packages() -> list[Path]:
    return [p for p in PACKAGES if p.is_dir()]


def _modules(roots: list[Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``roots`` (a package is its ``__init__``)."""
    mods = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            name = ".".join(path.relative_to(root.parent).with_suffix("").parts)
            mods[name.removesuffix(".__init__")] = path
    return mods


def import_edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    """Which of ``mods`` each module imports: every ``import`` statement, at any depth of the file.

    ``from a.b import c`` imports ``a.b`` (its ``__init__`` runs) and ``a.b.c`` when that is a
    module. A module importing its own parent package is not counted: Python has already run
    the parent's ``__init__`` by then.
    """
    edges: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            for target in targets:
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every set of modules that import each other round a loop (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return sorted(found)


def test_import_contracts_hold():
    """``lint-imports``: each module imports only downward (the layers) and no sibling imports another back."""
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout and "Contracts: 3 kept" in proc.stdout, proc.stdout


def test_no_import_cycles():
    found = cycles(import_edges(_modules(_packages())))
    assert found == [], "modules that import each other (imports inside functions count): " + "; ".join(" <-> ".join(c) for c in found)


def test_the_cycle_finder_sees_imports_inside_functions(tmp_path):
    """The finder itself: a loop closed only by an import inside a function, or by ``from pkg import name``, is a loop."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("from . import e\n")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("x = 1\ndef f():\n    from . import a\n")
    (pkg / "sub" / "__init__.py").write_text("from .c import y\n")
    (pkg / "sub" / "c.py").write_text("y = 1\ndef g():\n    from ..d import z\n")
    (pkg / "d.py").write_text("from .sub import y\nz = 1\n")
    (pkg / "e.py").write_text("from . import d\n")  # imports its parent package (already run), which imports it: no loop
    assert cycles(import_edges(_modules([pkg]))) == [["pkg.a", "pkg.b"], ["pkg.d", "pkg.sub", "pkg.sub.c"]]


def test_modules_stay_under_400_lines():
    sizes = {str(path.relative_to(ROOT)): len(path.read_text().splitlines()) for path in _modules(_packages()).values()}
    over = {name: n for name, n in sizes.items() if n > MAX_LINES and name not in OVERSIZED}
    assert not over, f"modules over {MAX_LINES} lines (split them by concept, see docs/architecture.md): {over}"
    stale = sorted(name for name in OVERSIZED if sizes.get(name, 0) <= MAX_LINES)
    assert not stale, f"no longer over {MAX_LINES} lines (or gone): drop them from OVERSIZED: {stale}"
