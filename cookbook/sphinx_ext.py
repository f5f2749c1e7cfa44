"""The cookbook's Sphinx extension.

- **No stale pages.** sphinx-gallery re-runs a recipe only when the md5 of its source changed, so
  after a PyTorch upgrade it would publish yesterday's outputs. Before the gallery is generated,
  the versions that shape the outputs (:func:`cookbook.environment.build_fingerprint`) are compared
  with those of the previous build; when they differ, every recipe's cached md5 is dropped so
  that every recipe runs again. An unchanged environment keeps the cache.
- **No machine paths on pages.** After the gallery is generated, its reST files are rewritten with
  :func:`cookbook.output_paths.scrub_paths`: ``# File: /home/me/.../plot_x.py:19`` becomes
  ``# File: recipes/section/plot_x.py:19``. The downloadable ``.py`` and ``.ipynb`` are untouched.
- **The environment on every page**, in the footer (``cookbook_versions`` in the templates).
"""

from __future__ import annotations

import json
from pathlib import Path

from sphinx.application import Sphinx
from sphinx.util import logging

from cookbook import REPO_ROOT
from cookbook.environment import build_fingerprint, versions_line
from cookbook.output_paths import scrub_paths

logger = logging.getLogger(__name__)

FINGERPRINT_FILE = ".build-environment.json"


def _gallery_dirs(app: Sphinx) -> list[Path]:
    dirs = app.config.sphinx_gallery_conf["gallery_dirs"]
    return [Path(app.srcdir) / d for d in ([dirs] if isinstance(dirs, str) else dirs)]


def invalidate_gallery_cache_on_new_environment(app: Sphinx) -> None:
    """Drop sphinx-gallery's md5 cache when the versions changed since the last build."""
    current = build_fingerprint()
    for gallery in _gallery_dirs(app):
        record = gallery / FINGERPRINT_FILE
        previous = json.loads(record.read_text()) if record.exists() else None
        if previous != current:
            stale = list(gallery.rglob("*.md5"))
            for md5 in stale:
                md5.unlink()
            if previous is not None:
                changed = ", ".join(
                    f"{name} {previous.get(name, '?')} -> {version}"
                    for name, version in current.items()
                    if previous.get(name) != version
                )
                logger.info(f"[cookbook] environment changed ({changed}): every recipe runs again")
            gallery.mkdir(parents=True, exist_ok=True)
            record.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")


def scrub_generated_pages(app: Sphinx) -> None:
    """Rewrite the absolute paths of this machine in the pages sphinx-gallery generated."""
    rewritten = 0
    for gallery in _gallery_dirs(app):
        for page in gallery.rglob("*.rst"):
            text = page.read_text(encoding="utf-8")
            clean = scrub_paths(text, REPO_ROOT)
            if clean != text:
                page.write_text(clean, encoding="utf-8")
                rewritten += 1
    if rewritten:
        logger.info(f"[cookbook] machine paths rewritten in {rewritten} generated page(s)")


def add_versions_to_context(app: Sphinx, pagename, templatename, context, doctree) -> None:
    context["cookbook_versions"] = versions_line()


def setup(app: Sphinx) -> dict:
    # sphinx-gallery generates the gallery on builder-inited at the default priority (500).
    app.connect("builder-inited", invalidate_gallery_cache_on_new_environment, priority=100)
    app.connect("builder-inited", scrub_generated_pages, priority=900)
    app.connect("html-page-context", add_versions_to_context)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
