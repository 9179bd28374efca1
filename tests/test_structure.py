"""The library's structure, read from its source with ``ast``: fcnlib's modules import one another
without a cycle, every name has one home (no module re-exports another's names, one SHA-256
helper), every public name has a docstring, docs/ARCHITECTURE.md's table is the code's (modules,
import order, imports), nothing in fcnlib imports the lab (bench/), the notebooks keep one import
convention, and the command line runs three ways.
"""

import ast
import importlib
import inspect
import json
import os
import re
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


def test_command_line_has_a_script_and_runs_as_python_m_fcnlib_and_cli():
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"fcn-train": "fcnlib.cli:main"}
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=str(ROOT))
    for module in ("fcnlib", "fcnlib.cli"):
        result = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True,
                                text=True, timeout=300, env=env, cwd=ROOT)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "usage: fcn-train" in result.stdout
        for option in ("--dataset", "--model", "--task", "--schedule", "--upsampling", "--profile",
                       "--epochs", "--mixed-precision", "--xla", "--output", "FULL_PROFILE.md"):
            assert option in result.stdout


def reexports(module, tree) -> list:
    """Public names a module binds at its top level that belong to another fcnlib module."""
    found = []
    fcnlib_aliases = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                bound = alias.asname or alias.name
                if node.module == "fcnlib" and alias.name in MODULES:
                    fcnlib_aliases.add(bound)  # A module, used as ``module.name``: fine.
                elif node.module.startswith("fcnlib") and not bound.startswith("_"):
                    found.append(f"{module}.{bound} is {node.module}.{alias.name}")
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Attribute):
            value = node.value
            if isinstance(value.value, ast.Name) and value.value.id in fcnlib_aliases:
                for target in node.targets:
                    if isinstance(target, ast.Name) and not target.id.startswith("_"):
                        found.append(f"{module}.{target.id} is {value.value.id}.{value.attr}")
    for node in tree.body:
        if (isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets)):
            defined = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
            defined |= {t.id for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                        if isinstance(t, ast.Name)}
            found += [f"{module}.__all__ lists {name}, defined elsewhere"
                      for name in ast.literal_eval(node.value) if name not in defined]
    return found


def test_no_module_reexports_another_modules_names():
    found = [line for module in MODULES for line in reexports(module, _tree(module))]
    assert not found, "names with two homes (use the owning module instead):\n" + "\n".join(found)


def test_the_reexport_check_sees_both_kinds():
    tree = ast.parse("from fcnlib import config, download as _d\n"
                     "from fcnlib.backbone import vgg16_trunk\nFC_UNITS = config.FC_UNITS\n"
                     "_PRIVATE = config.FC_UNITS\n__all__ = ['vgg16_trunk']\n")
    assert reexports("models", tree) == [
        "models.vgg16_trunk is fcnlib.backbone.vgg16_trunk", "models.FC_UNITS is config.FC_UNITS",
        "models.__all__ lists vgg16_trunk, defined elsewhere"]


def test_hashlib_is_used_in_files_only():
    users = [module for module in MODULES
             if any(isinstance(node, (ast.Import, ast.ImportFrom)) and "hashlib" in
                    [getattr(node, "module", None)] + [alias.name for alias in node.names]
                    for node in ast.walk(_tree(module)))]
    assert users == ["files"], f"SHA-256 belongs to files.sha256; hashlib is imported by {users}"


def missing_docstrings(module) -> list:
    """Public functions and classes of an imported module without a docstring, and public methods
    that are new in their class (methods overriding a base class's, like Keras' ``call`` or
    ``get_config``, are documented there)."""
    missing = []
    for name, value in vars(module).items():
        if name.startswith("_") or getattr(value, "__module__", None) != module.__name__:
            continue
        if inspect.isfunction(value) or inspect.isclass(value):
            if not inspect.getdoc(value) or inspect.getdoc(value) == inspect.getdoc(type(value)):
                missing.append(f"{module.__name__}.{name}")
        if inspect.isclass(value):
            for attr, member in vars(value).items():
                inherited = any(hasattr(base, attr) for base in value.__mro__[1:])
                if (inspect.isfunction(member) and not attr.startswith("_") and not inherited
                        and not member.__doc__):
                    missing.append(f"{module.__name__}.{name}.{attr}")
    return missing


