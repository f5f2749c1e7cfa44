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


torch.manual_seed(0)
model = Pipeline()
x, n = torch.arange(24.0).reshape(6, 4) / 10, torch.tensor(4)
spec = ({0: Dim("batch"), 1: Dim("features")}, None)

try:
    torch.export.export(model, (x, n), dynamic_shapes=spec)
    raise AssertionError("export now goes through this model: update this recipe")
except GuardOnDataDependentSymNode as e:
    print(str(e).splitlines()[0])
    assert str(e).startswith("Could not guard on data-dependent expression u0 > 6 (unhinted: u0 > s77)"), e

# %%
# Export reports the first problem only: ``if k > x.shape[0]`` on the value of ``.item()`` (see
# :ref:`recipe-item-could-not-guard`). The message writes the expression twice: with the batch
# replaced by its example value (``u0 > 6``) and as traced (``unhinted: u0 > s77``).
#
# Two more problems are behind it: ``if x.mean() > 0`` (see :ref:`recipe-cond-on-tensor-value`),
# and ``Dim("features")`` on a dimension that ``Linear(4, 2)`` requires to be 4.
#
# ``draft_export``: one call, one report
# --------------------------------------

ep = torch.export.draft_export(model, (x, n), dynamic_shapes=spec)
report = ep._report
print(type(report).__name__, "successful:", report.successful(), "issues:", len(report.failures))
assert type(report).__name__ == "DraftExportReport" and not report.successful()

# %%
# ``draft_export`` is public. It also logs a banner on stderr ("WARNING: 6 issue(s) found during
# export ... you can view the errors in python by inspecting ``print(ep._report)``"). The report
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
kinds = [(str(f.failure_type), f.data["expr"]) for f in report.failures]
assert kinds == [
    ("DATA_DEPENDENT_ERROR", "u0 > s77"),
    ("GUARD_ADDED", "u0 <= s77"),
    ("GUARD_ADDED", "u1 >= 0"),
    ("DATA_DEPENDENT_ERROR", "Eq(u2, 1)"),
    ("GUARD_ADDED", "Eq(u2, 1)"),
    ("GUARD_ADDED", "Eq(s27, 4)"),
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
# * The report also says it replaced the spec with ``Dim.AUTO`` (lines not kept above). That is
#   how it went on past the third problem: the features dimension became static.
#
# What the draft program does at run time
# ---------------------------------------
#
# The program follows the path of the example and checks, on every call, that the input takes the
# same path:

print(ep.range_constraints)
print("\n".join(node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default))
ranges = {str(k): str(v) for k, v in ep.range_constraints.items()}
assert ranges["u2"] == "VR[1, 1]" and ranges["s77"] == "VR[2, int_oo]", ranges

# %%
# The answers became runtime assertions: ``u0 <= s77``, and ``u2`` in ``VR[1, 1]``, forced to
# 1. The batch starts at 2 (``VR[2, int_oo]``) like a ``Dim.AUTO`` dimension, not at 0 like the
# ``Dim("batch")`` of the spec. On inputs that take the example's path, the program gives the eager
# results, at new batch sizes:

module = ep.module()
for rows, keep in ((3, 2), (9, 9)):
    inputs = torch.rand(rows, 4) + 0.5, torch.tensor(keep)  # positive mean: the traced branch
    torch.testing.assert_close(module(*inputs), model(*inputs))
print("batch 3 and 9 with a positive mean match eager")

# %%
# An input whose mean is not positive would take the other branch in eager mode. The draft
# program has no other branch: it stops on the assertion ``draft_export`` recorded.

try:
    module(-torch.rand(5, 4), torch.tensor(3))
    raise AssertionError("the draft program now runs the untraced branch: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Runtime assertion failed for expression u2 >= 1 on node"), e

# %%
# ``n`` larger than the batch, where eager raises ``ValueError``, fails an assertion too:

try:
    module(torch.rand(5, 4), torch.tensor(7))
    raise AssertionError("the draft program no longer checks u0 <= s77: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e).startswith("Runtime assertion failed for expression u0 <= s77 on node"), e

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

for rows, keep in ((3, 2), (9, 9)):
    for sign in (1.0, -1.0):
        inputs = sign * (torch.rand(rows, 4) + 0.5), torch.tensor(keep)
        torch.testing.assert_close(fixed_ep.module()(*inputs), model(*inputs))
print("batch 3 and 9, positive and negative means: match eager")

# %%
# ``torch.export.export`` accepts the fixed model, with the batch dynamic. Both branches of the
# mean test now run in the program, at two new batch sizes, with the results of the original
# model.
