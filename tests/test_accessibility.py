"""Every kind of page of the built site has no serious or critical accessibility violation, in light
and dark mode: axe-core (the engine of browsers' own accessibility audits, pinned in
tools/axe/package.json and installed by `make test`) runs in each page in Chromium.

`make test` checks one page of each kind (each costs seconds: axe measures the contrast of every
text); `make accessibility` (COOKBOOK_AXE_EVERY_PAGE=1; weekly in CI) checks every page. furo's
automatic theme follows the reader's colour scheme, which Chromium emulates.
"""

import json
import os

import pytest

from cookbook import HTML_DIR
from support.axe import FAILING_IMPACTS, describe, run_axe, site_pages
from support.site_server import SITE_PATH, browser, serve

pytestmark = pytest.mark.needs_site
SCHEMES = ("light", "dark")
#: An address the site does not have, a few folders deep: the server answers with its 404 page.
NOT_FOUND = SITE_PATH.lstrip("/") + "no/such/recipe/plot_gone.html"


def one_page_of_each_kind(site=HTML_DIR) -> dict[str, str]:
    """Kind of page: its path. The gallery's kinds are found in the built site, by no recipe's name."""
    pages = site_pages(site)
    sections = [page for page in pages if page.startswith("auto_recipes/") and page.count("/") == 2
                and page.endswith("/index.html")]
    recipes = [page for page in pages if "/plot_" in page]
    kinds = {"landing": "index.html", "troubleshooting": "troubleshooting.html", "apis": "apis.html",
             "behaviour": "behaviour.html", "search results": "search.html?q=dynamic+shapes",
             "gallery": "auto_recipes/index.html", "not found": NOT_FOUND}
    if sections:
        kinds["section"] = sections[0]
    versions = [page for page in pages if page.startswith("behaviour-by-section/")]
    if versions:  # the heaviest section page of the versions page
        kinds["behaviour section"] = max(versions, key=lambda page: (site / page).stat().st_size)
    if recipes:  # the recipe page with the most code and output blocks
        kinds["recipe"] = max(recipes, key=lambda page: (site / page).read_text(encoding="utf-8").count("<pre"))
    return kinds


def pages_to_check() -> list[str]:
    if os.environ.get("COOKBOOK_AXE_EVERY_PAGE"):
        return site_pages() + [NOT_FOUND]
    return list(one_page_of_each_kind().values())


@pytest.fixture(scope="module")
def site():
    with serve() as base, browser() as chromium:
        yield base, chromium


def failures(base, chromium, path, scheme) -> list[str]:
    context = chromium.new_context(color_scheme=scheme)
    try:
        page = context.new_page()
        page.goto(base + path)
        if path.startswith("search.html"):
            page.get_by_text("Search finished, found").wait_for(timeout=30000)
        violations = run_axe(page)
    finally:
        context.close()
    return [describe(path, scheme, v) for v in violations if v["impact"] in FAILING_IMPACTS]


# One test per page and scheme, so that pytest-xdist's workers share them.
@pytest.mark.parametrize("scheme", SCHEMES)
@pytest.mark.parametrize("path", pages_to_check() if HTML_DIR.joinpath("index.html").exists() else ["index.html"])
def test_no_serious_or_critical_accessibility_violation(site, path, scheme):
    base, chromium = site
    found = failures(base, chromium, path, scheme)
    assert not found, "axe-core:\n" + "\n".join(found)


def test_the_check_fails_on_a_page_with_a_serious_violation(site, tmp_path):
    """The check itself: a page whose link has no name and whose grey text is unreadable fails it."""
    base, chromium = site
    (tmp_path / "index.html").write_text("")  # what serve() expects of a site
    (tmp_path / "bad.html").write_text('<!DOCTYPE html><html lang="en"><head><title>t</title></head><body><main><h1>t</h1>'
                   '<p style="color:#bbb;background:#fff">faint</p><a href="x.html"><span></span></a></main></body></html>')
    with serve(tmp_path) as other:
        found = failures(other, chromium, "bad.html", "light")
    assert any(": color-contrast (serious" in line for line in found), found
    assert any(": link-name (serious" in line and 'href="x.html"' in line for line in found), found


