"""The architecture as tests: layers import only downwards, no cycles, every module imports alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "synfaith"
MAX_LINES = 400

# layer -> the layers it must never import (at module level or inside a function)
FORBIDDEN = {
    "games": {"models", "explainers", "runs", "analysis", "report", "toy", "testing", "cli"},
    "metrics": {"models", "explainers", "runs", "analysis", "report", "toy", "testing", "cli"},
    "explainers": {"metrics", "runs", "analysis", "report", "toy", "testing", "cli"},
    "analysis": {"models", "explainers", "runs", "toy", "testing", "cli"},
    "contracts": {"models", "explainers", "metrics", "runs", "analysis", "report", "toy", "testing", "cli"},
    "models": {"runs", "analysis", "report", "toy", "testing", "cli", "server"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if parts[-1] == "__main__":
            continue
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path, module: str, top_level_only: bool) -> set[str]:
    """The synfaith modules a file imports (resolved to modules that exist)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # `if TYPE_CHECKING:` blocks never run: annotations, not dependencies
    tree.body = [n for n in tree.body if not (isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test))]
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            names.add(base)
            names |= {f"{base}.{alias.name}" for alias in node.names}
    return {n for n in names if n in MODULES and n != module}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("module", sorted(MODULES))
def test_layers_import_only_downwards(module):
    forbidden = FORBIDDEN.get(_layer(module), set())
    wrong = sorted(i for i in _imports(MODULES[module], module, top_level_only=False) if _layer(i) in forbidden)
    assert not wrong, f"{module} ({_layer(module)}) must not import {wrong}"


def test_no_import_cycles_at_module_level():
    graph = {m: _imports(p, m, top_level_only=True) for m, p in MODULES.items()}
    # a package's __init__ importing its own submodules is how a package exposes them, not a cycle
    for module in graph:
        graph[module] = {i for i in graph[module] if not (MODULES[module].name == "__init__.py" and i.startswith(module + "."))}
        graph[module] |= set()
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node):  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for node in graph:
        if node not in index:
            visit(node)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_modules_stay_short(module):
    lines = len(MODULES[module].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{module} has {lines} lines (at most {MAX_LINES}): split it by idea"


# A fresh interpreter per module pays torch's import each time (minutes in all). Instead one
# interpreter imports the third-party libraries only — no synfaith module — and forks a child
# per module; each child starts with no synfaith module loaded, so an import that works only
# after another synfaith module was imported still fails there.
_FORK_EACH = """
import importlib, os, sys, traceback
for name in ("numpy", "pandas", "pyarrow.parquet", "PIL.Image", "pydantic", "yaml", "scipy.stats", "torch",
             "transformers", "transformers.models.llava", "transformers.models.qwen2_5_vl", "transformers.models.internvl"):
    try:
        importlib.import_module(name)
    except ImportError:
        pass
assert not [m for m in sys.modules if m == "synfaith" or m.startswith("synfaith.")]
failures, running, waiting = [], {}, list(sys.argv[1:])
while waiting or running:
    while waiting and len(running) < 2:  # two children at a time
        module = waiting.pop(0)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read)
            try:
                importlib.import_module(module)
                code = 0
            except BaseException:
                os.write(write, traceback.format_exc().strip().splitlines()[-1].encode())
                code = 1
            os._exit(code)
        os.close(write)
        running[pid] = (module, read)
    pid, status = os.wait()
    module, read = running.pop(pid)
    message = os.read(read, 4096).decode()
    os.close(read)
    if status != 0:
        failures.append(f"{module}: {message}")
print("\\n".join(failures))
sys.exit(1 if failures else 0)
"""


def test_every_module_imports_alone_in_a_fresh_interpreter():
    result = subprocess.run([sys.executable, "-c", _FORK_EACH, *sorted(MODULES)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr[-2000:]


def test_every_design_reference_points_to_a_file_that_exists():
    root = PACKAGE.parents[1]
    assert (root / "docs" / "design.md").is_file()
    stale = [str(p.relative_to(root)) for p in [*PACKAGE.rglob("*.py"), *(root / "tests").rglob("*.py")]
             if p != Path(__file__) and "DESIGN.md" in p.read_text(encoding="utf-8")]
    assert not stale, f"these cite a DESIGN.md that is not in the repository: {stale}"
