"""What the recipes' pages show as output (_build/html, built by `make html`): no line that the
prose does not explain.

Torch's log lines (``W1203 12:00:00.123000 4242 torch/x.py:12] ...``, ``[W1203 ...]`` from its
C++ code, onnxruntime's ``2026-12-03 12:00:00.123 [E:onnxruntime:...]``, the ``<log> file]`` form
of a normalised record) and Python's warnings (``torch/x.py:12: UserWarning: ...``) are raw output:
they hold a time, a process id or a machine's file, and say nothing a reader of the page asked
for. The build sends torch's log lines to its console; a page shows such a line only where its
recipe prints it on purpose and its prose explains it. Those lines are listed below, per recipe:
each line of that kind on a page must contain one of its recipe's entries, and each entry must
be on the page, so that neither a new unexplained line nor a page that lost the line it teaches
(silenced logging, for one) goes unnoticed.

A page also never shows the same graph twice: ``torch.export`` prints the graph it traced so far
on stderr before it raises, twice in torch 2.15 (nested wrappers); a recipe keeps it off its page
with ``contextlib.redirect_stderr``.
"""

import re
from collections import Counter

import pytest

from cookbook import REPO_ROOT
from cookbook.recipes import discover_recipes
from cookbook.site.page_output import output_text as page_output_text

SITE = REPO_ROOT / "_build" / "html"
pytestmark = pytest.mark.needs_site

#: The log lines and warnings each page shows on purpose (a part of each line, enough to tell it),
#: by recipe (relative to recipes/). A recipe that prints one explains it in its prose.
SHOWN_ON_PURPOSE = {
    # The page about TORCH_LOGS collects the `dynamic` logger's records and prints their messages.
    "constraints/plot_find_specializing_line_logs.py": [
        "eval Eq(L['x'].size()[1], 6) [guard added] (plot_find_specializing_line_logs.py:",
    ],
    # The deprecation of None for one dimension, collected from its logger and explained.
    "getting_started/plot_dynamic_shapes_structure.py": [
        "Using None as a dynamic shape dimension is deprecated. Please use Dim.STATIC instead",
    ],
    "structured_inputs/plot_additional_inputs.py": [
        "Using None as a dynamic shape dimension is deprecated. Please use Dim.STATIC instead",
    ],
    # draft_export's banner, collected from its logger and explained.
    "data_dependent/plot_draft_export_report.py": [
        "WARNING: 6 issue(s) found during export, and it was not able to soundly produce a graph.",
    ],
    # The exporter's warning about shared dimension names: explained on the page that teaches it,
    # pointed to from the others.
    "onnx/plot_onnx_dimension_names.py": [
        "The axis name: batch will not be used, since it shares the same shape constraints with another axis",
    ],
    "onnx/plot_onnx_attention_dynamic_sequence.py": [
        "UserWarning: # The axis name: batch will not be used",
        "UserWarning: # The axis name: seq will not be used",
    ],
    "onnx/plot_onnx_from_exported_program.py": [
        "UserWarning: # The axis name: batch will not be used",
        "UserWarning: # The axis name: seq will not be used",
    ],
    "onnx/plot_onnx_invalid_dimensions.py": [
        "UserWarning: # The axis name: batch will not be used",
        "UserWarning: # The axis name: seq will not be used",
    ],
    "onnx/plot_onnx_lenient_export_unchecked_shapes.py": [
        "UserWarning: # The axis name: batch will not be used",
    ],
    "onnx/plot_onnx_dynamic_axes_to_dynamic_shapes.py": [
        "UserWarning: # The axis name: batch will not be used",
        "DeprecationWarning: You are using the legacy TorchScript-based ONNX export",
    ],
    # std() of an empty batch, in the sweep: explained and pinned on the page.
    "checking/plot_sweep_shapes.py": [
        "UserWarning: std(): degrees of freedom is <= 0",
    ],
}

# A line of raw output: torch's Python log (W1203 12:00:00.123000 4242 torch/x.py:12]), its C++
# warnings ([W1203 12:00:00.123456789 X.cpp:12]), the normalised form of either (<log> x.py]),
# onnxruntime's log, and a Python warning as `warnings` prints it (torch/x.py:12: UserWarning:).
RAW_LINE = re.compile(
    r"^\s*(?:\[?[A-Z]\d{4} \d\d:\d\d:\d\d\.\d+ "
    r"|<log> "
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+ \[[A-Z]:onnxruntime"
    r"|\S+\.py:\d+: \w*Warning: )",
    re.MULTILINE,
)


def output_text(page) -> str:
    """What the page shows as the recipe's output (its code and prose left out)."""
    return page_output_text(page.read_text(encoding="utf-8"))


def raw_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if RAW_LINE.match(line)]


