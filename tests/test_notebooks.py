"""Every notebook a reader can download runs in a fresh kernel, from a folder outside the
repository, with only the pinned requirements installed."""

import json

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from cookbook import REPO_ROOT
from cookbook.environment import package_version

GALLERY = REPO_ROOT / "_doc" / "auto_recipes"
NOTEBOOKS = sorted(GALLERY.rglob("plot_*.ipynb"))
pytestmark = pytest.mark.needs_site


def test_the_build_produced_notebooks():
    assert NOTEBOOKS, f"no notebook under {GALLERY}: build the site first (make html)"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: str(path.relative_to(GALLERY)))
def test_notebook_runs_in_a_fresh_kernel(notebook, tmp_path):
    nb = nbformat.read(notebook, as_version=4)
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
        pytest.fail(f"{notebook.relative_to(REPO_ROOT)}: cell {failing} ({source!r}) failed:\n{error}", pytrace=False)
    assert not list(REPO_ROOT.glob("*.onnx")) and not list(REPO_ROOT.glob("*.pt2"))


def test_first_cell_says_which_versions_and_how_to_install_them():
    torch_version = package_version("torch").split("+")[0]
    for notebook in NOTEBOOKS:
        first = json.loads(notebook.read_text())["cells"][0]
        text = "".join(first["source"])
        assert f"torch=={torch_version}" in text and f"onnxscript=={package_version('onnxscript')}" in text, notebook
        assert "pip install" in text, notebook
