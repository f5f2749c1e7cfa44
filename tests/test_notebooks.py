"""Every notebook a reader can download runs as a reader runs it.

Running a notebook in a fresh Jupyter kernel costs a kernel start and the recipe's whole run
again, although the same code already ran alone in a fresh process (in the doc build, whose run
counts for tests/test_recipes.py, or in the harness itself). So a notebook runs in a real kernel
(from a folder outside the repository, with only the pinned packages) when:

- it is the representative of its first cell: the quickest recipe, as last measured by the harness
  (``tests/recipe-times.json``), among the notebooks whose first cell is the same (the first cell
  is the only part of a notebook that the conversion does not take from its recipe; it varies with
  the packages the recipe imports, such as transformers). One real run per distinct first cell
  keeps the kernel path, that cell and the conversion honest, and any notebook with that cell can
  do it; ``COOKBOOK_EVERY_NOTEBOOK=1`` (``make notebooks``) runs every notebook in a kernel, or
- its conversion cannot be proven identical to its recipe: its code cells are not exactly the
  recipe's code blocks as sphinx-gallery parses them, its first cell is not the configured one, or
  its code uses what differs between a script and a kernel (``__file__``, ``sys.argv``, a
  function's ``co_filename``).

Every other notebook is proven to hold exactly the code that the harness ran.
"""

from __future__ import annotations

import ast
import functools
import json
import os
import runpy

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from sphinx_gallery.py_source_parser import remove_config_comments, split_code_and_text_blocks

from cookbook import DOC_DIR, GALLERY_DIR, RECIPES_DIR, REPO_ROOT
from cookbook.environment import package_version
from cookbook.recipes import discover_recipes
from cookbook.site.notebooks import recipe_first_cell
from plugins.sharding import recipe_times

GALLERY = DOC_DIR / GALLERY_DIR
#: The notebook of each recipe that exists (not of one removed since the last build): a missing one
#: fails its test.
NOTEBOOKS = [GALLERY / recipe.relative_to(RECIPES_DIR).with_suffix(".ipynb") for recipe in discover_recipes()]
FIRST_CELL = runpy.run_path(str(REPO_ROOT / "conf.py"))["FIRST_NOTEBOOK_CELL"]
#: What a script has and a notebook's kernel has not (or has otherwise).
SCRIPT_ONLY = ("__file__", "sys.argv")
#: Attributes whose value differs between a script and a kernel: a kernel compiles each cell as a
#: file of its own, so a function's ``co_filename`` is not the file of the cell that calls it.
SCRIPT_ONLY_ATTRIBUTES = ("co_filename",)
#: How long each recipe took in the harness, last time it was measured.
RECIPE_TIMES = recipe_times()
pytestmark = pytest.mark.needs_site


def code_cells(notebook: dict) -> list[str]:
    return ["".join(cell["source"]).strip() for cell in notebook["cells"] if cell["cell_type"] == "code"]


def recipe_code_blocks(recipe) -> list[str]:
    _, blocks = split_code_and_text_blocks(str(recipe))
    return [remove_config_comments(block.content).strip() for block in blocks if block.type == "code"]


def why_not_proven(notebook_path, notebook: dict | None = None) -> str | None:
    """None when the notebook's code is exactly its recipe's, else what differs."""
    notebook = notebook or json.loads(notebook_path.read_text())
    recipe = RECIPES_DIR / notebook_path.relative_to(GALLERY).with_suffix(".py")
    if not recipe.exists():
        return f"no recipe {recipe.relative_to(REPO_ROOT)}"
    cells = code_cells(notebook)
    if not cells or cells[0] != recipe_first_cell(FIRST_CELL, recipe).strip():
        return "its first cell is not conf.py's FIRST_NOTEBOOK_CELL (with the section's packages it imports)"
    blocks = recipe_code_blocks(recipe)
    if cells[1:] != blocks:
        return "its code cells differ from the recipe's code blocks"
    used = script_only_names("\n".join(blocks))
    return f"its code uses {', '.join(used)}, which differ in a kernel" if used else None


