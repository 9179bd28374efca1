"""The library's structure, read from its source with ``ast`` (no TensorFlow, milliseconds):
fcnlib's modules import one another without a cycle, and the command line runs three ways.
"""

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "fcnlib"
MODULES = sorted(path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__")


def _tree(module):
    return ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))


def imported_modules(tree) -> set:
    """The fcnlib modules a module imports anywhere: at the top, in functions, in blocks."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "fcnlib" and len(parts) > 1 and parts[1] in MODULES:
                found.add(parts[1])
    return found


def find_cycle(graph: dict):
    """Returns one import cycle as a list of modules (first == last), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            if state.get(child) == "open":
                return path[path.index(child):] + [child]
            if child not in state:
                cycle = visit(child, path + [child])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def import_graph():
    return {module: imported_modules(_tree(module)) - {module} for module in MODULES}


def test_fcnlib_imports_have_no_cycle():
    graph = import_graph()
    assert graph["recipes"] >= {"train", "models"}  # The walk sees imports at all.
    assert "environment" in graph["budget"] or "budget" in graph["environment"]
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_find_cycle_reports_a_cycle_through_a_late_import():
    late = ast.parse("def f():\n    from fcnlib import train\n")
    assert imported_modules(late) == {"train"}
    graph = dict(import_graph(), cli={"train"}, train={"config", "cli"})
    assert find_cycle(graph) in (["cli", "train", "cli"], ["train", "cli", "train"])


def test_command_line_has_a_script_and_runs_as_python_m_cli_and_train():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"fcn-train": "fcnlib.cli:main"}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    for module in ("fcnlib.cli", "fcnlib.train"):
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                                text=True, timeout=300, env=env, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "usage: fcn-train" in result.stdout
        for option in ("--dataset", "--model", "--task", "--schedule", "--upsampling", "--profile",
                       "--epochs", "--mixed-precision", "--xla", "--output", "FULL_PROFILE.md"):
            assert option in result.stdout
