"""The Chromium that the browser tests drive: found, or installed by ``make test`` before it builds
anything, so that a machine without a browser learns it in seconds, not after the build.

In this order:

1. ``COOKBOOK_CHROMIUM``, when set: that executable (a Chromium or Chrome), or an error if it is missing;
2. a Chromium on ``PATH`` (``chromium``, ``chromium-browser``, ``google-chrome``);
3. Playwright's own Chromium, if ``python -m playwright install chromium`` ran before.

When none is found, ``python tests/support/browser.py`` (the first step of ``make test``) installs
one the way the ecosystem does: Playwright's own download (into ``~/.cache/ms-playwright``) where
the network allows it, else, as root on Debian or Ubuntu, the distribution's ``chromium`` package
(``apt-get install chromium``); otherwise it stops with one sentence saying what to install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

NAMES_ON_PATH = ("chromium", "chromium-browser", "google-chrome")
HOW_TO_INSTALL = (
    "make test needs Chromium for its browser tests and could not install one: install it with "
    "`sudo apt-get install chromium` (Debian, Ubuntu) or `.venv/bin/python -m playwright install chromium`, "
    "or set COOKBOOK_CHROMIUM to the path of a Chromium or Chrome executable."
)


class NoBrowser(RuntimeError):
    pass


def playwright_chromium() -> str | None:
    """The executable of Playwright's own Chromium, if it was downloaded."""
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            path = playwright.chromium.executable_path
    except Exception:  # noqa: BLE001 - no driver, no browser: simply not available
        return None
    return path if path and Path(path).exists() else None


def find_chromium() -> str | None:
    """The Chromium to drive, or None when the machine has none."""
    chosen = os.environ.get("COOKBOOK_CHROMIUM")
    if chosen:
        if not Path(chosen).exists():
            raise NoBrowser(f"COOKBOOK_CHROMIUM={chosen} does not exist: point it at a Chromium or Chrome executable.")
        return chosen
    for name in NAMES_ON_PATH:
        found = shutil.which(name)
        if found:
            return found
    return playwright_chromium()


def _run(command: list[str], timeout: float) -> bool:
    print("$ " + " ".join(command), flush=True)
    try:
        return subprocess.run(command, timeout=timeout, env=dict(os.environ, DEBIAN_FRONTEND="noninteractive")).returncode == 0
    except (OSError, subprocess.TimeoutExpired) as error:
        print(f"  failed: {error}", flush=True)
        return False


def install_chromium() -> str:
    """Install a Chromium (Playwright's download, else Debian's package as root) and return it."""
    if _run([sys.executable, "-m", "playwright", "install", "chromium"], timeout=600):
        found = playwright_chromium()
        if found:
            return found
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("apt-get"):
        print("Playwright could not download its Chromium; installing Debian's chromium package.", flush=True)
        if _run(["apt-get", "update", "-qq"], timeout=600) and _run(
            ["apt-get", "install", "-y", "-qq", "chromium", "fonts-dejavu-core"], timeout=900
        ):
            found = shutil.which("chromium")
            if found:
                return found
    raise NoBrowser(HOW_TO_INSTALL)


def ensure_chromium() -> str:
    return find_chromium() or install_chromium()


def main() -> int:
    try:
        path = ensure_chromium()
    except NoBrowser as error:
        print(error, file=sys.stderr)
        return 1
    print(f"Chromium for the browser tests: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