def test_the_docstring_check_sees_functions_and_new_methods():
    import types

    fake = types.ModuleType("fake")
    exec("class A(dict):\n    'Doc.'\n    def new(self): pass\n    def keys(self): pass\n"
         "def f(): pass\ndef _g(): pass\n", fake.__dict__)
    assert missing_docstrings(fake) == ["fake.A.new", "fake.f"]


def test_every_public_function_and_class_has_a_docstring():
    missing = [name for module in MODULES
               for name in missing_docstrings(importlib.import_module(f"fcnlib.{module}"))]
    assert not missing, "no docstring: " + ", ".join(missing)


def test_each_fcn_builder_cites_the_paper_and_the_reference_net_py():
    from fcnlib import models

    builders = [name for name in dir(models) if name.startswith("fcn") or name == "convolutionalize"]
    assert {"fcn32s", "fcn16s", "fcn8s"} <= set(builders)
    for name in builders:
        doc = inspect.getdoc(getattr(models, name))
        assert "Long, Shelhamer and Darrell" in doc and "https://arxiv.org/abs/1411.4038" in doc, name
        assert "https://github.com/shelhamer/fcn.berkeleyvision.org" in doc and "net.py" in doc, name


def table_rows(markdown: str, heading: str) -> list:
    """``(modules, imports)`` per row of the table under ``heading``: the backticked names of the first
    column, and the comma-separated names of the last ("—" for none)."""
    section = markdown.split(heading, 1)[1].split("\n## ", 1)[0]
    rows = []
    for line in section.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            imports = [] if cells[-1] in ("—", "-", "") else [name.strip() for name in cells[-1].split(",")]
            rows.append((re.findall(r"`([a-z_]+)`", cells[0]), imports))
    return rows


def table_modules(markdown: str, heading: str) -> list:
    """The backticked module names in the first column of the table under ``heading``."""
    return [name for names, _ in table_rows(markdown, heading) for name in names]


ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
HEADING = "## The modules, in import order"


def test_architecture_table_lists_every_module_once_in_import_order_with_its_imports():
    public = sorted(module for module in MODULES if not module.startswith("_"))
    text = ARCHITECTURE.read_text(encoding="utf-8")
    rows = table_rows(text, HEADING)
    listed = [module for names, _ in rows for module in names]
    assert sorted(listed) == public, (
        f"docs/ARCHITECTURE.md: missing {sorted(set(public) - set(listed))}, not modules "
        f"{sorted(set(listed) - set(public))}, twice {sorted({m for m in listed if listed.count(m) > 1})}")
    graph = import_graph()
    for index, module in enumerate(listed):  # Each imports only modules listed above it.
        later = sorted(dep for dep in graph[module] if dep in listed[index:])
        assert not later, f"docs/ARCHITECTURE.md lists {module} above {later}, which it imports"
    for names, imports in rows:  # The imports column is what the code imports (public modules).
        (module,) = names
        actual = sorted(dep for dep in graph[module] if not dep.startswith("_"))
        assert sorted(imports) == actual, f"docs/ARCHITECTURE.md: {module} imports {actual}, the table says {imports}"


def test_the_table_check_reads_modules_and_imports():
    text = "## Mods\n\n| module | owns | imports |\n|---|---|---|\n| `a` | x | — |\n| `b` | y, z | a, c |\n"
    assert table_rows(text, "## Mods") == [(["a"], []), (["b"], ["a", "c"])]


def test_every_public_module_has_its_own_test_module():
    missing = [module for module in MODULES if not module.startswith("_")
               and not (ROOT / "tests" / f"test_{module}.py").is_file()]
    assert not missing, f"no tests/test_<module>.py for {missing}"


def test_the_readme_links_the_architecture_instead_of_repeating_its_table():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/ARCHITECTURE.md" in readme and "## The library" not in readme


