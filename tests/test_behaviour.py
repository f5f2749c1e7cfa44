"""The behaviour tracker records every expectation of a recipe, even after one has changed."""

import json
import re
import textwrap

from cookbook import BEHAVIOUR_DIR, RECIPES_DIR
from cookbook.environment import NEEDS_LATER_RELEASE, record_release
from cookbook.harness.behaviour import differences, main as behaviour_main, recorded_outcome
from cookbook.harness.recording import instrument
from cookbook.harness.runner import run_recipe
from cookbook.output_paths import find_machine_paths, normalise_output
from cookbook.recipes import discover_recipes
from cookbook.site.behaviour_page import (RENAMED, current_name, history_box, load_reports, output_changes, recipe_history,
                                         render_pages)

RECIPE = '''
"""
A recipe whose PyTorch changed
==============================
"""
value = 1
try:
    value / 0
    raise AssertionError("dividing by zero now works: update this recipe")
except ZeroDivisionError as e:
    print(e)

try:
    value + 1
    raise AssertionError("adding an int now fails: update this recipe")
except TypeError as e:
    print(e)

assert value == 2, "value is not 2"

try:
    {}["key"]
    raise AssertionError("a missing key is now found: update this recipe")
except IndexError as e:
    print(e)

try:
    int("x")
    raise AssertionError("int('x') now works: update this recipe")
except ValueError as e:
    print(e)
    assert "base 10" not in str(e), e

try:
    [].pop()
except IndexError as e:
    print(e)
else:
    raise AssertionError("pop on an empty list now works: update this recipe")
print("reached the end")
'''


def record(tmp_path, source=RECIPE):
    path = tmp_path / "plot_changed.py"
    path.write_text(textwrap.dedent(source))
    return run_recipe(path, record=True)


def test_every_expectation_is_evaluated_after_one_changed(tmp_path):
    result = record(tmp_path)
    assert result.passed, result.report()
    assert "reached the end" in result.stdout
    statuses = {key: entry["status"] for key, entry in result.expectations.items()}
    assert statuses == {
        "sentinel: dividing by zero now works: update this recipe": "holds",
        "sentinel: adding an int now fails: update this recipe": "changed",
        "check: value == 2": "changed",
        "sentinel: a missing key is now found: update this recipe": "failed",
        "sentinel: int('x') now works: update this recipe": "changed",
        "sentinel: pop on an empty list now works: update this recipe": "holds",
    }
    entries = result.expectations
    assert entries["sentinel: adding an int now fails: update this recipe"]["message"] == "adding an int now fails: update this recipe"
    assert entries["sentinel: adding an int now fails: update this recipe"]["line"] == 15
    assert entries["sentinel: a missing key is now found: update this recipe"]["message"] == "KeyError: 'key'"
    assert entries["sentinel: a missing key is now found: update this recipe"]["expects"] == "IndexError"
    assert entries["sentinel: int('x') now works: update this recipe"]["message"].startswith("the error's message changed")
    assert entries["check: value == 2"]["message"] == "value is not 2"


def test_expectations_after_a_crash_are_not_reached(tmp_path):
    result = record(tmp_path, RECIPE.replace("value = 1\n", "value = 1\nundefined_name\n"))
    assert not result.passed and result.kind == "exception"
    assert {entry["status"] for entry in result.expectations.values()} == {"not-reached"}


def test_the_normal_run_still_stops_at_the_first_change(tmp_path):
    path = tmp_path / "plot_changed.py"
    path.write_text(RECIPE)
    result = run_recipe(path)
    assert result.kind == "sentinel" and result.line == 15 and result.expectations == {}


def report(torch, statuses):
    return {
        "format": 1, "recorded": "2026-11-26",
        "environment": {"python": "3.11.7", "torch": torch, "onnx": "1", "onnxscript": "1", "onnxruntime": "1"},
        "recipes": {"constraints/plot_x.py": {"outcome": "completed", "message": "", "expectations": {
            key: {"line": line, "status": status, "expects": "E", "message": "new message" if status == "changed" else ""}
            for line, (key, status) in enumerate(statuses.items())}}},
    }


