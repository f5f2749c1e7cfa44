"""Every axe-core violation of the built site, of any impact, counted by scheme, rule and impact
(elements and pages): the figures of an accessibility audit, before and after a change.
`make accessibility` fails on the serious and critical ones; this prints them all and asserts nothing.

    python scripts/accessibility_report.py [page.html ...]    # default: every page, and the 404 page
"""

import collections
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from support.axe import run_axe, site_pages  # noqa: E402
from support.site_server import SITE_PATH, browser, serve  # noqa: E402


def main(pages: list[str]) -> None:
    pages = pages or site_pages() + [SITE_PATH.lstrip("/") + "no/such/page.html"]
    elements, on_pages = collections.Counter(), collections.Counter()
    start = time.monotonic()
    with serve() as base, browser() as chromium:
        for scheme in ("light", "dark"):
            context = chromium.new_context(color_scheme=scheme)
            page = context.new_page()
            for path in pages:
                page.goto(base + path)
                for violation in run_axe(page):
                    key = (scheme, violation["id"], violation["impact"])
                    elements[key] += len(violation["nodes"])
                    on_pages[key] += 1
            context.close()
    print(f"{len(pages)} pages, light and dark, in {time.monotonic() - start:.0f} s")
    print(f"{'scheme':6}  {'rule':32} {'impact':9} {'elements':>8} {'pages':>5}")
    for key in sorted(elements):
        print(f"{key[0]:6}  {key[1]:32} {key[2]:9} {elements[key]:8} {on_pages[key]:5}")
    if not elements:
        print("no violation")


if __name__ == "__main__":
    main(sys.argv[1:])
