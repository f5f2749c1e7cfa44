"""Serve the built site on localhost, for the browser tests and `make screenshots`."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

from cookbook import HTML_DIR

SITE = HTML_DIR
# As root and without a network: no sandbox, no GPU, and none of Chromium's background connections.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass


@contextlib.contextmanager
def serve(site: Path = SITE):
    """Yield the base URL (``http://127.0.0.1:PORT/``) of ``site`` served from a thread."""
    if not (site / "index.html").exists():
        raise FileNotFoundError(f"{site}/index.html is missing: build the site first (make html)")
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def browser():
    """A headless Chromium driven by Playwright (the one :func:`support.browser.find_chromium` finds)."""
    from playwright.sync_api import sync_playwright

    from support.browser import HOW_TO_INSTALL, find_chromium

    executable = find_chromium()
    if executable is None:
        raise RuntimeError(HOW_TO_INSTALL)

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield instance
        finally:
            instance.close()