def test_compare_lists_what_changed_and_fails(tmp_path, capsys):
    base = report("2.13.0", {"sentinel: a": "holds", "sentinel: b": "holds"})
    new = report("2.14.1", {"sentinel: a": "holds", "sentinel: b": "changed"})
    assert differences(base, new) == ["constraints/plot_x.py: [sentinel: b] holds -> changed: new message"]
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "new.json").write_text(json.dumps(new))
    assert behaviour_main(["compare", str(tmp_path / "base.json"), str(tmp_path / "new.json")]) == 1
    assert "holds -> changed" in capsys.readouterr().out
    assert behaviour_main(["compare", str(tmp_path / "base.json"), str(tmp_path / "base.json")]) == 0


def history(statuses_by_release, outcome_by_release=None, outputs_by_release=None):
    """Records of one recipe on several releases: {release: {key: status}}."""
    reports = []
    for torch_version, statuses in statuses_by_release.items():
        record = report(torch_version, statuses)
        recipe = record["recipes"]["constraints/plot_x.py"]
        recipe["outcome"] = (outcome_by_release or {}).get(torch_version, "completed")
        recipe["outputs"] = (outputs_by_release or {}).get(torch_version, {})
        reports.append(record)
    return load_order(reports)


def render_all(*args, **kwargs) -> str:
    """The text of every versions page (the main page and each section's), for what any of them shows."""
    return "\n".join(render_pages(*args, **kwargs).values())


def load_order(reports):
    return sorted(reports, key=lambda r: tuple(int(p) for p in r["environment"]["torch"].split("+")[0].split(".")))


def test_page_orders_releases_and_says_since_and_until_in_readers_words():
    reports = history({
        "2.14.1": {"sentinel: new": "changed", "sentinel: old": "holds", "check: api": "holds", "check: same": "holds"},
        "2.12.1": {"sentinel: new": "holds", "sentinel: old": "changed", "check: api": "not-reached", "check: same": "holds"},
        "2.13.0": {"sentinel: new": "holds", "sentinel: old": "holds", "check: api": "holds", "check: same": "holds"},
    }, outcome_by_release={"2.12.1": "exception"})
    page = render_all(reports, verified="2.13.0")
    assert page.index("<th>2.12</th>") < page.index("<th>2.13</th>") < page.index("<th>2.14</th>")
    assert "changed in 2.14: new message" in page
    assert "holds since 2.13" in page  # 2.12 fired the sentinel: the behaviour is new in 2.13
    assert "needs 2.13 or later" in page  # on 2.12 the recipe stopped before the check
    assert "**torch 2.13.0** (the release this site is verified with)" in page
    # One section per recipe, so that a reader finds one recipe's history.
    assert ".. _behaviour-constraints-plot_x:" in page
    assert '<td class="behaviour-changed" title="new message">✗ changed</td>' in page


def test_the_box_of_a_recipe_page_names_the_releases_it_holds_on():
    reports = history({"2.12.1": {"sentinel: a": "changed"}, "2.13.0": {"sentinel: a": "holds"},
                       "2.14.1": {"sentinel: a": "holds"}})
    recipe = recipe_history(reports, "constraints/plot_x.py", "2.14.1")
    assert recipe.unchanged_since == "2.13.0" and recipe.verified == "2.14.1"
    box = history_box(recipe, reports)
    assert "Verified with torch 2.14.1 on 2026-11-26" in box and "unchanged on torch 2.13–2.14" in box
    assert "holds since 2.13" in box
    assert recipe_history(reports, "constraints/plot_x.py", "2.15.0") is None  # no record of the verified release


def test_the_box_of_a_models_page_names_the_library_version_it_was_verified_with():
    reports = history({"2.14.1": {"check: a": "holds"}, "2.15.0": {"check: a": "holds"}})
    for record in reports:
        record["recipes"]["transformers/plot_x.py"] = record["recipes"].pop("constraints/plot_x.py")
        record["environment"]["transformers"] = "5.23.0"
    box = history_box(recipe_history(reports, "transformers/plot_x.py", "2.15.0"), reports)
    assert "Verified with torch 2.15.0 and transformers 5.23.0 on 2026-11-26." in box
    # A page of another section names torch alone, even where the record holds transformers.
    record_other = history({"2.15.0": {"check: a": "holds"}})
    record_other[0]["environment"]["transformers"] = "5.23.0"
    assert "Verified with torch 2.15.0 on" in history_box(recipe_history(record_other, "constraints/plot_x.py", "2.15.0"), record_other)


