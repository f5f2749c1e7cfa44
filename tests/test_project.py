"""The project's own code: one home per idea, no import cycle, one source for each shared rule."""

import ast
import os
import runpy
import subprocess
import sys
import textwrap

import pytest

from cookbook import REPO_ROOT
from cookbook.environment import package_version, release
from cookbook.harness.lint import check_imports, check_title
from cookbook.recipes import RECIPE_PACKAGES, title_of

PACKAGE = REPO_ROOT / "cookbook"


def module_name(path):
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def cookbook_imports(path):
    """(imported cookbook module, inside a function?) for each import of a cookbook module."""
    tree = ast.parse(path.read_text())
    functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    nested = {id(inner) for function in functions for inner in ast.walk(function) if inner is not function}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cookbook"):
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names if alias.name.startswith("cookbook")]
        for name in names:
            found.append((name, id(node) in nested))
    return found


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def import_graph():
    return {name: {imported for imported, _ in cookbook_imports(path) if imported in MODULES and imported != name}
            for name, path in MODULES.items()}


def test_the_module_graph_has_no_cycle():
    graph, state, cycles = import_graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles: " + "; ".join(" -> ".join(cycle) for cycle in cycles)


def test_no_cookbook_module_is_imported_lazily_to_dodge_a_cycle():
    lazy = [f"{name} imports {imported} inside a function" for name, path in MODULES.items()
            for imported, nested in cookbook_imports(path) if nested]
    assert not lazy, lazy


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_module_imports_on_its_own(module):
    process = subprocess.run([sys.executable, "-c", f"import {module}"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr


def test_the_sphinx_extension_starts_no_process_and_imports_no_runner():
    code = textwrap.dedent("""
        import sys, psutil
        import cookbook.site
        assert "cookbook.harness.runner" not in sys.modules, "the Sphinx extension imports the runner"
        assert not psutil.Process().children(), "importing the Sphinx extension started a process"
    """)
    process = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert process.returncode == 0, process.stderr


def test_the_lint_allows_exactly_the_packages_a_recipe_may_import():
    allowed = ast.parse("\n".join(f"import {name}" for name in RECIPE_PACKAGES))
    assert check_imports(allowed) == []
    assert check_imports(ast.parse("import pandas")), "an import outside the list must be refused"


def test_a_notebook_installs_exactly_the_packages_a_recipe_may_import_at_the_verified_versions():
    """The first cell of every notebook (conf.py's FIRST_NOTEBOOK_CELL): a reader's fresh
    environment gets what the recipes import, at the versions the pages were verified with."""
    cell = runpy.run_path(str(REPO_ROOT / "conf.py"))["FIRST_NOTEBOOK_CELL"]
    (install,) = [line for line in cell.splitlines() if "%pip install" in line]
    pinned = dict(spec.split("==") for spec in install.split("%pip install", 1)[1].split())
    assert set(pinned) == set(RECIPE_PACKAGES), install
    assert all(pinned[name] == release(package_version(name)) for name in RECIPE_PACKAGES), install


@pytest.mark.parametrize("docstring, title", [
    ("Dim + Dim\n=========\n\nIntro.", "Dim + Dim"),
    ("``Dim`` and ``min``\n===================\n", "Dim and min"),
    ("Underlined with dashes\n----------------------\n", ""),
    ("Underline too short\n=====\n", ""),
    ("No title at all.", ""),
])
def test_the_lint_and_the_pages_read_a_title_the_same_way(docstring, title):
    assert title_of(docstring) == title
    problems = check_title(ast.parse(f'"""\n{docstring}\n"""\n'))
    assert bool(problems) == (title == ""), problems


def test_ruff_passes_on_the_project():
    """`make lint` runs ruff (ruff.toml) on every Python file, recipes included."""
    process = subprocess.run([sys.executable, "-m", "ruff", "check", "--output-format", "concise", "."],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert process.returncode == 0, process.stdout + process.stderr


@pytest.mark.skipif(sys.prefix != str(REPO_ROOT / ".venv"), reason="the virtualenv was not made by `make install`")
def test_the_makefile_installs_the_packages_with_their_bytecode():
    # Without .pyc files (uv writes none by default; PYTHONDONTWRITEBYTECODE stops Python from
    # writing them) every recipe's process compiles torch's modules again: import torch takes twice as long.
    import importlib.util

    import torch

    compiled = importlib.util.cache_from_source(torch.__file__)
    assert os.path.exists(compiled), f"{compiled} is missing: run `make distclean`, then `make install` (see the Makefile)"
