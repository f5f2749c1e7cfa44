"""
.. _recipe-draft-export-report:

Every export problem at once: ``torch.export.draft_export`` and its report
==========================================================================

``torch.export.export`` stops at the first problem. On a model with several, you fix one, export
again, meet the next, and so on. Every export error ends with the same advice: replace the call
with ``draft_export()``. ``torch.export.draft_export`` takes the same arguments, does not stop,
and returns a program together with a report of every problem it worked around.

This recipe runs it on a model with three problems, reads the report, shows what the returned
program does when an input breaks an assumption it recorded, and ends with the fixed model,
exported by ``torch.export.export`` and checked against eager.

A model with three problems
---------------------------
"""

import contextlib
import io
import logging
import re

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


class Pipeline(torch.nn.Module):
    """Keep the first ``n`` rows, center them when their mean is positive, project them."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(4, 2)

    def forward(self, x, n):
        k = n.item()
        if k > x.shape[0]:
            raise ValueError("n is larger than the batch")
        x = x[:k]
        if x.mean() > 0:
            x = x - x.mean()
        return self.proj(x)


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


torch.manual_seed(0)
model = Pipeline()
x, n = torch.arange(24.0).reshape(6, 4) / 10, torch.tensor(4)
spec = ({0: Dim("batch"), 1: Dim("features")}, None)

export_stderr = io.StringIO()  # the graph export traced before the failure (see below)
try:
    with contextlib.redirect_stderr(export_stderr):
        torch.export.export(model, (x, n), dynamic_shapes=spec)
    raise AssertionError("export now goes through this model: update this recipe")
except GuardOnDataDependentSymNode as e:
    print(str(e).splitlines()[0])
    first_line = r"Could not guard on data-dependent expression (u\d+) > 6 \(unhinted: \1 > s\d+\)"
    assert re.match(first_line, str(e)), e
assert "def forward(" in export_stderr.getvalue(), export_stderr.getvalue()

# %%
# Export reports the first problem only: ``if k > x.shape[0]`` on the value of ``.item()`` (see
# :ref:`recipe-item-could-not-guard`). The message writes the expression twice: with the batch
# replaced by its example value (``u0 > 6``) and as traced (``unhinted: u0 > s77``). Before
# raising, export also prints on stderr the graph it traced up to the failure; the recipe keeps
# it off the page (``contextlib.redirect_stderr``).
#
# Two more problems are behind it: ``if x.mean() > 0`` (see :ref:`recipe-cond-on-tensor-value`),
# and ``Dim("features")`` on a dimension that ``Linear(4, 2)`` requires to be 4.
#
# ``draft_export``: one call, one report
# --------------------------------------

class Collect(logging.Handler):
    """Keeps the messages of a logger, so that the recipe can show them."""

    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


banner = Collect()
draft_logger = logging.getLogger("torch.export._draft_export")
draft_logger.addHandler(banner)
try:
    ep = torch.export.draft_export(model, (x, n), dynamic_shapes=spec)
finally:
    draft_logger.removeHandler(banner)
report = ep._report
print(type(report).__name__, "successful:", report.successful(), "issues:", len(report.failures))
assert type(report).__name__ == "DraftExportReport" and not report.successful()
assert "draft_export" in torch.export.__all__
assert "WARNING: 6 issue(s) found during export" in str(report), str(report)[:300]
banner_lines = [line for message in banner.messages for line in message.splitlines() if "issue(s) found" in line]
print("logged:", banner_lines)
assert banner_lines == ["WARNING: 6 issue(s) found during export, and it was not able to soundly produce a graph."]

# %%
# ``draft_export`` is public. It also logs a banner, as a warning of the logger
# ``torch.export._draft_export`` (on stderr by default; the recipe collects its message with a
# handler): "WARNING: 6 issue(s) found during export ... you can view
# the errors in python by inspecting ``print(ep._report)``". The report
# itself is only reachable through ``ep._report``, a *private* attribute (a ``DraftExportReport``
# from a private module): fine for reading while you debug, not for code you keep.
#
# ``print(ep._report)`` prints colored text with stack traces, mostly of PyTorch's own files.
# The function below keeps, for each issue, its kind, the expression, your line of code, the
# local variables with their symbolic shapes or values, and the conclusion:


def short_report(report):
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(report))  # drop the terminal colors
    kept, section = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if re.match(r"\d+\. ", stripped) or stripped.startswith("WARNING:"):
            kept.append(stripped)
        elif "unable to evaluate" in stripped or "this guard was added" in stripped:
            kept.append("   " + stripped.split(", where")[0])
        elif stripped.startswith(("As a result", "Please add")):
            kept.append("   " + stripped)
        elif stripped.startswith("This occurred at the following"):
            section = "code"
        elif stripped == "Locals:":
            section = "locals"
        elif section == "code" and stripped and not stripped.startswith("File "):
            kept.append("   line: " + stripped.rstrip(":"))
            section = None
        elif section == "locals":
            if not stripped:
                section = None
            elif not stripped.startswith("self:"):
                kept.append("   local " + stripped)
    return "\n".join(kept)


print(short_report(report))


def symbol_roles(report, unbacked_roles):
    """Names for the symbols of the report: input sizes by their source (``symbol_to_sources``),
    unbacked symbols by their order of appearance."""
    roles = {"L['x'].size()[0]": "batch", "L['x'].size()[1]": "features"}
    names = {}
    for failure in report.failures:
        for symbol, source in failure.data["symbol_to_sources"].items():
            names[symbol] = roles[source]
        for symbol in re.findall(r"\bu\d+\b", failure.data["expr"]):
            if symbol not in names:
                names[symbol] = unbacked_roles[len([s for s in names if s.startswith("u")])]
    return names


names = symbol_roles(report, ["k", "rows", "is_positive"])
print(names)


def with_roles(expr):
    return re.sub(r"\b[su]\d+\b", lambda m: names[m.group()], expr)


kinds = [(str(f.failure_type), with_roles(f.data["expr"])) for f in report.failures]
assert kinds == [
    ("DATA_DEPENDENT_ERROR", "k > batch"),
    ("GUARD_ADDED", "k <= batch"),
    ("GUARD_ADDED", "rows >= 0"),
    ("DATA_DEPENDENT_ERROR", "Eq(is_positive, 1)"),
    ("GUARD_ADDED", "Eq(is_positive, 1)"),
    ("GUARD_ADDED", "Eq(features, 4)"),
], kinds

# %%
# How to read it:
#
# * A **data dependent error** is a ``GuardOnDataDependentSymNode`` that ``export`` would have
#   raised. ``draft_export`` traces with the real example values too, so it answers the
#   question with the example (``False`` for ``u0 > s77``: 4 is not larger than 6; ``True`` for
#   the mean) and goes on. It asks you to add a ``torch._check``; that is the fix only when the
#   answer holds for every valid input, as it does for the first issue. For the second, the other
#   branch is a real case of the model, so the fix is ``torch.cond``.
# * ``Eq(u2, 1)`` is the ``if`` on a tensor: ``u2`` is the boolean ``x.mean() > 0`` read as an
#   integer, and ``Eq(u2, 1)`` means "it is true".
# * A **guard added** is an assumption recorded while tracing. Here: ``u0 <= s77`` (the answer to
#   the first issue), ``u1 >= 0`` (``u1`` is the length of ``x[:k]``, a size), ``Eq(u2, 1)``, and
#   ``Eq(s27, 4)``: the ``features`` dimension (``s27``) must be 4 for the ``Linear``, the third
#   problem. Export would have raised "specialized it to be a constant" for it.
#
# The symbol numbers are the ones of this run; the check above names the symbols by what they
# stand for (``symbol_to_sources``, in the data of each failure, maps the ``s`` symbols to the
# inputs). After each guard, the report also says that it changed the spec (lines not kept by
# ``short_report``), and to what:

full_text = " ".join(re.sub(r"\x1b\[[0-9;]*m", "", str(report)).split())
new_spec = report.failures[-1].data["new_dynamic_shapes"]
print(new_spec)
assert "we have modified the dynamic shapes structure to be the following" in full_text
assert str(new_spec) == "({0: DimHint(AUTO, min=0, max=int_oo), 1: DimHint(AUTO, min=0, max=int_oo)}, None)", new_spec

# %%
# It replaced both ``Dim`` objects of ``x`` with ``Dim.AUTO``. That is how it went on past the
# third problem: the features dimension became static instead of raising.
#
# What the draft program does at run time
# ---------------------------------------
#
# The program follows the path of the example and checks, on every call, that the input takes the
# same path:

print(ep.range_constraints)
print("\n".join(node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default))
ranges = {names[str(k)]: str(v) for k, v in ep.range_constraints.items()}
assert ranges["is_positive"] == "VR[1, 1]" and ranges["batch"] == "VR[2, int_oo]", ranges

# %%
# The answers became runtime assertions: ``u0 <= s77``, and ``u2`` in ``VR[1, 1]``, forced to
# 1. The batch starts at 2 (``VR[2, int_oo]``) like a ``Dim.AUTO`` dimension, not at 0 like the
# ``Dim("batch")`` of the spec. On inputs that take the example's path, the program gives the eager
# results, at new batch sizes:

positive_mean = [(torch.rand(rows, 4) + 0.5, torch.tensor(keep)) for rows, keep in ((3, 2), (9, 9))]
check_against_eager(ep, model, positive_mean)
module = ep.module()

# %%
# An input whose mean is not positive would take the other branch in eager mode. The draft
# program has no other branch: it stops on the assertion ``draft_export`` recorded.

try:
    module(-torch.rand(5, 4), torch.tensor(3))
    raise AssertionError("the draft program now runs the untraced branch: update this recipe")
except RuntimeError as e:
    print(e)
    inverse = {role: symbol for symbol, role in names.items()}
    assert str(e).startswith(f"Runtime assertion failed for expression {inverse['is_positive']} >= 1"), e

# %%
# ``n`` larger than the batch, where eager raises ``ValueError``, fails an assertion too:

try:
    module(torch.rand(5, 4), torch.tensor(7))
    raise AssertionError("the draft program no longer checks u0 <= s77: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith(f"Runtime assertion failed for expression {inverse['k']} <= {inverse['batch']}"), e

# %%
# And the features dimension, made static, is checked by the module's guard:

try:
    module(torch.rand(5, 5), torch.tensor(3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[1] == 4", e
else:
    raise AssertionError("the draft program accepts 5 features: update this recipe")

# %%
# In these three cases the program does not silently compute a wrong result: what
# ``draft_export`` assumed is checked. But it only serves inputs like the example. It is a
# diagnosis, not the program to ship.
#
# The fixed model
# ---------------
#
# One fix per issue: ``torch._check`` for the bounds of ``k`` (the branch that raises is then
# never traced), ``torch.cond`` for the mean (with ``.clone()``: a branch may not return its
# input), and ``Dim.STATIC`` for the features.


class FixedPipeline(Pipeline):
    def forward(self, x, n):
        k = n.item()
        torch._check(k >= 0)
        torch._check(k <= x.shape[0])
        if k > x.shape[0]:
            raise ValueError("n is larger than the batch")
        x = x[:k]
        mean = x.mean()
        x = torch.cond(mean > 0, lambda x, mean: x - mean, lambda x, mean: x.clone(), (x, mean))
        return self.proj(x)


fixed = FixedPipeline()
fixed.load_state_dict(model.state_dict())
fixed_ep = torch.export.export(fixed, (x, n), dynamic_shapes=({0: Dim("batch"), 1: Dim.STATIC}, None))
print(fixed_ep.range_constraints)

both_means = [
    (sign * (torch.rand(rows, 4) + 0.5), torch.tensor(keep)) for rows, keep in ((3, 2), (9, 9)) for sign in (1.0, -1.0)
]
check_against_eager(fixed_ep, model, both_means)

# %%
# ``torch.export.export`` accepts the fixed model, with the batch dynamic. Both branches of the
# mean test now run in the program, at two new batch sizes, with the results of the original
# model.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# ``draft_export`` does not take a ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``,
# experimental in torch 2.15): :ref:`recipe-shapes-spec-migration` pins its refusal.