def test_outputs_that_differ_between_consecutive_releases_are_shown_as_a_diff():
    reports = history({"2.13.0": {"check: a": "holds"}, "2.14.1": {"check: a": "holds"}},
                      outputs_by_release={"2.13.0": {"1": "Graph signature: \nnode_add_8\n"},
                                          "2.14.1": {"1": "Graph signature:\nnode_add_2\n"}})
    changes = output_changes(reports)
    assert [(old, new, recipe, cell) for old, new, recipe, cell, _ in changes] == [
        ("2.13.0", "2.14.1", "constraints/plot_x.py", "1")]
    assert "-node_add_8" in changes[0][4] and "+node_add_2" in changes[0][4]
    page = render_all(reports, verified="2.14.1")
    assert "**2.13 → 2.14**: 1 page(s)" in page and "+node_add_2" in page


def test_spaces_at_the_end_of_a_line_are_not_a_change_a_reader_sees():
    """torch 2.11 ends a blank line of a printed program with other spaces: the page would show a
    - and a + line with nothing visible on them. A change of indentation is visible, and shown."""
    reports = history({"2.13.0": {"check: a": "holds"}, "2.14.1": {"check: a": "holds"}},
                      outputs_by_release={"2.13.0": {"1": "def forward(x):\n            \n    return x\n"},
                                          "2.14.1": {"1": "def forward(x):\n    \n    return x\n"}})
    assert output_changes(reports) == []
    reports[1]["recipes"]["constraints/plot_x.py"]["outputs"]["1"] = "def forward(x):\n\n        return x\n"
    (change,) = output_changes(reports)
    assert change[4] == ["-    return x", "+        return x"], change[4]


def test_a_record_names_no_virtualenv_of_make_history(tmp_path):
    """`make history` runs each release in a virtualenv of its own, in a temporary folder: an
    error's message can name a file of it, which the record (and so the page) must not show."""
    venv = "/tmp/cookbook-torch-2.10.0-abc123/venv/lib/python3.11/site-packages"
    result = record(tmp_path, f'''
        try:
            {{}}["{venv}/torch/export/_trace.py"]
            raise AssertionError("a missing key is now found: update this recipe")
        except IndexError as e:
            print(e)
        raise ValueError('File "{venv}/torch/_ops.py", line 3')
        ''')
    assert result.kind == "exception"
    (expectation,) = result.expectations.values()
    assert expectation["status"] == "failed" and "torch/export/_trace.py" in expectation["message"]
    assert 'File "torch/_ops.py", line 3' in result.message
    for text in (result.message, expectation["message"]):  # the message also names the test's recipe, in tmp_path
        assert "cookbook-torch-2.10.0" not in text and "site-packages" not in text, text
    assert find_machine_paths(expectation["message"]) == [], expectation["message"]


def test_a_machine_path_after_an_html_entity_is_found():
    assert find_machine_paths('title="File &quot;/tmp/x/venv/lib/a.py&quot;"') == ["/tmp/x/venv/lib/a.py"]