def test_fcnlib_imports_nothing_from_the_lab():
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0 else [])
            found += [f"{path.name}: {name}" for name in names if name.split(".")[0] == "bench"]
    assert not found, "fcnlib must not import bench/ (it is not shipped): " + ", ".join(found)


def test_library_reads_no_checkout_folder():
    """Only config decides where the checkout is (to find data/ and the cache); nothing reads docs/ or build/."""
    users = [path.name for path in sorted(PACKAGE.glob("*.py"))
             if path.name != "config.py" and "REPO_ROOT" in path.read_text(encoding="utf-8")]
    assert not users, f"library modules that read checkout paths: {users}"


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CLASHING = ("layers", "models", "metrics")  # fcnlib modules named like Keras modules.


def import_convention_problems(name: str, code: str) -> list:
    """Where a notebook cell breaks the convention: Keras only as ``import keras`` (so its modules
    are always written ``keras.layers``, ``keras.models``, ``keras.metrics``); fcnlib's modules of the
    same names only as ``import fcnlib.layers`` and written in full (``fcnlib.layers.PadToMultiple``
    next to ``keras.layers.Conv2D``); its other modules through ``from fcnlib import <modules>``; and
    no bare ``layers``, ``models`` or ``metrics`` name, bound or used."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("!", "%"))]
    problems = []
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                full = alias.name in {f"fcnlib.{module}" for module in CLASHING}
                if root in ("keras", "fcnlib") and ((alias.name != root and not full) or alias.asname):
                    problems.append(f"{name}: import {alias.name}" + (f" as {alias.asname}" if alias.asname else ""))
        elif isinstance(node, ast.ImportFrom) and node.module:
            root = node.module.split(".")[0]
            names = [alias.name for alias in node.names]
            if root in ("keras", "tensorflow") and (root == "keras" or "keras" in node.module):
                problems.append(f"{name}: from {node.module} import {', '.join(names)}")
            elif root == "fcnlib" and (node.module != "fcnlib" or any(a.asname for a in node.names)
                                       or set(names) - set(MODULES) or set(names) & set(CLASHING)):
                problems.append(f"{name}: from {node.module} import {', '.join(names)}")
        elif isinstance(node, (ast.Assign, ast.For, ast.FunctionDef, ast.arg)):
            targets = ([node.arg] if isinstance(node, ast.arg) else [node.name]
                       if isinstance(node, ast.FunctionDef) else
                       [t.id for t in ast.walk(node.target if isinstance(node, ast.For) else
                                               ast.Tuple(elts=node.targets)) if isinstance(t, ast.Name)])
            problems += [f"{name}: rebinds {target}" for target in targets if target in CLASHING]
        elif isinstance(node, ast.Name) and node.id in CLASHING and isinstance(node.ctx, ast.Load):
            problems.append(f"{name}: bare {node.id} (write fcnlib.{node.id} or keras.{node.id})")
    return problems


def test_notebooks_keep_fcnlib_modules_apart_from_keras():
    problems = []
    for path in NOTEBOOKS:
        for index, cell in enumerate(json.loads(path.read_text(encoding="utf-8"))["cells"]):
            if cell["cell_type"] == "code":
                problems += import_convention_problems(f"{path.name}[{index}]", "".join(cell["source"]))
    assert not problems, "\n".join(problems)


def test_the_import_convention_check_sees_each_break():
    bad = ("from keras import layers\nimport keras.layers\nfrom tensorflow.keras import models\n"
           "from fcnlib.models import fcn8s\nfrom fcnlib import models as fcn_models\n"
           "metrics = ['accuracy']\nfor layers in []: pass\nfrom fcnlib import viz, layers\n"
           "import fcnlib.models as fm\ny = models.fcn8s(2)\n")
    assert len(import_convention_problems("nb", bad)) == 10
    good = ("!pip install x\nimport keras\nimport fcnlib.layers\nimport fcnlib.models\nfrom fcnlib import viz\n"
            "x = keras.layers.Dense(2)\ny = fcnlib.layers.PadToMultiple(32)\nm = fcnlib.models.fcn8s(2)\n")
    assert import_convention_problems("nb", good) == []
