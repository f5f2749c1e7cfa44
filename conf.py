"""Sphinx configuration of the cookbook.

The hand-written pages are in ``_doc/`` (the Sphinx source folder, built with ``-c .`` so that this
file stays at the root); the recipes in ``recipes/`` are run by sphinx-gallery and rendered into
``_doc/auto_recipes/`` (generated, git-ignored). The project's own extensions are in
``cookbook/site/``.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from cookbook.environment import package_version  # noqa: E402
from cookbook.environment import release as base_version  # noqa: E402 (conf.py has its own `release`)
from cookbook import GALLERY_DIR  # noqa: E402
from cookbook.recipes import RECIPE_PACKAGES  # noqa: E402
from cookbook.repository import pages_url, repository, url_path  # noqa: E402

project = "Dynamic Shapes Export Cookbook"
author = "The cookbook's contributors"
copyright = "2026, the cookbook's contributors"  # noqa: A001 - the name Sphinx reads
release = version = f"torch {base_version(package_version('torch'))}"

extensions = [
    "sphinx_gallery.gen_gallery",
    "sphinx_copybutton",
    "sphinxext.opengraph",
    "notfound.extension",
    "cookbook.site",
    "cookbook.site.publishing",
    "cookbook.site.accessibility",
]

# The repository on GitHub (owner/name): GITHUB_REPOSITORY in GitHub Actions, else the default of
# cookbook/repository.py. The published site's address derives from it (GitHub Pages:
# https://owner.github.io/name/), and from that address the canonical link of every page, the
# sitemap and robots.txt (cookbook/site/publishing.py), the link previews and the 404 page's links.
cookbook_repository = repository()
html_baseurl = pages_url(cookbook_repository)

root_doc = "index"
templates_path = ["_doc/_templates"]
html_static_path = ["_doc/_static"]
# sphinx-gallery's "Computation times" pages are not written (``write_computation_times`` below);
# the last two patterns keep those of an older build out of the site.
exclude_patterns = [
    "_build", f"{GALLERY_DIR}/**/*.ipynb", f"{GALLERY_DIR}/**/*.py",
    "sg_execution_times.rst", "**/sg_execution_times.rst",
]

html_theme = "furo"
html_title = "Dynamic Shapes Export Cookbook"
html_css_files = ["cookbook.css"]
html_favicon = "_doc/_static/favicon.svg"
html_last_updated_fmt = None
html_show_sourcelink = False
# No general index: no page has index entries, so Sphinx wrote an empty "Index" page (at every
# build, a no-op one included) that only an invisible <link rel="index"> pointed to.
html_use_index = False
# Code highlighting that reads at a contrast of at least 4.5:1 (WCAG AA), in light and dark mode
# (furo switches to the dark style with the reader's colour scheme): accessible-pygments' styles.
pygments_style = "a11y-high-contrast-light"
pygments_dark_style = "a11y-high-contrast-dark"

# Link previews (Open Graph): each page's title and first paragraph, and the recipe's card as its
# image (cookbook/site/publishing.py sets it per page); no generated social cards (they need matplotlib).
ogp_site_url = html_baseurl
ogp_site_name = project
ogp_social_cards = {"enable": False}
ogp_image = "_static/cookbook-card.png"  # drawn by cookbook/site/publishing.py
ogp_enable_meta_description = True

# The page GitHub Pages serves for an address it does not have, at any depth: its links start from
# the site's path, and it offers the search and the error matcher (cookbook/site/publishing.py).
notfound_urls_prefix = url_path(html_baseurl)
notfound_template = "404.html"

# Copy buttons: skip prompts and the output of code blocks.
copybutton_exclude = ".linenos, .gp, .go"

# The versions every page was verified with (the packages a recipe may import).
VERIFIED = {name: base_version(package_version(name)) for name in RECIPE_PACKAGES}
# The first cell of every downloadable notebook: what to install, and a word when the reader's
# torch is not the one the page was verified with.
FIRST_NOTEBOOK_CELL = f"""# This notebook was verified with {", ".join(f"{name} {version}" for name, version in VERIFIED.items())}.
# In a fresh environment, install what it needs with:
# %pip install {" ".join(f"{name}=={version}" for name, version in VERIFIED.items())}
import torch

print(f"running with torch {{torch.__version__}}")
if torch.__version__.split("+")[0] != "{VERIFIED['torch']}":
    print("This notebook was verified with torch {VERIFIED['torch']}: the cookbook's page 'What changed between "
          "PyTorch versions' says which of its expectations hold on other releases.")"""

# The sections of the gallery, in the order readers meet them.
SECTIONS = [
    "getting_started",
    "shapes_spec",
    "constraints",
    "data_dependent",
    "structured_inputs",
    "checking",
    "onnx",
    "models",
    "transformers",
]

cookbook_sections = SECTIONS

sphinx_gallery_conf = {
    # Not joblib: the cookbook's extension runs each recipe in a fresh fork of a zygote, one per core
    # at a time (COOKBOOK_BUILD_JOBS overrides), each torch with its share of the cores
    # (cookbook/site/recipe_pool.py).
    "parallel": False,
    "examples_dirs": ["../recipes"],
    "gallery_dirs": [GALLERY_DIR],
    # Every recipe is executed; a failing one fails the build once all recipes were tried.
    "filename_pattern": r"/plot_",
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "subsection_order": [f"../recipes/{name}" for name in SECTIONS],
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": True,
    "show_memory": False,
    "show_signature": False,
    "remove_config_comments": True,
    "capture_repr": (),
    # Around each recipe (cookbook/site/execution.py): the warnings a fresh `python recipe.py` would
    # show, a time limit (COOKBOOK_RECIPE_TIMEOUT), and a watch for sentinels that fire.
    "reset_modules": ("cookbook.site.execution.around_recipe",),
    "reset_modules_order": "both",
    "matplotlib_animations": False,
    "image_scrapers": (),
    "junit": "../sphinx-gallery-junit.xml",
    # No "Computation times" pages: nine orphan pages that no page links to, whose figures change
    # with every build, and whose table loads jQuery and DataTables from CDNs. `make bench` reports
    # the recipes' times.
    "write_computation_times": False,
    "first_notebook_cell": FIRST_NOTEBOOK_CELL,
}
