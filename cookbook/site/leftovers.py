"""What a removed or renamed recipe left behind, deleted at the start of each build.

sphinx-gallery writes, for each recipe ``recipes/<section>/plot_x.py``, files next to its page in
``_doc/auto_recipes/<section>/`` (``plot_x.rst``, ``.py``, ``.py.md5``, ``.ipynb``, ``.zip``,
``.cost.json``, ``images/sphx_glr_plot_x_*.png``, ``images/thumb/sphx_glr_plot_x_thumb.png``), and
never deletes them. Once the recipe is gone, the stale ``plot_x.rst`` is a page no index lists
("document isn't included in any toctree": warnings are errors, the build fails) and the stale
notebook is one that the notebook tests would run. Sphinx, for its part, keeps the page's HTML,
its downloads and images in ``_build/html``, and the build's run record in ``_build/recipe-runs``.

:func:`remove_leftovers` (``builder-inited``, before anything reads the gallery) deletes each of
these whose recipe no longer exists, and the folders of sections that no longer exist. A file is
tied to its recipe by its name only (the names above, :data:`GENERATED`), so a file of the
gallery that is no recipe's (the section's ``index.rst``, the gallery's zips) is never touched.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

#: The files sphinx-gallery (and this extension) writes next to a recipe's page, by the recipe's
#: stem: ``plot_x.rst``, ``plot_x.py.md5``, ... (see cookbook/site/gallery_internals.py).
GENERATED = re.compile(r"(?P<stem>[^.]+)\.(rst|py|py\.md5|ipynb|zip|cost\.json|codeobj\.json)")
#: A recipe's figures and thumbnail: ``images/sphx_glr_plot_x_001.png``, ``images/thumb/sphx_glr_plot_x_thumb.png``.
IMAGE = re.compile(r"sphx_glr_(?P<stem>.+)_(thumb|\d{3})\.png")
#: What a recipe's page becomes in the HTML output, by the same stem.
DOWNLOAD = re.compile(r"(?P<stem>[^.]+)\.(py|ipynb|zip)")


def _stem(pattern: re.Pattern, name: str) -> str | None:
    match = pattern.fullmatch(name)
    return match.group("stem") if match else None


def gallery_leftovers(gallery: Path, sources: dict[str, set[str]]) -> list[Path]:
    """The files and folders of ``gallery`` (``_doc/auto_recipes``) that belong to no source:
    ``sources`` maps each section to the stems of its ``.py`` files."""
    found = []
    if not gallery.is_dir():
        return found
    for section in sorted(path for path in gallery.iterdir() if path.is_dir()):
        if section.name == "images":  # the gallery's own (sphinx-gallery's top-level images folder)
            continue
        if section.name not in sources:
            found.append(section)
            continue
        stems = sources[section.name]
        for path in sorted(section.iterdir()):
            if path.is_file() and _stem(GENERATED, path.name) not in (None, "index", *stems):
                found.append(path)
        for images in (section / "images", section / "images" / "thumb"):
            for path in sorted(images.glob("*.png")) if images.is_dir() else []:
                if _stem(IMAGE, path.name) not in (None, *stems):
                    found.append(path)
    return found


def html_leftovers(out: Path, doctrees: Path, gallery_dir: str, sources: dict[str, set[str]]) -> list[Path]:
    """The pages, sources, doctrees, downloads and images in the HTML output ``out`` (and Sphinx's
    ``doctrees`` folder) of recipes that no longer exist. A download or an image is kept while any section still has a recipe of its name
    (Sphinx's download folders are named by a hash, not by the section)."""
    found = []
    every_stem = set().union(*sources.values()) if sources else set()
    for root in (out / gallery_dir, out / "_sources" / gallery_dir, doctrees / gallery_dir):
        if not root.is_dir():
            continue
        for section in sorted(path for path in root.iterdir() if path.is_dir()):
            if section.name not in sources:
                found.append(section)
                continue
            for path in sorted(section.iterdir()):
                stem = path.name.split(".")[0]
                if path.is_file() and stem.startswith("plot_") and stem not in sources[section.name]:
                    found.append(path)
    for path in sorted((out / "_downloads").glob("*/*")):
        stem = _stem(DOWNLOAD, path.name)
        if stem is not None and stem.startswith("plot_") and stem not in every_stem:
            found.append(path)
    for path in sorted((out / "_images").glob("sphx_glr_*.png")):
        stem = _stem(IMAGE, path.name)
        if stem is not None and stem not in every_stem:
            found.append(path)
    return found


def run_record_leftovers(runs_dir: Path, recipes_dir: Path) -> list[Path]:
    """The run records (``<section>__<name>.json``) of recipes that no longer exist."""
    found = []
    for path in sorted(runs_dir.glob("*__*.json")) if runs_dir.is_dir() else []:
        section, name = path.stem.split("__", 1)
        if not (recipes_dir / section / name).exists():
            found.append(path)
    return found


def owners(paths: list[Path]) -> list[str]:
    """The recipes (their stems) and sections that ``paths`` were left by, for the build's log."""
    return sorted({_stem(IMAGE, path.name) or path.name.split("__")[-1].split(".")[0] for path in paths})


def delete(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
            if path.parent.parent.name == "_downloads" and not any(path.parent.iterdir()):
                path.parent.rmdir()  # Sphinx's folder for that one download


def sources_of(examples_dir: Path) -> dict[str, set[str]]:
    """Each section folder of ``examples_dir`` (one with a README, as sphinx-gallery requires) and
    the stems of its ``.py`` files."""
    return {
        section.name: {path.stem for path in section.glob("*.py")}
        for section in sorted(examples_dir.iterdir())
        if section.is_dir() and (any(section.glob("README.*")) or any(section.glob("GALLERY_HEADER.*")))
    } if examples_dir.is_dir() else {}
