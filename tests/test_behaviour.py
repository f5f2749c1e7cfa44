"""The behaviour tracker records every expectation of a recipe, even after one has changed."""

import json
import textwrap

from cookbook.harness.behaviour import differences, main as behaviour_main
from cookbook.harness.runner import run_recipe
from cookbook.output_paths import find_machine_paths, normalise_output
from cookbook.site.behaviour_page import history_box, output_changes, recipe_history, render

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


def load_order(reports):
    return sorted(reports, key=lambda r: tuple(int(p) for p in r["environment"]["torch"].split("+")[0].split(".")))


def test_page_orders_releases_and_says_since_and_until_in_readers_words():
    reports = history({
        "2.14.1": {"sentinel: new": "changed", "sentinel: old": "holds", "check: api": "holds", "check: same": "holds"},
        "2.12.1": {"sentinel: new": "holds", "sentinel: old": "changed", "check: api": "not-reached", "check: same": "holds"},
        "2.13.0": {"sentinel: new": "holds", "sentinel: old": "holds", "check: api": "holds", "check: same": "holds"},
    }, outcome_by_release={"2.12.1": "exception"})
    page = render(reports, verified="2.13.0")
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


def test_outputs_that_differ_between_consecutive_releases_are_shown_as_a_diff():
    reports = history({"2.13.0": {"check: a": "holds"}, "2.14.1": {"check: a": "holds"}},
                      outputs_by_release={"2.13.0": {"1": "Graph signature: \nnode_add_8\n"},
                                          "2.14.1": {"1": "Graph signature:\nnode_add_2\n"}})
    changes = output_changes(reports)
    assert [(old, new, recipe, cell) for old, new, recipe, cell, _ in changes] == [
        ("2.13.0", "2.14.1", "constraints/plot_x.py", "1")]
    assert "-node_add_8" in changes[0][4] and "+node_add_2" in changes[0][4]
    page = render(reports, verified="2.14.1")
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
                f"2 clips of 64 frames {pid / 1e4:15.2f} ms {pid / 1e5:15.2f} ms\n"
                f"shape_check (function) {pid / 1e3:10.1f} microseconds\n")

    first, again = output("1126", "05:46:30", 27150, "sbc2357t"), output("1127", "22:49:46", 311, "q4_unlfi")
    assert normalise_output(first) == normalise_output(again) == (
        "<log> torch/fx/x.py] a guard\n"
        "<log> torch/_higher_order_ops/partitioner.py] [1/0] a graph\n"
        "<log> ReduceOps.cpp] Warning: std()\n"
        "<log> onnxruntime sequential_executor.cc] Non-zero status code\n"
        "<log> torch/export/_draft_export.py] `tlparse <tmp>/… --export`\n"
        "2 clips of 64 frames … ms … ms\n"
        "shape_check (function) … microseconds\n"
    )
    assert normalise_output(normalise_output(first)) == normalise_output(first)  # twice changes nothing


def test_a_recipe_stopped_by_its_import_of_transformers_is_unavailable_not_failed(tmp_path):
    """On a torch release where transformers cannot be imported, its recipes are recorded as
    ``unavailable`` (cookbook.harness.behaviour.unavailable_package); any other error is the recipe's."""
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