def graphs(text: str) -> list[str]:
    """Each printed graph: a ``def forward(`` line and the lines indented under it."""
    lines, found = text.splitlines(), []
    for start, line in enumerate(lines):
        head = re.match(r"^(\s*)def forward\(", line)
        if not head:
            continue
        indent, block = len(head.group(1)), [line.rstrip()]
        for following in lines[start + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            block.append(following.rstrip())
        while not block[-1]:
            block.pop()
        found.append("\n".join(block))
    return found


def unexplained(text: str, shown_on_purpose: list[str]) -> list[str]:
    return [line for line in raw_lines(text) if not any(entry in line for entry in shown_on_purpose)]


def repeated_graphs(text: str) -> list[str]:
    return [graph.splitlines()[0] for graph, count in Counter(graphs(text)).items() if count > 1]


def pages():
    for recipe in discover_recipes():
        name = f"{recipe.parent.name}/{recipe.name}"
        page = SITE / "auto_recipes" / recipe.parent.name / f"{recipe.stem}.html"
        assert page.exists(), f"{page} is missing: build the site first (make html)"
        yield name, output_text(page)


def test_no_page_shows_an_unexplained_log_line_or_warning():
    offenders = {}
    for name, text in pages():
        if found := unexplained(text, SHOWN_ON_PURPOSE.get(name, [])):
            offenders[name] = found[:3]
    assert not offenders, f"raw lines that no entry of SHOWN_ON_PURPOSE explains: {offenders}"


@pytest.mark.reads_named_recipes
def test_the_lines_a_page_shows_on_purpose_are_on_it():
    outputs = dict(pages())
    missing = {name: [entry for entry in entries if entry not in outputs.get(name, "")]
               for name, entries in SHOWN_ON_PURPOSE.items()}
    missing = {name: entries for name, entries in missing.items() if entries}
    assert not missing, f"lines listed in SHOWN_ON_PURPOSE that their page no longer shows: {missing}"


def test_no_page_shows_a_graph_twice():
    offenders = {name: found for name, text in pages() if (found := repeated_graphs(text))}
    assert not offenders, offenders


# The detectors themselves, on outputs as the pages hold them.

PARTIAL_GRAPH = '''
def forward(self, arg0_1: "f32[s77, 3]"):
    # File: recipes/x.py:12 in forward, code: if scale > 1:
    gt: "b8[]" = torch.ops.aten.gt.Scalar(arg0_1, 1)

    item: "Sym(u0)" = torch.ops.aten.item.default(gt)
'''


def test_the_detectors_see_what_the_pages_must_not_show():
    logged = "W1203 07:44:37.205000 10851 torch/fx/experimental/symbolic_shapes.py:9446] [2/0] Unable to find user code"
    for line in [
        logged,
        "[W1203 13:16:41.099779684 ReduceOps.cpp:1857] Warning: a C++ warning",
        "<log> torch/onnx/_internal/exporter/_registration.py] torchvision is not installed. Skipping torchvision::nms",
        "2026-12-03 08:08:09.389646887 [E:onnxruntime:, sequential_executor.cc:677 ExecuteKernel] Non-zero status",
        "torch/onnx/_internal/exporter/_onnx_program.py:486: UserWarning: # The axis name: batch will not be used",
    ]:
        assert unexplained(f"printed by the recipe\n{line}\n", []) == [line], line
    assert unexplained(f"{logged}\n", ["Unable to find user code"]) == []
    assert unexplained("Guard failed: x.size()[0] <= 32\neval Eq(s27, 6) [guard added] (x.py:3 in f)\n", []) == []
    assert repeated_graphs(PARTIAL_GRAPH + "\n\n" + PARTIAL_GRAPH + "\nCould not guard\n") == [
        'def forward(self, arg0_1: "f32[s77, 3]"):'
    ]
    assert repeated_graphs(PARTIAL_GRAPH + "\nCould not guard\n") == []


def test_the_record_of_this_torch_holds_what_the_pages_show():
    # The history's record of the installed torch (make behaviour-report) keeps each cell's output
    # as its page shows it: the same rule, on the outputs that the versions page compares.
    from cookbook.environment import versions
    from cookbook.site.behaviour_page import load_reports

    torch_version = versions()["torch"]
    reports = [r for r in load_reports(REPO_ROOT / "_doc" / "behaviour") if r["environment"]["torch"] == torch_version]
    assert len(reports) == 1, f"no record of torch {torch_version} in _doc/behaviour: run `make behaviour-report`"
    (report,) = reports
    offenders = {}
    for name, recipe in report["recipes"].items():
        text = "\n".join(recipe["outputs"].values())
        if found := unexplained(text, SHOWN_ON_PURPOSE.get(name, [])):
            offenders[name] = found[:3]
    assert not offenders, f"record of torch {torch_version}: {offenders}"
