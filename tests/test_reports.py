"""The corpus of real errors (tests/data/reports, :mod:`cookbook.reports`): every case is complete and
comes from the logged protocol, the splits are frozen and balanced, the coverage figure is computed from
the judgments, and the site's coverage table and recipe pages are generated from the corpus."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from cookbook import GALLERY_DIR, HTML_DIR, RECIPES_DIR, REPO_ROOT
from cookbook.reports import (
    MIN_HELDOUT_UNCOVERED, REPORTS_DIR, SPLITS, assign_splits, coverage, load_reports, parse_report, split_rank,
)
from cookbook.site.reports import REPORTS_BEGIN, coverage_section, recipe_reports_block, with_reports

PROTOCOL = REPORTS_DIR / "PROTOCOL.md"


@pytest.fixture(scope="module")
def reports():
    return load_reports()


@pytest.mark.reads_named_recipes
def test_the_corpus_has_at_least_60_complete_cases(reports):
    assert len(reports) >= 60
    for report in reports:
        assert report.url.startswith("https://"), report.path.name
        assert report.cause and report.fix and report.torch and report.why, report.path.name
        assert report.covered or report.kind, report.path.name
        for recipe in report.recipes:
            assert (RECIPES_DIR / recipe).is_file(), (report.path.name, recipe)


def test_each_case_from_the_search_is_in_the_protocol(reports):
    """The protocol logs the queries and every result looked at: a case that did not come from it
    (a `source` field) would be a case chosen by hand."""
    protocol = PROTOCOL.read_text(encoding="utf-8")
    for report in reports:
        if report.source:
            continue
        repo, number = report.name.rsplit("#", 1)
        assert re.search(rf"(?<!\d)#{number}(?!\d)", protocol), report.name
        assert repo.split("/")[1] in protocol, report.name


#: Cases of the first commit, split by :func:`assign_splits` (alternating, so balanced within 2); every case
#: added later takes its split from its own hash, a fair coin (tests/data/reports/PROTOCOL.md).
FIRST_ASSIGNMENT_CASES = 60


@pytest.mark.reads_named_recipes
def test_the_frozen_splits_are_balanced_and_hold_uncovered_cases(reports):
    counts = {split: sum(r.split == split for r in reports) for split in SPLITS}
    # The later cases' coin flips move the difference by about sqrt(their number): allow two of those.
    later = max(0, len(reports) - FIRST_ASSIGNMENT_CASES)
    assert abs(counts["tune"] - counts["heldout"]) <= 2 + 2 * later ** 0.5, counts
    # Issue 32 measures abstention on the held-out half. Recipes written later turn uncovered cases
    # into covered ones; when this fails, collect more reports by the protocol (do not move cases,
    # and never leave an answered case uncovered).
    heldout_uncovered = sum(r.split == "heldout" and not r.covered for r in reports)
    assert heldout_uncovered >= MIN_HELDOUT_UNCOVERED, heldout_uncovered


def test_assign_splits_alternates_within_covered_and_uncovered_cases_by_hash():
    cases = [(f"https://example.org/{i}", i % 3 == 0) for i in range(12)]
    splits = assign_splits(cases)
    for covered in (True, False):
        ordered = sorted((url for url, c in cases if c is covered), key=split_rank)
        assert [splits[url] for url in ordered] == ["heldout", "tune"] * (len(ordered) // 2) + ["heldout"] * (
            len(ordered) % 2)
    assert assign_splits(list(reversed(cases))) == splits


def test_a_malformed_case_names_its_file_and_line(tmp_path):
    case = tmp_path / "bad.txt"
    header = ["# url: https://example.org/1", "# torch: 2.9", "# cause: c", "# fix: f",
              "# recipes: none", "# why: w", "# kind: k", "# split: test", "# excerpt: message"]
    case.write_text("\n".join(header + ["Error: boom"]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.txt:8: split must be one of"):
        parse_report(case)
    header[4], header[7] = "# recipes: constraints/plot_missing.py", "# split: tune"
    case.write_text("\n".join(header + ["Error: boom"]) + "\n")
    with pytest.raises(ValueError, match=r"bad\.txt:5: no recipe 'constraints/plot_missing.py'"):
        parse_report(case)


def test_the_coverage_command_prints_the_figures_of_the_judgments(reports):
    process = subprocess.run([sys.executable, "-m", "cookbook.reports"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=60, check=True)
    for key, (done, total) in coverage(reports).items():
        assert re.search(rf"^{key}\s+{done} /\s+{total} covered", process.stdout, re.MULTILINE), process.stdout
    assert sum(r.covered for r in reports) == coverage(reports)["all"][0]


def test_the_coverage_table_lists_each_report_under_its_recipe(reports):
    text = "\n".join(coverage_section(reports, RECIPES_DIR))
    answered, uncovered = text.split("Not covered yet")
    recipe_items = re.split(r"^- :ref:", answered, flags=re.MULTILINE)[1:]
    for report in reports:
        if report.covered:
            for recipe in report.recipes:
                label = f"sphx_glr_{GALLERY_DIR}_{recipe.replace('/', '_')}"
                item = next(item for item in recipe_items if f"<{label}>`" in item.split("\n")[0])
                assert f"<{report.url}>`__" in item, (report.name, recipe)
        else:
            assert f"<{report.url}>`__" in uncovered and f"<{report.url}>`__" not in answered, report.name


def test_a_recipe_page_block_replaces_the_previous_one():
    page = "Title\n=====\n\ntext\n\n.. cookbook-related-recipes-begin\n\nrelated\n\n.. _sphx_glr_download_x:\n"
    reports = load_reports()
    block = recipe_reports_block([r for r in reports if r.covered][:2])
    once = with_reports(page, block, before=".. cookbook-related-recipes-begin")
    assert once.index(REPORTS_BEGIN) < once.index(".. cookbook-related-recipes-begin")
    assert with_reports(once, block, before=".. cookbook-related-recipes-begin") == once
    assert with_reports(once, "", before=".. cookbook-related-recipes-begin") == page


@pytest.mark.needs_site
def test_the_built_site_shows_each_report_on_the_troubleshooting_page_and_its_recipe_pages(reports):
    troubleshooting = (HTML_DIR / "troubleshooting.html").read_text(encoding="utf-8")
    for report in reports:
        assert f'href="{report.url}"' in troubleshooting, report.name
        for recipe in report.recipes:
            page = (HTML_DIR / GALLERY_DIR / recipe).with_suffix(".html").read_text(encoding="utf-8")
            assert f'href="{report.url}"' in page, (report.name, recipe)
