"""axe-core (the accessibility engine of browsers' own audit tools) run in a page of the built site.

axe-core is an npm package pinned in ``tools/axe/package.json`` and its lock file; ``make test``
installs it with ``npm ci`` (:func:`ensure_axe`), and the tests inject its ``axe.min.js`` into each
page: nothing is fetched at test time.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

# Run as a script by `make test` before anything is built: no import of the project.
REPO_ROOT = Path(__file__).resolve().parents[2]
HTML_DIR = REPO_ROOT / "_build" / "html"
AXE_DIR = REPO_ROOT / "tools" / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
#: The impacts that fail the tests ("moderate" and "minor" ones are reported, not failed).
FAILING_IMPACTS = ("serious", "critical")
HOW_TO_INSTALL = (
    "axe-core is not installed: run `make test` (or `npm ci` in tools/axe), which needs Node.js and npm "
    "(`sudo apt-get install nodejs npm` on Debian, Ubuntu)."
)


def installed_version() -> str | None:
    package = AXE_DIR / "node_modules" / "axe-core" / "package.json"
    return json.loads(package.read_text())["version"] if package.exists() and AXE_SCRIPT.exists() else None


def pinned_version() -> str:
    return json.loads((AXE_DIR / "package.json").read_text())["dependencies"]["axe-core"]


def ensure_axe() -> int:
    """``npm ci`` in tools/axe unless the pinned axe-core is already there (then it costs nothing)."""
    if installed_version() == pinned_version():
        print(f"axe-core {pinned_version()} for the accessibility tests: {AXE_SCRIPT.relative_to(REPO_ROOT)}")
        return 0
    npm = shutil.which("npm")
    if npm is None:
        print(HOW_TO_INSTALL, file=sys.stderr)
        return 1
    command = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    print("$ (cd tools/axe && " + " ".join(["npm", *command[1:]]) + ")", flush=True)
    if subprocess.run(command, cwd=AXE_DIR, timeout=600).returncode != 0 or installed_version() != pinned_version():
        print(HOW_TO_INSTALL, file=sys.stderr)
        return 1
    return 0


def site_pages(site: Path = HTML_DIR) -> list[str]:
    """Every page of the built site, as paths relative to its root (the downloads and sources aside)."""
    return sorted(
        path.relative_to(site).as_posix() for path in site.rglob("*.html")
        if path.relative_to(site).parts[0] not in ("_sources", "_downloads", "_static", "_images")
    )


def run_axe(page) -> list[dict]:
    """The violations axe-core finds in the loaded ``page`` (a Playwright page): each with its rule
    (``id``), ``impact``, ``help`` and ``nodes`` (each node's CSS ``target`` and ``html``)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        if not AXE_SCRIPT.exists():
            raise RuntimeError(HOW_TO_INSTALL)
        page.add_script_tag(path=str(AXE_SCRIPT))
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return result["violations"]


def describe(page_path: str, scheme: str, violation: dict, limit: int = 3) -> str:
    """One line per violation: page, scheme, rule, impact, and the first elements it names."""
    elements = "; ".join(
        f"{' '.join(node['target']) if isinstance(node['target'][0], str) else node['target']} {node['html'][:120]}"
        for node in violation["nodes"][:limit]
    )
    more = f" (+{len(violation['nodes']) - limit} more)" if len(violation["nodes"]) > limit else ""
    return (f"{page_path} [{scheme}]: {violation['id']} ({violation['impact']}, {len(violation['nodes'])} "
            f"element(s)): {violation['help']}: {elements}{more}")


if __name__ == "__main__":
    sys.exit(ensure_axe())