def test_what_changes_from_run_to_run_is_normalised_out_of_a_record():
    """Times, process ids, colours, measured times and temporary files change at every run: two
    records of the same release must not differ by them (the behaviour page would list the line as
    changed)."""

    def output(day, time, pid, suffix):
        return (f"W{day} {time}.270000 {pid} torch/fx/x.py:12] a guard\n"
                f"V{day} {time}.267000 {pid} torch/_higher_order_ops/partitioner.py:276] [1/0] a graph\n"
                f"[W{day} {time}.099779684 ReduceOps.cpp:1857] Warning: std()\n"
                f"\x1b[1;31m2026-{day[:2]}-{day[2:]} {time}.015701433 [E:onnxruntime:, sequential_executor.cc:677 "
                f"ExecuteKernel] Non-zero status code\x1b[m\n"
                f"<log> torch/export/_draft_export.py] `tlparse <tmp>/…/cwd/dedicated_log_torch_trace_{suffix}.log --export`\n"
                # torch 2.13 names the log by a number that changes from run to run.
                f"<log> torch/export/_draft_export.py] `tlparse {pid % 17} --export`\n"
                f"2 clips of 64 frames {pid / 1e4:15.2f} ms {pid / 1e5:15.2f} ms\n"
                f"shape_check (function) {pid / 1e3:10.1f} microseconds\n")

    first, again = output("1126", "05:46:30", 27150, "sbc2357t"), output("1127", "22:49:46", 311, "q4_unlfi")
    assert normalise_output(first) == normalise_output(again) == (
        "<log> torch/fx/x.py] a guard\n"
        "<log> torch/_higher_order_ops/partitioner.py] [1/0] a graph\n"
        "<log> ReduceOps.cpp] Warning: std()\n"
        "<log> onnxruntime sequential_executor.cc] Non-zero status code\n"
        "<log> torch/export/_draft_export.py] `tlparse <tmp>/… --export`\n"
        "<log> torch/export/_draft_export.py] `tlparse … --export`\n"
        "2 clips of 64 frames … ms … ms\n"
        "shape_check (function) … microseconds\n"
    )
    assert normalise_output(normalise_output(first)) == normalise_output(first)  # twice changes nothing


def test_a_removed_recipe_keeps_its_history_marked_removed_without_a_link():
    reports = history({"2.13.0": {"sentinel: a": "changed"}, "2.14.1": {"sentinel: a": "holds"}})
    linked = render_all(reports, verified="2.14.1", existing={"constraints/plot_x.py"})
    assert "<sphx_glr_auto_recipes_constraints_plot_x.py>" in linked and "(removed)" not in linked
    page = render_all(reports, verified="2.14.1", existing={"constraints/plot_other.py"})
    assert "sphx_glr_auto_recipes_constraints_plot_x.py" not in page  # no link to a page that is gone
    assert ":code:`constraints/plot_x.py` (removed)" in page and "holds since 2.14" in page
    assert ".. _behaviour-constraints-plot_x:" in page and "The recipe was removed" in page


def test_a_renamed_recipe_keeps_its_history_under_its_new_name(tmp_path):
    """behaviour_page.RENAMED: records made before a rename show, and link, under the new name."""
    for torch_version, status in (("2.13.0", "changed"), ("2.14.1", "holds")):
        record = report(torch_version, {"sentinel: a": status})
        if torch_version == "2.14.1":  # recorded after the rename
            record["recipes"] = {"constraints/plot_y.py": record["recipes"]["constraints/plot_x.py"]}
        (tmp_path / f"{torch_version}.json").write_text(json.dumps(record))
    renamed = {"constraints/plot_x.py": "constraints/plot_y.py"}
    reports = load_reports(tmp_path, renamed)
    assert [set(r["recipes"]) for r in reports] == [{"constraints/plot_y.py"}] * 2
    page = render_all(reports, verified="2.14.1", existing={"constraints/plot_y.py"})
    assert "plot_x" not in page and "holds since 2.14" in page, page
    assert recipe_history(reports, "constraints/plot_y.py", "2.14.1").unchanged_since == "2.14.1"
    assert current_name("a/plot_1.py", {"a/plot_1.py": "a/plot_2.py", "a/plot_2.py": "b/plot_3.py"}) == "b/plot_3.py"


def test_every_link_of_the_real_behaviour_page_points_to_an_existing_recipe():
    """The records name recipes removed or renamed since: the page must not link to a page that is gone."""
    existing = {str(path.relative_to(RECIPES_DIR)) for path in discover_recipes()}
    assert not existing & set(RENAMED), "a renamed recipe's old name is a recipe again"
    assert {current_name(name) for name in RENAMED} <= existing, "RENAMED names a recipe that does not exist"
    page = render_all(load_reports(BEHAVIOUR_DIR), verified=None, existing=existing)
    linked = set(re.findall(r"<sphx_glr_auto_recipes_(\w+)_(plot_\w+\.py)>", page))
    assert linked, "the page links no recipe"
    assert {f"{section}/{name}" for section, name in linked} <= existing


LOGGING_RECIPE = '''
"""
A recipe that triggers torch's log lines
========================================
"""
import logging
import os
import torch

# %%
print("printed by the recipe")
logging.getLogger("torch.export").warning("a log line of torch")
os.write(2, b"written to the descriptor, as C++ code does\\n")
'''


