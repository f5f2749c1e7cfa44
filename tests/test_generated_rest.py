"""The parsers that read sphinx-gallery's generated reST: on a page that the installed
sphinx-gallery generates now from a tiny recipe (cookbook/site/gallery_internals.py's sample), so
that a change of its output fails here in seconds rather than after a full build; and on a stored
real page (tests/data/generated/: a recipe and the page sphinx-gallery 0.22 generated from it),
richer than the sample, which shows how the parsers read four errors of one page. The stored page
cannot notice a change of sphinx-gallery: the tests on the fresh page and
tests/test_gallery_internals.py do."""

from pathlib import Path

import pytest

from cookbook.recipes import title_of
from cookbook.site import RELATED_BEGIN, _related_block, _with_history, _with_related, HISTORY_BEGIN
from cookbook.site.gallery_internals import generate_sample
from cookbook.site.troubleshooting import errors_of_page

DATA = Path(__file__).parent / "data" / "generated"
PAGE, SOURCE = DATA / "plot_dx_plus_dy.rst", DATA / "plot_dx_plus_dy.py"


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """The page the installed sphinx-gallery generates from the sample recipe, and that recipe."""
    sample = generate_sample(tmp_path_factory.mktemp("sample"))
    return sample["target_dir"] / "plot_sample.rst", sample["src_dir"] / "plot_sample.py"


def test_on_a_page_generated_now_the_error_of_the_sentinel_cell_is_found(fresh):
    page, source = fresh
    assert title_of(page.read_text()) == title_of(source.read_text()) == "A sample recipe"
    errors = errors_of_page(page, source)
    assert [(error.exception, error.first_line) for error in errors] == [("ZeroDivisionError", "division by zero")]
    assert errors[0].label == "sphx_glr_auto_recipes_section_plot_sample.py"


def test_on_a_page_generated_now_the_boxes_go_where_they_belong(fresh):
    page, source = fresh
    text = page.read_text()
    related = _with_related(text, _related_block(source, {source: "A", source.with_name("plot_other.py"): "B"}))
    assert related.count(RELATED_BEGIN) == 1 and related.index(RELATED_BEGIN) < related.index(".. _sphx_glr_download_")
    box = ".. admonition:: Which PyTorch this page holds for\n\n   Verified.\n"
    boxed = _with_history(text, box)
    assert boxed.index("===============") < boxed.index(HISTORY_BEGIN) < boxed.index(".. GENERATED FROM PYTHON SOURCE LINES")


def test_the_title_of_the_page_is_the_title_of_the_recipe():
    assert title_of(PAGE.read_text()) == title_of(SOURCE.read_text()) == (
        "dx + dy is not allowed: exporting a model whose dimensions are related")


def test_the_errors_of_a_page_are_its_sentinel_cells_first_lines():
    errors = errors_of_page(PAGE, SOURCE)
    first_lines = [error.first_line for error in errors]
    assert any(line.startswith("Cannot determine truth value") or "Dim" in line for line in first_lines), first_lines
    assert all(error.label == "sphx_glr_auto_recipes_constraints_plot_dx_plus_dy.py" for error in errors)
    assert all(error.page == "auto_recipes/generated/plot_dx_plus_dy.html" for error in errors)
    exceptions = {error.exception for error in errors}
    assert "NotImplementedError" in exceptions, exceptions
    # The matcher's text of an error starts with its first line.
    assert all(error.text.splitlines()[0] == error.first_line or error.first_line.endswith("...") for error in errors)


def test_related_recipes_go_before_the_download_links_and_are_replaced_not_repeated():
    text = PAGE.read_text()
    titles = {SOURCE: "dx + dy", SOURCE.with_name("plot_other.py"): "Another recipe"}
    block = _related_block(SOURCE, titles)
    once = _with_related(text, block)
    assert once.count(RELATED_BEGIN) == 1
    assert once.index(RELATED_BEGIN) < once.index(".. _sphx_glr_download_")
    assert _with_related(once, block) == once


def test_the_history_box_goes_after_the_first_paragraph_of_the_introduction():
    text = PAGE.read_text()
    once = _with_history(text, ".. admonition:: Which PyTorch this page holds for\n\n   Verified.\n")
    title_at = once.index("======================================================================")
    assert title_at < once.index(HISTORY_BEGIN) < once.index(".. GENERATED FROM PYTHON SOURCE LINES 16")
    assert _with_history(once, ".. admonition:: Which PyTorch this page holds for\n\n   Verified.\n") == once
    assert _with_history(once, "") == text  # removing the box gives the page back


def test_every_sentinel_cell_of_the_sample_is_found():
    # plot_dx_plus_dy documents four errors, each in the cell of its sentinel, in the page's order.
    exceptions = [error.exception for error in errors_of_page(PAGE, SOURCE)]
    assert exceptions == ["NotImplementedError", "torch._dynamo.exc.UserError", "AssertionError", "AssertionError"]


def test_the_history_box_does_not_break_a_literal_block_that_the_first_paragraph_introduces():
    # plot_additional_inputs_differing_types: "... export stops with::" and the message, indented. The box
    # went between them: the page showed ".. cookbook-history-begin" as the literal block.
    box = ".. admonition:: Which PyTorch this page holds for\n\n   Verified.\n"
    text = ("Title\n=====\n\nThe first paragraph, which ends::\n\n    ValueError: a message\n\n"
            "    its second line\n\nThe second paragraph.\n\n.. GENERATED FROM PYTHON SOURCE LINES 16\n")
    boxed = _with_history(text, box)
    assert boxed.index("its second line") < boxed.index(HISTORY_BEGIN) < boxed.index("The second paragraph.")
    assert "\n\n.. cookbook-history-end\n\nThe second paragraph." in boxed
    assert _with_history(boxed, box) == boxed and _with_history(boxed, "") == text
    # A paragraph without "::" keeps the box right after it.
    plain = text.replace("ends::", "ends.").replace("    ValueError", "ValueError").replace("    its", "its")
    assert _with_history(plain, box).index(HISTORY_BEGIN) < _with_history(plain, box).index("ValueError")
