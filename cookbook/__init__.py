"""Tools of the cookbook: the recipe runner, the recipe checks and the Sphinx extensions.

Recipes never import this package: a downloaded recipe must run on its own.
"""

from pathlib import Path

#: The root of the repository (the folder that holds conf.py).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The gallery sources.
RECIPES_DIR = REPO_ROOT / "recipes"
