"""The site built by `make html` (_build/html): what readers see on it."""

import html
import re

import pytest

from cookbook import REPO_ROOT
from cookbook.environment import DOCUMENTED_PACKAGES, MODEL_LIBRARIES, versions
from cookbook.output_paths import find_machine_paths
from cookbook.recipes import discover_recipes

SITE = REPO_ROOT / "_build" / "html"
pytestmark = pytest.mark.needs_site


def page_text(relative):
    path = SITE / relative
    assert path.exists(), f"{path} is missing: build the site first (make html)"
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


def test_every_recipe_has_a_page_with_its_downloads():
    for recipe in discover_recipes():
        section, name = recipe.parent.name, recipe.stem
        page = SITE / "auto_recipes" / section / f"{name}.html"
        assert page.exists(), f"no page for {recipe}"
        source = page.read_text(encoding="utf-8")
        for suffix in (".py", ".ipynb"):
            match = re.search(rf'href="(\.\./\.\./_downloads/[0-9a-f]+/{name}{re.escape(suffix)})"', source)
            assert match, f"{page.name} does not link its {suffix} download"
            assert (page.parent / match.group(1)).resolve().exists(), match.group(1)


def ranges(*bounds):
    """A printed ``range_constraints`` with these (low, high) bounds in order, whatever the symbols' numbers."""
    return r"\{" + ", ".join(rf"s\d+: VR\[{low}, {high}\]" for low, high in bounds) + r"\}"


@pytest.mark.reads_named_recipes
def test_seed_page_shows_each_step_with_todays_outputs():
    text = page_text("auto_recipes/constraints/plot_dx_plus_dy.html")
    expected_in_order = [  # patterns; symbol numbers (s17) are left to torch
        re.escape("graph():"),  # the static export
        re.escape("Attempted to add Dim('dy', min=0) to dx, where an integer was expected."),
        re.escape("Constraints violated (dz)!"),
        re.escape("((1 + L['z'].size()[1]) // 2) != 1"),
        ranges((0, "int_oo"), (0, "int_oo"), (0, "int_oo"), (3, "int_oo")),
        re.escape("Guard failed: x.size()[1] + y.size()[1] == (1 + z.size()[1]) // 2"),
        ranges((2, "int_oo"), (0, "int_oo"), (0, "int_oo"), (2, "int_oo")),  # DYNAMIC
        "Range constraints: " + ranges(*[(2, "int_oo")] * 4),  # AUTO
    ]
    position = 0
    for pattern in expected_in_order:
        found = re.compile(pattern).search(text, position)
        assert found, f"not found after position {position}: {pattern}"
        position = found.start()


@pytest.mark.reads_named_recipes
def test_graph_comments_name_the_recipe_not_the_machine():
    text = page_text("auto_recipes/constraints/plot_dx_plus_dy.html")
    assert "# File: recipes/constraints/plot_dx_plus_dy.py:" in text


def test_no_page_shows_a_path_of_the_build_machine():
    offenders = {}
    for page in SITE.rglob("*.html"):
        paths = find_machine_paths(page.read_text(encoding="utf-8"))
        if paths:
            offenders[str(page.relative_to(SITE))] = paths[:3]
    assert not offenders, offenders


def test_every_recipe_page_shows_its_history_box_and_no_marker_of_the_build():
    """The box goes after the introduction's first paragraph; it once went inside a literal block
    that paragraph introduced, and the page showed ".. cookbook-history-begin" as code."""
    from cookbook.site import HISTORY_BEGIN, HISTORY_END
    offenders = []
    for recipe in discover_recipes():
        text = page_text(f"auto_recipes/{recipe.parent.name}/{recipe.stem}.html")
        if HISTORY_BEGIN.removeprefix(".. ") in text or HISTORY_END.removeprefix(".. ") in text:
            offenders.append(f"{recipe.parent.name}/{recipe.name}: shows a marker")
        elif "Which PyTorch this page holds for" not in text:
            offenders.append(f"{recipe.parent.name}/{recipe.name}: no history box")
    assert not offenders, offenders


