"""The cookbook's own tools. Recipes never import this package: a downloaded recipe runs on its own.

The tree, one home per idea:

- ``cookbook/`` (this folder): what every part shares. :mod:`cookbook.recipes` says what a recipe
  is (where recipes live, their title, what they may import), :mod:`cookbook.sentinels` what a
  sentinel is, :mod:`cookbook.environment` which versions shape a page, :mod:`cookbook.output_paths`
  how machine paths are kept out of outputs, :mod:`cookbook.errors` how an error message is matched
  to the recipes that document it (``python -m cookbook.explain``), :mod:`cookbook.processes` how a
  zygote forks a child that always ends.
- ``cookbook/harness/``: running and checking recipes outside Sphinx: the runner (a zygote that
  forks one process per recipe), the static lint, the behaviour tracker.
- ``cookbook/site/``: the Sphinx extension and the pages it generates (troubleshooting, versions,
  APIs, thumbnails). Importing it starts no process.

Test-only code (the CI sharding plugin, the local site server) lives under ``tests/``; scripts that
print figures or take pictures (``make bench``, ``make screenshots``) under ``scripts/``.
"""

from pathlib import Path

#: The root of the repository (the folder that holds conf.py).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The gallery sources: one folder per section, each with a README.rst and its plot_*.py.
RECIPES_DIR = REPO_ROOT / "recipes"
#: The Sphinx source folder (hand-written pages; generated ones are git-ignored).
DOC_DIR = REPO_ROOT / "_doc"
#: The folder of DOC_DIR that sphinx-gallery renders the recipes into (``gallery_dirs`` in conf.py).
GALLERY_DIR = "auto_recipes"
#: The behaviour tracker's records, one JSON per environment.
BEHAVIOUR_DIR = DOC_DIR / "behaviour"
#: Everything the build and the tests write.
BUILD_DIR = REPO_ROOT / "_build"
HTML_DIR = BUILD_DIR / "html"


def display_path(path: Path) -> str:
    """``recipes/section/plot_x.py`` for a file of the repository, the absolute path otherwise."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)
