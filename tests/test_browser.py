"""The built site in a real browser (headless Chromium driven by Playwright), as a reader uses it."""

import json
from urllib.parse import urlparse

import pytest

from support.site_server import browser, serve

pytestmark = pytest.mark.needs_site
SECTIONS = ["Getting started with dynamic shapes", "Constraints, errors and their fixes"]


@pytest.fixture(scope="module")
def site():
    with serve() as base, browser() as chromium:
        yield base, chromium


@pytest.fixture
def page(site):
    """A page that records requests to other hosts and JavaScript errors; the test fails on any."""
    base, chromium = site
    page = chromium.new_page()
    foreign, errors = [], []
    page.on("request", lambda request: foreign.append(request.url)
            if urlparse(request.url).hostname not in ("127.0.0.1", "localhost") and not request.url.startswith("data:")
            else None)
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("response", lambda response: errors.append(f"HTTP {response.status}: {response.url}")
            if response.status >= 400 else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.base = base
    yield page
    page.close()
    assert not foreign, f"requests to other hosts: {foreign[:5]}"
    assert not errors, f"JavaScript errors: {errors[:5]}"


def test_landing_page_lists_every_section(page):
    page.goto(page.base + "index.html")
    links = page.locator("article a").all_inner_texts()
    for title in SECTIONS:
        assert title in links, links


@pytest.mark.reads_named_recipes
def test_thumbnail_opens_its_recipe_with_the_captured_graph(page):
    page.goto(page.base + "auto_recipes/index.html")
    page.locator(".sphx-glr-thumbcontainer", has_text="dx + dy is not allowed").locator("a").first.click()
    page.wait_for_load_state()
    assert page.url.endswith("auto_recipes/constraints/plot_dx_plus_dy.html")
    output = page.locator(".sphx-glr-script-out").first
    assert output.is_visible()
    assert "graph():" in output.inner_text()


@pytest.mark.reads_named_recipes
def test_search_finds_the_recipe_that_explains_constraints_violated(page):
    page.goto(page.base + "search.html?q=Constraints+violated")
    # Sphinx's search lists results one by one, then says "Search finished, found N pages ...".
    page.get_by_text("Search finished, found").wait_for(timeout=30000)
    results = page.locator("#search-results li > a")
    hrefs = [results.nth(i).get_attribute("href") for i in range(results.count())]
    assert any("plot_dx_plus_dy" in href for href in hrefs), hrefs


@pytest.mark.reads_named_recipes
def test_notebook_download_is_a_valid_notebook(page):
    page.goto(page.base + "auto_recipes/constraints/plot_dx_plus_dy.html")
    link = page.locator("a.download", has_text="Jupyter notebook").first
    response = page.request.get(page.base + "auto_recipes/constraints/" + link.get_attribute("href"))
    assert response.ok
    notebook = json.loads(response.body())
    assert notebook["nbformat"] == 4
    assert any("torch.export.export" in "".join(cell["source"]) for cell in notebook["cells"])


def test_troubleshooting_links_open_their_recipes(page):
    page.goto(page.base + "troubleshooting.html")
    hrefs = page.locator("article li a.reference.internal").evaluate_all("links => links.map(a => a.href)")
    assert len(hrefs) >= 10, hrefs
    for href in sorted(set(hrefs)):
        response = page.request.get(href)
        assert response.ok, href
        anchor = urlparse(href).fragment
        if anchor:
            assert f'id="{anchor}"' in response.text(), href


def matcher_queries():
    """(pages that document it, pasted text): documented errors as a reader would paste them (those
    that one recipe alone documents), and real errors from PyTorch's issue tracker."""
    from test_errors import as_a_reader_would_paste_it, index, own_errors, real_errors

    pages_of = {}
    for entry in index():
        pages_of.setdefault(entry["text"].splitlines()[0], set()).add(entry["page"])
    own = [((e["page"],), as_a_reader_would_paste_it(e["text"])) for e in own_errors()
           if len(pages_of[e["text"].splitlines()[0]]) == 1]
    return own[:8] + [(pages, text) for _, pages, text in real_errors()]


@pytest.mark.reads_named_recipes
def test_the_error_matcher_finds_the_recipe_of_a_pasted_error(page):
    page.goto(page.base + "troubleshooting.html")
    queries = matcher_queries()
    assert len(queries) >= 10
    box = page.locator("#error-matcher-input")
    for pages, text in queries:
        box.fill(text)
        # A recipe that documents it, or, below the matcher's confidence, the related recipes under
        # "No recipe documents this error" (tests/data/errors predates the stricter judgments of
        # tests/data/reports, where some of these reports are answered by no recipe).
        results = page.locator("#error-matcher-results a.error-matcher-recipe, #error-matcher-results a.error-matcher-related")
        results.first.wait_for(timeout=10000)
        hrefs = [results.nth(i).get_attribute("href") for i in range(min(3, results.count()))]
        assert set(pages) & set(hrefs), (pages, hrefs, text[:200])
        assert page.locator("#error-matcher-results mark.error-matcher-line").first.inner_text().strip()
    page.locator("#error-matcher-results a.error-matcher-recipe").first.click()
    page.wait_for_load_state()
    assert "/auto_recipes/" in page.url


def test_the_browser_matcher_agrees_with_the_python_one(page):
    """Same features, ranking, scores, lines shown, "no match", related recipes and report link, on the shipped index
    (errors, titles, warnings, older wordings) for every case of the corpus of real reports too."""
    from cookbook.errors import features, report_link
    from cookbook.reports import load_reports
    from test_errors import full_matcher

    page.goto(page.base + "troubleshooting.html")
    matcher = full_matcher()
    answer_in_browser = """text => {
      const m = window.cookbookErrorMatcher;
      const a = new m.Matcher(window.cookbookErrorIndex).answer(text, 5);
      const shown = a.noMatch ? a.related : a.matches;
      return {noMatch: a.noMatch, pages: shown.map(r => r.page), scores: shown.map(r => r.score),
              kinds: shown.map(r => r.kind), lines: shown.map(r => r.line), family: a.family,
              link: m.reportLink("https://github.com/o/r", a)};
    }"""
    for text in [text for _, text in matcher_queries()] + [case.message for case in load_reports()]:
        in_browser = page.evaluate("text => Object.fromEntries(window.cookbookErrorMatcher.features(text))", text)
        assert in_browser == dict(features(text))
        answer = matcher.answer(text, 5)
        shown = answer.related if answer.no_match else answer.matches
        assert page.evaluate(answer_in_browser, text) == {
            "noMatch": answer.no_match, "pages": [m.page for m in shown], "scores": [m.score for m in shown],
            "kinds": [m.kind for m in shown], "lines": [m.line for m in shown], "family": answer.family,
            "link": report_link("https://github.com/o/r", answer)}


@pytest.mark.reads_named_recipes
def test_the_page_says_no_match_with_related_recipes_and_a_report_link(page):
    """https://github.com/pytorch/executorch/issues/7717: no recipe documents it (ExecuTorch's runtime,
    issue 32). The sentence says so above the list, and the numbered list holds the related recipes
    only: "No recipe documents this error" is not the first result. The closest section is named by
    its title, as the sidebar names it."""
    from test_errors import report

    from cookbook.recipes import section_titles

    page.goto(page.base + "troubleshooting.html")
    page.locator("#error-matcher-input").fill(report("executorch-7717-bounded-resize.txt").message)
    status = page.locator("#error-matcher-status")
    status.locator(".error-matcher-none").wait_for(timeout=10000)
    assert page.locator("#error-matcher-results a.error-matcher-recipe").count() == 0
    items = page.locator("#error-matcher-results > li")
    assert items.count() >= 1
    assert items.count() == page.locator("#error-matcher-results > li > a.error-matcher-related").count()
    assert any(f"({title})" in status.inner_text() for title in section_titles().values())
    link = status.locator("a.error-matcher-report").get_attribute("href")
    assert link.startswith("https://github.com/") and "/issues/new?title=" in link


@pytest.mark.reads_named_recipes
def test_the_list_of_an_answer_holds_its_recipes_only(page):
    """A documented error (https://github.com/pytorch/pytorch/issues/148564): the sentence above the
    list introduces it, and each numbered item is a recipe."""
    from test_errors import report

    page.goto(page.base + "troubleshooting.html")
    page.locator("#error-matcher-input").fill(report("pytorch-148564-missing-key.txt").message)
    page.locator("#error-matcher-results a.error-matcher-recipe").first.wait_for(timeout=10000)
    items = page.locator("#error-matcher-results > li")
    assert items.count() == page.locator("#error-matcher-results > li > a.error-matcher-recipe").count() >= 1
    assert "best first" in page.locator("#error-matcher-status").inner_text()
    page.locator("#error-matcher-input").fill("")
    page.wait_for_function("() => !document.getElementById('error-matcher-results').children.length")
    assert page.locator("#error-matcher-status").inner_text().strip() == ""