@pytest.mark.reads_named_recipes
def test_footer_names_the_versions_that_produced_the_outputs():
    text = page_text("auto_recipes/constraints/plot_dx_plus_dy.html")
    found = versions(DOCUMENTED_PACKAGES + MODEL_LIBRARIES)
    assert f"torch {found['torch']}, onnx {found['onnx']}, onnxscript {found['onnxscript']}" in text
    assert f"onnxruntime {found['onnxruntime']}, transformers {found['transformers']}." in text  # the models section's


def test_gallery_index_lists_every_section():
    text = page_text("auto_recipes/index.html")
    for readme in sorted((REPO_ROOT / "recipes").glob("*/README.rst")):
        title = readme.read_text(encoding="utf-8").splitlines()[0].strip()
        assert title in text, f"section {title!r} is not on the gallery index"


def test_no_page_shows_the_time_of_a_run():
    # Log lines hold the time they were written (torch's W1126 05:46:30.270000 27150 torch/...,
    # [W1126 13:16:41.099779684 X.cpp:1] from its C++ code, onnxruntime's 2026-11-26 13:18:58.015701433
    # [E:onnxruntime...]), which differs from build to build; no page shows a time of day at all.
    time_of_day = re.compile(r"\b\d\d:\d\d:\d\d\.\d+")
    offenders = {str(page.relative_to(SITE)): found.group(0) for page in SITE.rglob("*.html")
                 if (found := time_of_day.search(page_text(page.relative_to(SITE))))}
    assert not offenders, offenders


@pytest.mark.reads_named_recipes
def test_troubleshooting_page_lists_errors_linked_to_recipes():
    text = page_text("troubleshooting.html")
    assert "Constraints violated (dz)!" in text and "Guard failed: x.size()[1] + y.size()[1]" in text
    assert "W1126" not in text and "def forward" not in text


def meta(page_source: str, name: str) -> str | None:
    found = re.search(rf'<meta (?:property|name)="{re.escape(name)}" content="([^"]*)"', page_source)
    return html.unescape(found.group(1)) if found else None


def test_the_site_is_found_and_previewed_at_the_address_derived_from_the_repository():
    """sitemap.xml lists every page at the published address (the one conf.py derives from the
    repository), robots.txt points at it, and each page has its canonical link and its preview."""
    from cookbook.repository import pages_url, repository

    base = pages_url(repository())
    sitemap = (SITE / "sitemap.xml").read_text(encoding="utf-8")
    listed = re.findall(r"<loc>([^<]+)</loc>", sitemap)
    pages = sorted(path.relative_to(SITE).as_posix() for path in SITE.rglob("*.html")
                   if path.relative_to(SITE).parts[0] not in ("_sources", "_downloads", "_static", "_images")
                   and path.name not in ("search.html", "404.html"))
    assert listed == [base + page for page in pages]
    assert f"Sitemap: {base}sitemap.xml" in (SITE / "robots.txt").read_text(encoding="utf-8")
    for page in ("index.html", "troubleshooting.html", *(p for p in pages if "/plot_" in p)):
        source = (SITE / page).read_text(encoding="utf-8")
        assert f'<link rel="canonical" href="{base}{page}"' in source, page
        assert meta(source, "og:url") == base + page, page
        assert meta(source, "og:title") and len(meta(source, "og:description") or "") > 40, page
        image = meta(source, "og:image")
        assert image and image.startswith(base), page
        assert (SITE / image.removeprefix(base)).exists(), image
        if "/plot_" in page:  # a recipe's preview shows its card
            assert image == f"{base}_images/sphx_glr_{page.split('/')[-1].removesuffix('.html')}_thumb.png", image


def test_the_404_page_offers_the_search_and_the_error_matcher_from_any_depth():
    from cookbook.repository import pages_url, repository, url_path

    prefix = url_path(pages_url(repository()))
    source = (SITE / "404.html").read_text(encoding="utf-8")
    assert "Page not found" in source
    assert f'action="{prefix}search.html"' in source and 'name="q"' in source
    assert f'action="{prefix}troubleshooting.html"' in source and 'name="error"' in source
    assert f'href="{prefix}_static/' in source  # its styles load whatever the depth of the address