def documented_error() -> str:
    """The first error a recipe documents, as the matcher's index (built with the site) holds it."""
    source = (HTML_DIR / "_static" / "error-index.js").read_text(encoding="utf-8")
    entries = json.loads(source.split("=", 1)[1].split(";\nwindow.", 1)[0])
    return next(entry["text"] for entry in entries if entry.get("kind", "error") == "error")


def tab_until(page, condition: str, presses: int = 400) -> bool:
    """Press Tab until ``condition`` (a JavaScript expression on ``el``, the focused element) holds."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return Boolean({condition}); }}"):
            return True
    return False


def has_focus_ring(page, selector_of_ringed: str) -> bool:
    return page.evaluate(f"() => {{ const style = getComputedStyle(document.activeElement.closest({selector_of_ringed!r})); "
                         "return style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) >= 2; }")


def test_cards_code_blocks_and_the_error_box_work_with_the_keyboard_alone(site):
    base, chromium = site
    page = chromium.new_page()
    try:
        # A gallery card: reached with Tab, named by its recipe, ringed, opened with Enter.
        page.goto(base + "auto_recipes/index.html")
        assert tab_until(page, "el.closest('.sphx-glr-thumbcontainer')"), "no card is reached with Tab"
        name = page.evaluate("() => document.activeElement.textContent.trim()")
        assert name, "the focused card's link has no name"
        assert has_focus_ring(page, ".sphx-glr-thumbcontainer")
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "/plot_" in page.url and name in page.title(), (page.url, name)
        # On the recipe page: the version box's links, then a code block, focusable, named and ringed.
        assert tab_until(page, "el.tagName === 'PRE'"), "no code block is reached with Tab"
        assert page.evaluate("() => document.activeElement.getAttribute('aria-label')")
        assert has_focus_ring(page, "pre")
        # A block wider than the page scrolls with the arrow keys once focused.
        wide = page.evaluate("() => [...document.querySelectorAll('pre[tabindex]')].findIndex(p => p.scrollWidth > p.clientWidth)")
        if wide >= 0:
            page.locator("pre[tabindex]").nth(wide).focus()
            page.keyboard.press("ArrowRight")
            page.keyboard.press("ArrowRight")
            # Scrolling may be smooth (animated): wait for it to move rather than read it at once.
            page.wait_for_function("i => document.querySelectorAll('pre[tabindex]')[i].scrollLeft > 0", arg=wide,
                                   timeout=5000)
        # The error box: Tab to it, type an error, Tab to the first recipe listed, open it.
        page.goto(base + "troubleshooting.html")
        assert tab_until(page, "el.id === 'error-matcher-input'"), "the error box is not reached with Tab"
        page.keyboard.insert_text(documented_error())
        page.locator("#error-matcher-results a.error-matcher-recipe").first.wait_for(timeout=10000)
        assert tab_until(page, "el.matches('#error-matcher-results a.error-matcher-recipe')", presses=5)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        assert "/auto_recipes/" in page.url, page.url
    finally:
        page.close()


def test_a_lost_reader_reaches_the_search_and_the_error_matcher_from_the_404_page(site):
    """An address the site does not have, a few folders deep, shows the 404 page with its styles;
    its error box opens the troubleshooting page with the pasted text in the matcher, which lists
    recipes; its search box opens the search page."""
    base, chromium = site
    page = chromium.new_page()
    try:
        response = page.goto(base + NOT_FOUND)
        assert response.status == 404
        assert page.locator("h1").inner_text() == "Page not found"
        # furo's styles loaded: its skip link is moved out of sight (unstyled, it sits at the top).
        assert page.locator(".skip-to-content").evaluate("a => a.getBoundingClientRect().bottom") <= 0
        page.locator("#not-found-error").fill(documented_error())
        with page.expect_navigation():
            page.locator("#not-found-error").press("Tab")
            page.keyboard.press("Enter")
        assert page.url.split("?")[0].endswith("troubleshooting.html"), page.url
        assert page.locator("#error-matcher-input").input_value() == documented_error()
        page.locator("#error-matcher-results a.error-matcher-recipe").first.wait_for(timeout=10000)
        page.goto(base + NOT_FOUND)
        page.locator("#not-found-search").fill("dynamic shapes")
        with page.expect_navigation():
            page.locator("#not-found-search").press("Enter")
        assert page.url.split("?")[0].endswith("search.html") and "q=dynamic" in page.url, page.url
    finally:
        page.close()
