"""What the first cell of a downloadable notebook installs.

conf.py's ``FIRST_NOTEBOOK_CELL`` is the gallery's (sphinx-gallery takes one first cell for every
notebook): it names the packages every recipe may import. A recipe that imports a package that only
its section may import (:data:`cookbook.recipes.SECTION_PACKAGES`: transformers) needs it in its
notebook's install line too, and no other notebook does. sphinx-gallery writes each notebook in
its ``generate_file_rst``; :func:`with_section_packages` wraps that function so that it receives,
for such a recipe, the configuration with the first cell that names the package, at the version
installed (the one pinned in requirements-docs.txt). The downloads and their zip files are written
from it, so they agree.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from cookbook.environment import package_version, release
from cookbook.recipes import parsed, section_packages_imported
from cookbook.site.source_cache import kept_across_builds

#: The two lines of conf.py's first cell that name packages.
_VERIFIED = re.compile(r"^(# This notebook was verified with .*?)\.$", re.MULTILINE)
_INSTALL = re.compile(r"^(# %pip install .*)$", re.MULTILINE)


def first_cell(cell: str, packages: tuple[str, ...]) -> str:
    """``cell`` whose "verified with" and ``%pip install`` lines also name ``packages``, at the
    versions installed here. Unchanged when ``packages`` is empty."""
    if not packages:
        return cell
    if not (_VERIFIED.search(cell) and _INSTALL.search(cell)):
        raise ValueError("conf.py's FIRST_NOTEBOOK_CELL has no '# This notebook was verified with ...' "
                         "or '# %pip install ...' line to add the section's packages to")
    versions = {name: release(package_version(name)) for name in packages}
    verified = ", ".join(f"{name} {version}" for name, version in versions.items())
    pins = " ".join(f"{name}=={version}" for name, version in versions.items())
    cell = _VERIFIED.sub(lambda match: f"{match.group(1)}, {verified}.", cell, count=1)
    return _INSTALL.sub(lambda match: f"{match.group(1)} {pins}", cell, count=1)


@kept_across_builds
def packages_to_install(source: str) -> tuple[str, ...]:
    """The section packages (transformers) a recipe's ``source`` imports."""
    return section_packages_imported(parsed(source))


def recipe_first_cell(cell: str, recipe: Path) -> str:
    """The first cell of ``recipe``'s notebook, from the gallery's ``cell``."""
    return first_cell(cell, packages_to_install(Path(recipe).read_text(encoding="utf-8")))


def with_section_packages(generate_file_rst):
    """sphinx-gallery's ``generate_file_rst``, whose notebook installs the section's packages the
    recipe imports."""
    @functools.wraps(generate_file_rst)
    def generate(fname, target_dir, src_dir, gallery_conf):
        cell = gallery_conf["first_notebook_cell"]
        own = recipe_first_cell(cell, Path(src_dir, fname)) if cell else cell
        if own != cell:
            gallery_conf = dict(gallery_conf, first_notebook_cell=own)
        return generate_file_rst(fname, target_dir, src_dir, gallery_conf)

    return generate