def test_a_record_holds_what_the_page_shows_not_the_console(tmp_path):
    # sphinx-gallery captures sys.stdout and sys.stderr, and the build sends torch's log lines to
    # its console: neither those nor what C++ code writes to the descriptors is on the page.
    result = record(tmp_path, LOGGING_RECIPE)
    assert result.passed, result.report()
    assert result.outputs == {"1": "printed by the recipe\n"}, result.outputs
    assert "a log line of torch" in result.stderr and "written to the descriptor" in result.stderr


MISSING_API = '''
"""
A recipe about an API of a later release
========================================
"""
from a_module_of_a_later_release import NewSpec

assert NewSpec is not None
'''


def test_a_recipe_that_stops_at_its_first_use_of_a_missing_api_needs_a_later_release(tmp_path):
    result = record(tmp_path, MISSING_API)
    assert result.kind == "exception"
    assert recorded_outcome(result) == NEEDS_LATER_RELEASE
    assert "ModuleNotFoundError: No module named 'a_module_of_a_later_release'" in result.message


def test_a_missing_api_after_an_expectation_or_another_error_is_a_failure(tmp_path):
    after_a_check = record(tmp_path, "assert 1 + 1 == 2\nimport a_module_of_a_later_release\n")
    assert after_a_check.kind == "exception" and recorded_outcome(after_a_check) == "exception"
    other_error = record(tmp_path, 'raise ValueError("not a missing API")\nassert True\n')
    assert recorded_outcome(other_error) == "exception"
    type_error = record(tmp_path, 'len(3)\nassert True\n')  # a TypeError before any expectation: a missing API
    assert recorded_outcome(type_error) == NEEDS_LATER_RELEASE
    caught = record(tmp_path, '''
        try:
            import a_module_of_a_later_release
            raise AssertionError("the module now exists: update this recipe")
        except ValueError as e:
            print(e)
        ''')  # raised inside a sentinel's try: the expectation failed, the recipe went on
    assert caught.passed and recorded_outcome(caught) == "completed"


def test_pages_say_new_in_from_the_records_of_releases_that_lack_the_api():
    reports = history({
        "2.13.0": {"sentinel: spec": "not-reached", "check: range": "not-reached"},
        "2.14.1": {"sentinel: spec": "holds", "check: range": "holds"},
        "2.15.0": {"sentinel: spec": "holds", "check: range": "holds"},
    }, outcome_by_release={"2.13.0": NEEDS_LATER_RELEASE})
    reports[0]["recipes"]["constraints/plot_x.py"]["message"] = (
        "recipes/constraints/plot_x.py:24: the recipe raised\n    TypeError: object of type 'ShapesSpec' has no len()")
    page = render_all(reports, verified="2.15.0")
    assert "Recipes about a newer API" in page
    assert "new in 2.14 (:code:`TypeError: object of type 'ShapesSpec' has no len()`)" in page
    assert '<td class="behaviour-needs" title="' in page and ">needs a later release</td>" in page
    assert "needs 2.14 or later" in page and "! failed" not in page
    recipe = recipe_history(reports, "constraints/plot_x.py", "2.15.0")
    assert recipe.new_in == "2.14.1" and recipe.unchanged_since == "2.14.1"
    box = history_box(recipe, reports)
    assert "New in torch 2.14: on older releases the recipe stops at its first use of an API" in box
    # A failure on an older release is not "new in": the page keeps calling it a failure.
    reports[0]["recipes"]["constraints/plot_x.py"]["outcome"] = "exception"
    assert "Recipes about a newer API" not in render_all(reports, verified="2.15.0")
    assert recipe_history(reports, "constraints/plot_x.py", "2.15.0").new_in is None
