"""A recipe's output is the same from build to build: :mod:`cookbook.site.page_output` compares
the recipe pages of two built sites, and ``make bench`` its two cold builds."""

import subprocess
import sys

import pytest

from cookbook import GALLERY_DIR, REPO_ROOT
from cookbook.site.page_output import differing_outputs, output_text

#: A recipe page as sphinx-gallery and the project write its output blocks (the <pre> reachable by keyboard).
PAGE = ('<html><body><p>prose, not output</p><pre>code, not output</pre>'
        '<div class="sphx-glr-script-out highlight-none notranslate"><div class="highlight">'
        '<pre tabindex="0" aria-label="Output"><span></span>{}</pre></div></div></body></html>')


def site(root, pages: dict[str, str]):
    for name, output in pages.items():
        page = root / GALLERY_DIR / name
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(PAGE.format(output), encoding="utf-8")
    return root


def test_the_output_of_a_page_is_what_the_recipe_printed_not_its_code_or_prose():
    assert output_text(PAGE.format("Constraints violated (batch)! &lt;log&gt;")) == "Constraints violated (batch)! <log>"


def test_two_builds_that_print_the_same_have_no_difference(tmp_path):
    pages = {"constraints/plot_a.html": "range: VR[2, 64]\nok", "onnx/plot_b.html": "['batch', 'seq']"}
    assert differing_outputs(site(tmp_path / "one", pages), site(tmp_path / "two", pages)) == []


def test_a_page_whose_output_changed_is_named_with_the_line_that_changed(tmp_path):
    one = site(tmp_path / "one", {"constraints/plot_a.html": "{s0: VR[2, 64], s1: VR[2, 32]}\nok",
                                  "onnx/plot_b.html": "same"})
    two = site(tmp_path / "two", {"constraints/plot_a.html": "{s1: VR[2, 32], s0: VR[2, 64]}\nok",
                                  "onnx/plot_b.html": "same", "onnx/plot_c.html": "new"})
    found = differing_outputs(one, two)
    assert [d.page for d in found] == [f"{GALLERY_DIR}/constraints/plot_a.html", f"{GALLERY_DIR}/onnx/plot_c.html"]
    assert found[0].first_line == "-{s0: VR[2, 64], s1: VR[2, 32]}"
    assert found[1].diff == f"only in {two}"


def test_two_folders_without_recipe_pages_are_an_error_naming_them(tmp_path):
    with pytest.raises(FileNotFoundError, match="build the sites first"):
        differing_outputs(tmp_path / "one", tmp_path / "two")
    process = subprocess.run([sys.executable, "-m", "cookbook.site.page_output", str(tmp_path / "a"), str(tmp_path / "b")],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert process.returncode == 2 and str(tmp_path / "a" / GALLERY_DIR) in process.stderr


def test_the_command_line_exits_1_and_prints_the_diff_when_builds_differ(tmp_path):
    one = site(tmp_path / "one", {"constraints/plot_a.html": "&lt;object at 0x7f3a&gt;"})
    two = site(tmp_path / "two", {"constraints/plot_a.html": "&lt;object at 0x7f9c&gt;"})
    process = subprocess.run([sys.executable, "-m", "cookbook.site.page_output", str(one), str(two)],
                             cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert process.returncode == 1, process.stdout
    assert "-<object at 0x7f3a>" in process.stdout and "+<object at 0x7f9c>" in process.stdout
    assert process.stdout.rstrip().endswith("1 recipe page(s) differ")


def test_a_measured_duration_is_not_a_difference_but_what_surrounds_it_is(tmp_path):
    # The models' pages print a table of timings on purpose (issue 16).
    one = site(tmp_path / "one", {"models/plot_a.html": "prefill  0.56 ms  0.83 ms\ncheck  1.6 microseconds",
                                  "models/plot_b.html": "decode  0.44 ms"})
    two = site(tmp_path / "two", {"models/plot_a.html": "prefill  0.90 ms  1.35 ms\ncheck  2.5 microseconds",
                                  "models/plot_b.html": "decode: 0.58 ms"})
    assert [d.first_line for d in differing_outputs(one, two)] == ["-decode … ms"]
