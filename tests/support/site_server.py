"""Serve the built site on localhost, for the browser tests and `make screenshots`.

Like GitHub Pages: the site is also served under its published path (``/name/`` of
``https://owner.github.io/name/``, :data:`SITE_PATH`), where the 404 page's links point, and an
address that has no file gets the site's ``404.html`` with the status 404.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from pathlib import Path

from cookbook import HTML_DIR
from cookbook.repository import pages_url, repository, url_path

SITE = HTML_DIR
#: The path the site is published under (conf.py's ``html_baseurl``, from the same repository setting).
SITE_PATH = url_path(pages_url(repository()))
# As root and without a network: no sandbox, no GPU, and none of Chromium's background connections.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        pass

    def translate_path(self, path):
        if SITE_PATH != "/" and path.startswith(SITE_PATH):
            path = "/" + path[len(SITE_PATH):]
        return super().translate_path(path)

    def send_error(self, code, message=None, explain=None):
        not_found = Path(self.directory) / "404.html"
        if code != 404 or not not_found.exists():
            return super().send_error(code, message, explain)
        content = not_found.read_bytes()
        self.send_response(404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(content)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(content)


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