def test_a_recipe_stopped_by_its_import_of_transformers_needs_a_later_release(tmp_path):
    """On a torch release where transformers cannot be imported, its recipes are recorded as
    ``needs-later-release`` with the import's message (cookbook.harness.behaviour.unavailable_package);
    any other error is the recipe's."""
    from cookbook.harness.behaviour import unavailable_package

    header = '"""\nA recipe\n========\n"""\nimport torch\n'
    path = tmp_path / "plot_library.py"
    path.write_text(header + "from transformers import NameThatNoReleaseHas\n")
    result = run_recipe(path)
    assert result.kind == "exception" and result.line == 6, result.report()
    assert unavailable_package(path, result) == "transformers"
    path.write_text(header + "from transformers import LlamaConfig\nfrom torch import NameThatNoReleaseHas\n")
    result = run_recipe(path)
    assert result.kind == "exception" and result.line == 7, result.report()
    assert unavailable_package(path, result) is None


def test_a_literal_cut_before_a_space_is_still_valid_rest():
    """A record's key is cut at 160 characters for the pages; a cut after a space made an inline
    literal that docutils refused ("start-string without end-string"), which failed the build."""
    from docutils.core import publish_doctree
    from docutils.utils import Reporter

    from cookbook.site.rst import literal

    for text in ("check: x == ['a, b', `c` ", " spaced ", "a\\\\b"):
        doctree = publish_doctree(f"- {literal(text)}: needs 2.10 or later\n",
                                  settings_overrides={"report_level": Reporter.WARNING_LEVEL, "halt_level": 5,
                                                      "warning_stream": False})
        problems = [node for node in doctree.findall() if node.tagname == "system_message"]
        assert not problems, (text, [p.astext() for p in problems])


def test_a_record_keeps_no_terminal_colours_and_no_address_of_an_error(tmp_path):
    """torch.onnx colours "This is step 1/3" in its errors: the versions page showed ``[96m``. A
    failed check prints its values, which can be objects with their address (torch 2.9.1's record of
    the dynamic_axes recipe held ``[<warnings.WarningMessage object at 0x7f838f3dc710>]``): two runs
    of the same release would differ by it."""
    from cookbook.harness.behaviour import record as record_environment

    recipe = tmp_path / "plot_coloured.py"
    recipe.write_text(textwrap.dedent('''
        try:
            raise RuntimeError(f"\\x1b[96mThis is step 1/3\\x1b[0m of exporting {object()}")
            raise AssertionError("the error is gone: update this recipe")
        except ValueError as e:
            print(e)
        raise RuntimeError("\\x1b[96mThis is step 1/3\\x1b[0m of exporting, again")
        '''))
    path = record_environment(tmp_path / "records", [recipe], jobs=1)
    (entry,) = json.loads(path.read_text())["recipes"].values()
    (expectation,) = entry["expectations"].values()
    for text in (entry["message"], expectation["message"]):
        assert "This is step 1/3 of exporting" in text and "\x1b" not in text, text
    assert "<object object at 0x…>" in expectation["message"], expectation["message"]


def test_the_versions_pages_are_rendered_again_only_when_what_they_show_changed(tmp_path, monkeypatch):
    from cookbook.site import behaviour_page

    folder = tmp_path / "behaviour"
    folder.mkdir()
    for record in history({"2.14.1": {"check: a": "holds"}, "2.15.0": {"check: a": "holds"}}):
        (folder / f"torch-{record['environment']['torch']}.json").write_text(json.dumps(record))
    renders = []
    real_render = behaviour_page.render_pages
    monkeypatch.setattr(behaviour_page, "render_pages", lambda *args: renders.append(args) or real_render(*args))
    srcdir = tmp_path / "doc"
    page, section = srcdir / "behaviour.rst", srcdir / "behaviour-by-section" / "constraints.rst"
    assert behaviour_page.write_pages(srcdir, folder, "2.15.0") == 2 and len(renders) == 1
    assert page.read_text().startswith(".. cookbook-inputs: ") and section.read_text().startswith(".. cookbook-inputs: ")
    assert behaviour_page.write_pages(srcdir, folder, "2.15.0") == 2 and len(renders) == 1  # nothing changed
    section.unlink()
    behaviour_page.write_pages(srcdir, folder, "2.15.0")
    assert len(renders) == 2 and section.exists()  # a section page went missing
    record = folder / "torch-2.15.0.json"
    record.write_text(record.read_text().replace('"holds"', '"changed"'))
    behaviour_page.write_pages(srcdir, folder, "2.15.0")
    assert len(renders) == 3 and "changed" in section.read_text()  # a record changed
    behaviour_page.write_pages(srcdir, folder, "2.14.1")
    assert len(renders) == 4  # another verified release
    # A section the records no longer name loses its page.
    stale = srcdir / "behaviour-by-section" / "removed_section.rst"
    stale.write_text("old")
    behaviour_page.write_pages(srcdir, folder, "2.15.0")
    assert len(renders) == 5 and not stale.exists() and section.exists()