def script_only_names(code: str) -> list[str]:
    """The names of :data:`SCRIPT_ONLY` and :data:`SCRIPT_ONLY_ATTRIBUTES` that ``code`` reads (in a string, such as the source of a
    script it runs in a subprocess, they are not the kernel's)."""
    used = set()
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Name) and node.id in SCRIPT_ONLY:
            used.add(node.id)
        elif isinstance(node, ast.Attribute) and node.attr in SCRIPT_ONLY_ATTRIBUTES:
            used.add(node.attr)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if f"{node.value.id}.{node.attr}" in SCRIPT_ONLY:
                used.add(f"{node.value.id}.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and node.module == "sys":
            used.update(f"sys.{alias.name}" for alias in node.names if f"sys.{alias.name}" in SCRIPT_ONLY)
    return sorted(used)


def representative(notebooks: list) -> object:
    """The notebook of a group that runs in a kernel whatever its proof: its quickest recipe."""
    return min(notebooks, key=lambda path: RECIPE_TIMES.get(f"{path.parent.name}/{path.stem}.py", float("inf")))


def first_cell_of(notebook_path) -> str:
    """The first cell that ``notebook_path``'s recipe gets (what a kernel run of it vouches for)."""
    recipe = RECIPES_DIR / notebook_path.relative_to(GALLERY).with_suffix(".py")
    return recipe_first_cell(FIRST_CELL, recipe) if recipe.exists() else ""


@functools.cache
def notebooks_by_first_cell() -> dict[str, list]:
    """The notebooks grouped by the first cell their recipe gets (worked out once per session)."""
    groups: dict[str, list] = {}
    for path in NOTEBOOKS:
        groups.setdefault(first_cell_of(path), []).append(path)
    return groups


def runs_in_a_kernel(notebook_path) -> str | None:
    """Why the notebook must run in a real kernel, or None when its proof of identity suffices."""
    if os.environ.get("COOKBOOK_EVERY_NOTEBOOK"):
        return "COOKBOOK_EVERY_NOTEBOOK is set"
    if notebook_path in {representative(group) for group in notebooks_by_first_cell().values()}:
        return "the representative of its first cell (the quickest recipe whose notebook starts with it)"
    return why_not_proven(notebook_path)


def test_the_build_produced_notebooks():
    missing = [str(path.relative_to(REPO_ROOT)) for path in NOTEBOOKS if not path.exists()]
    assert NOTEBOOKS and not missing, f"missing notebooks {missing}: build the site first (make html)"


def test_the_gallery_holds_no_notebook_of_a_removed_recipe():
    """cookbook.site.leftovers: the build deletes what a removed or renamed recipe left."""
    assert sorted(GALLERY.glob("*/plot_*.ipynb")) == sorted(path for path in NOTEBOOKS if path.exists())


def test_a_notebook_installs_transformers_only_where_its_recipe_imports_it():
    """cookbook.site.notebooks: the install line of a transformers recipe's notebook names the
    pinned transformers; every other notebook's first cell is conf.py's, which does not."""
    pin = f"transformers=={package_version('transformers')}"
    assert pin not in FIRST_CELL
    installs = {}
    for path in NOTEBOOKS:
        first = code_cells(json.loads(path.read_text()))[0]
        install = next(line for line in first.splitlines() if line.startswith("# %pip install "))
        installs[path.relative_to(GALLERY).as_posix()] = pin in install.split()
    with_transformers = sorted(name for name, has in installs.items() if has)
    assert with_transformers, "no notebook installs transformers"
    assert with_transformers == sorted(name for name in installs if name.startswith("transformers/")), installs


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: str(path.relative_to(GALLERY)))
def test_notebook_runs_as_a_reader_runs_it(notebook, tmp_path, monkeypatch):
    assert notebook.exists(), f"{notebook.relative_to(REPO_ROOT)} is missing: build the site first (make html)"
    reason = runs_in_a_kernel(notebook)
    if reason is None:
        # Proven: exactly the recipe's code, which ran alone in a fresh process (tests/test_recipes.py).
        assert why_not_proven(notebook) is None
        return
    nb = nbformat.read(notebook, as_version=4)
    # The kernel's torch gets this test worker's share of the cores, as the harness's recipes do
    # (two kernels of two threads each on 2 cores slow every test down; the outputs are the same).
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    monkeypatch.setenv("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    try:
        client.execute()
    except CellExecutionError as error:
        failing = next(
            (index for index, cell in enumerate(nb.cells)
             if cell.cell_type == "code" and any(out.get("output_type") == "error" for out in cell.get("outputs", []))),
            None,
        )
        source = nb.cells[failing].source.strip().splitlines()[0] if failing is not None else "?"
        pytest.fail(f"{notebook.relative_to(REPO_ROOT)} ({reason}): cell {failing} ({source!r}) failed:\n{error}",
                    pytrace=False)
    assert not list(REPO_ROOT.glob("*.onnx")) and not list(REPO_ROOT.glob("*.pt2"))


def test_every_first_cell_runs_in_a_kernel_once_and_a_transformers_one_is_among_them():
    """One kernel run per distinct first cell, the quickest; the transformers notebooks' cell is one."""
    if os.environ.get("COOKBOOK_EVERY_NOTEBOOK"):
        pytest.skip("every notebook runs in a kernel")
    cells = {first_cell_of(path) for path in NOTEBOOKS}
    representatives = [path for path in NOTEBOOKS if (runs_in_a_kernel(path) or "").startswith("the representative")]
    assert sorted(first_cell_of(path) for path in representatives) == sorted(cells)
    assert any(path.parent.name == "transformers" for path in representatives), representatives
    for path in representatives:
        same_cell = [other for other in NOTEBOOKS if first_cell_of(other) == first_cell_of(path)]
        assert path == representative(same_cell)


@pytest.mark.parametrize("change", ["a code cell edited", "a code cell lost", "first cell replaced", "uses __file__"])
def test_a_notebook_whose_conversion_differs_is_not_taken_as_proven(change):
    path = next(path for path in NOTEBOOKS if why_not_proven(path) is None)
    notebook = json.loads(path.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    if change == "a code cell edited":
        code[-1]["source"] = "".join(code[-1]["source"]) + "\nprint('not in the recipe')"
    elif change == "a code cell lost":
        notebook["cells"].remove(code[-1])
    elif change == "first cell replaced":
        code[0]["source"] = "import torch"
    else:
        for cell in code[1:]:
            cell["source"] = "".join(cell["source"]).replace("import torch", "import torch\nprint(__file__)", 1)
    assert why_not_proven(path, notebook) is not None


@pytest.mark.parametrize("code, used", [
    ("import sys\nfirst = sys.argv[1]", ["sys.argv"]),
    ("from sys import argv", ["sys.argv"]),
    ("here = __file__", ["__file__"]),
    ("model_file = Model.forward.__code__.co_filename", ["co_filename"]),
    ("LOADER = 'import sys; print(sys.argv[1:], __file__)'", []),  # the source of another script
])
def test_script_only_names_are_read_from_the_code_not_its_strings(code, used):
    assert script_only_names(code) == used


def test_first_cell_says_which_versions_and_how_to_install_them():
    torch_version = package_version("torch").split("+")[0]
    for notebook in NOTEBOOKS:
        text = code_cells(json.loads(notebook.read_text()))[0]
        assert f"torch=={torch_version}" in text and f"onnxscript=={package_version('onnxscript')}" in text, notebook
        assert "pip install" in text and "torch.__version__" in text, notebook
