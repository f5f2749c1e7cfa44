"""The versions that decide what a recipe shows: printed in failures, shown on the site, and used
to invalidate the gallery's cache when any of them changes."""

from __future__ import annotations

import functools
import platform
from importlib import metadata

#: The packages whose behaviour the recipes document, in the order they are reported.
DOCUMENTED_PACKAGES = ("torch", "onnx", "onnxscript", "onnxruntime")
#: The libraries whose models the recipes of a section run (cookbook.recipes.SECTION_PACKAGES):
#: named in the behaviour records, and their change runs every recipe again.
MODEL_LIBRARIES = ("transformers",)
#: What else changes the captured output of a page.
BUILD_PACKAGES = ("numpy", "sphinx-gallery") + MODEL_LIBRARIES


@functools.lru_cache(maxsize=None)  # what is installed does not change under a running process
def package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def release(version: str) -> str:
    """``2.13.0`` for ``2.13.0+cpu``: the release, without the build's local label."""
    return version.split("+")[0]


def record_release(record: dict) -> str:
    """The torch release a behaviour record (``_doc/behaviour/*.json``) was made with."""
    return release(record["environment"]["torch"])


#: The ``outcome`` of a recipe in a behaviour record when it stopped at its first use of an API its
#: release does not have yet (written by ``cookbook.harness.behaviour``, read by the site's pages).
NEEDS_LATER_RELEASE = "needs-later-release"


def versions(packages=DOCUMENTED_PACKAGES) -> dict[str, str]:
    """``{"python": "3.11.7", "torch": "2.13.0+cpu", ...}`` without importing any of them."""
    found = {"python": platform.python_version()}
    found.update({name: package_version(name) for name in packages})
    return found


def versions_line(packages=DOCUMENTED_PACKAGES) -> str:
    """``python 3.11.7, torch 2.13.0+cpu, onnx 1.23.2, ...``"""
    return ", ".join(f"{name} {version}" for name, version in versions(packages).items())


def build_fingerprint() -> dict[str, str]:
    """Everything whose change must make the gallery run every recipe again."""
    return versions(DOCUMENTED_PACKAGES + BUILD_PACKAGES)