def test_the_versions_page_links_one_page_per_section_which_holds_only_its_recipes():
    """One page for all recipes weighed 1.3 MB: the main page lists the releases and the sections, and
    each section's page holds its recipes' tables, in the gallery's order of sections."""
    reports = history({"2.14.1": {"check: a": "holds"}, "2.15.0": {"check: a": "changed"}},
                      outputs_by_release={"2.14.1": {"1": "old output\n"}, "2.15.0": {"1": "new output\n"}})
    for record in reports:
        record["recipes"]["shapes_spec/plot_y.py"] = json.loads(json.dumps(record["recipes"]["constraints/plot_x.py"]))
    pages = render_pages(reports, verified="2.15.0", sections={"shapes_spec": "ShapesSpec", "constraints": "Constraints"})
    assert list(pages) == ["behaviour", "behaviour-by-section/shapes_spec", "behaviour-by-section/constraints"]
    main = pages["behaviour"]
    assert "<table" not in main and "code-block:: diff" not in main and ".. _behaviour-constraints-plot_x:" not in main
    assert (":doc:`Constraints <behaviour-by-section/constraints>`: 1 recipe(s), 1 expectation(s) that differ between "
            "releases, 1 page(s) whose output differs") in main
    assert main.index("   behaviour-by-section/shapes_spec") < main.index("   behaviour-by-section/constraints")
    constraints = pages["behaviour-by-section/constraints"]
    assert ".. _behaviour-constraints-plot_x:" in constraints and "plot_y" not in constraints
    assert "Constraints, release by release" in constraints and "+new output" in constraints
    assert ".. _behaviour-shapes_spec-plot_y:" in pages["behaviour-by-section/shapes_spec"]


def stale_records(reports: list[dict], recipes: list) -> list[str]:
    """Each (release, recipe) whose record does not hold exactly the expectations of today's recipe."""
    stale = []
    for path in recipes:
        name = path.relative_to(RECIPES_DIR).as_posix()
        expected = set(instrument(path.read_text(encoding="utf-8"), str(path))[1])
        for report in reports:
            entry = report["recipes"].get(name)
            if entry is None:
                stale.append(f"torch {record_release(report)}: {name} is not recorded")
            elif set(entry["expectations"]) != expected:
                missing, extra = expected - set(entry["expectations"]), set(entry["expectations"]) - expected
                stale.append(f"torch {record_release(report)}: {name}: not recorded {sorted(missing)[:2]}, "
                             f"no longer in the recipe {sorted(extra)[:2]}")
    return stale


def test_every_release_records_exactly_the_expectations_of_todays_recipes():
    """The box on a recipe page and the versions pages say on which releases each expectation holds,
    from the records: an expectation added to a recipe after its records were made would be missing
    from them, and the box would say that every expectation holds on every release. Record again
    with `make history` (every release) after changing what a recipe asserts."""
    stale = stale_records(load_reports(BEHAVIOUR_DIR), discover_recipes())
    assert not stale, "records older than the recipes (run `make history`):\n" + "\n".join(stale[:20])


def test_a_record_without_a_new_check_of_a_recipe_is_stale():
    recipe = RECIPES_DIR / "getting_started" / "plot_batch_size_guard_failed.py"
    keys = instrument(recipe.read_text(encoding="utf-8"), str(recipe))[1]
    name = "getting_started/plot_batch_size_guard_failed.py"
    report = {"environment": {"torch": "2.15.0"}, "recipes": {name: {"expectations": dict(keys)}}}
    assert stale_records([report], [recipe]) == []
    del report["recipes"][name]["expectations"][next(iter(keys))]
    assert len(stale_records([report], [recipe])) == 1
    assert stale_records([{"environment": {"torch": "2.15.0"}, "recipes": {}}], [recipe]) == [
        f"torch 2.15.0: {name} is not recorded"]
