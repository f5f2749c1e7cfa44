"""
.. _recipe-cond-on-tensor-value:

A Python ``if`` on a tensor's value: rewriting it with ``torch.cond``
=====================================================================

A model rescales its input only when its largest absolute value exceeds 1. The test is a Python
``if`` on a tensor, and export fails on it with "Could not guard on data-dependent expression":
while tracing, the tensor has no value, so Python cannot pick a branch.

``torch.cond`` puts both branches in the graph and picks one at run time. This recipe shows the
error, the rewrite, the aliasing error you get when a branch returns its input unchanged, and the
fix (``.clone()``). The exported program is checked against eager on inputs that take each
branch, at two new batch sizes. It ends with what ``torch.cond`` does with branches whose
outputs have different shapes, which its documentation rules out, and with branches that use the
sizes of other inputs, which export lifts into operands of ``cond``.

Public reports of this kind: pytorch/pytorch#141305 (branches capturing sizes).

The model and its error
-----------------------
"""

import contextlib
import io
import re

import torch
from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

Dim = torch.export.Dim


class RescaleIfNeeded(torch.nn.Module):
    def forward(self, x):
        scale = x.abs().amax()
        if scale > 1:
            return x / scale
        return x


model = RescaleIfNeeded()
x = torch.tensor([[0.5, -2.0, 1.0], [0.1, 0.2, 0.3], [1.5, 0.0, -0.5], [0.0, 0.4, 0.8]])
batch = Dim("batch")

export_stderr = io.StringIO()  # the graph export traced before the failure (see below)
try:
    with contextlib.redirect_stderr(export_stderr):
        torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    raise AssertionError("export now decides an if on a tensor's value: update this recipe")
except GuardOnDataDependentSymNode as e:
    lines = str(e).splitlines()
    print(lines[0])
    assert re.match(r"Could not guard on data-dependent expression Eq\(u\d+, 1\)", lines[0]), lines[0]
    where = lines.index("The following call raised this error:")
    print(lines[where], lines[where + 2], sep="\n")
    assert lines[where + 2].strip() == "if scale > 1:", lines[where + 2]
assert "def forward(" in export_stderr.getvalue(), export_stderr.getvalue()

# %%
# ``if scale > 1`` calls ``bool()`` on a one-element tensor. Export traces that as ``.item()``
# of ``scale > 1`` (compared with 0), which gives an unbacked symbol ``u0`` (see
# :ref:`recipe-item-could-not-guard`), and the ``if`` needs to know whether ``Eq(u0, 1)``, that is,
# whether the comparison is true. The class is
# ``torch.fx.experimental.symbolic_shapes.GuardOnDataDependentSymNode``. Its ``Caused by`` line
# names a file of PyTorch here, so look for the "following call raised this error" lines (cut
# short above): they show the ``if`` in your code. Before raising, export also prints on stderr
# the graph it traced up to that line; the recipe keeps it off the page
# (``contextlib.redirect_stderr``).
#
# ``torch._check`` does not help: both branches are needed, depending on the input. The condition
# has to become part of the graph.
#
# ``torch.cond``: both branches in the graph
# ------------------------------------------
#
# ``torch.cond(pred, true_fn, false_fn, operands)`` calls ``true_fn(*operands)`` or
# ``false_fn(*operands)`` depending on ``pred``, a one-element boolean tensor (or a Python or
# symbolic bool). Both functions take the same operands and, per its documentation, must return
# tensors with the same metadata (dtype, shape). ``torch.cond`` is public, and documented as a
# prototype feature:

assert "`torch.cond` is a prototype feature in PyTorch" in " ".join(torch.cond.__doc__.split())

# %%
# The direct rewrite returns ``x`` itself in the second branch:


class RescaleWithCond(torch.nn.Module):
    def forward(self, x):
        scale = x.abs().amax()
        return torch.cond(scale > 1, lambda x, scale: x / scale, lambda x, scale: x, (x, scale))


try:
    torch.export.export(RescaleWithCond(), (x,), dynamic_shapes=({0: batch},))
    raise AssertionError("cond branches may now return their input: update this recipe")
except torch._dynamo.exc.UncapturedHigherOrderOpError as e:
    lines = str(e).splitlines()
    print("\n".join(lines[:4]))
    hint = [line for line in lines if "Hint: Replace" in line]
    print(hint[0])
    assert lines[2] == "Encountered aliasing during higher order op tracing", lines[2]
    assert hint[0].strip() == "Hint: Replace `return input` with `return input.clone()` to avoid aliasing.", hint

# %%
# The exception is ``torch._dynamo.exc.UncapturedHigherOrderOpError``: ``torch.cond`` traces its
# branches with the ``torch.compile`` machinery even under the default non-strict export, and that
# is the class it raises (its module is private, and it is a subclass of ``RuntimeError``; the
# message is the useful part). The shapes are fine; the problem is *aliasing*: a branch's output
# may not be one of its inputs, nor a view of one. A branch returning the first column,
# ``x[:, 0]``, a view of ``x``, fails the same way:


class FirstColumnWithCond(torch.nn.Module):
    def forward(self, x):
        scale = x.abs().amax()
        return torch.cond(scale > 1, lambda x, scale: x[:, 0] / scale, lambda x, scale: x[:, 0], (x, scale))


try:
    torch.export.export(FirstColumnWithCond(), (x,), dynamic_shapes=({0: batch},))
    raise AssertionError("cond branches may now return a view of their input: update this recipe")
except torch._dynamo.exc.UncapturedHigherOrderOpError as e:
    lines = str(e).splitlines()
    print(lines[2])
    assert lines[2] == "Encountered aliasing during higher order op tracing", lines[2]
assert issubclass(torch._dynamo.exc.UncapturedHigherOrderOpError, RuntimeError)

# %%
# A branch must produce new tensors, so that whichever branch runs, the output never shares
# memory with an input.
#
# The fix: ``.clone()``
# ---------------------
#
# Return a copy where a branch would hand back its input or a view of it, as the hint says:


class RescaleWithCondFixed(torch.nn.Module):
    def forward(self, x):
        scale = x.abs().amax()
        return torch.cond(scale > 1, lambda x, scale: x / scale, lambda x, scale: x.clone(), (x, scale))


fixed = RescaleWithCondFixed()
ep = torch.export.export(fixed, (x,), dynamic_shapes=({0: batch},))
print(ep.graph_module.code)
print(ep.graph_module.false_graph_0.code)
print(ep.range_constraints)
(x_node,) = ep.graph.find_nodes(op="placeholder")
batch_symbol = x_node.meta["val"].shape[0]
assert {str(k): str(v) for k, v in ep.range_constraints.items()} == {str(batch_symbol): "VR[0, int_oo]"}

# %%
# The graph computes the predicate ``gt`` and calls ``torch.ops.higher_order.cond`` with two
# subgraphs, ``true_graph_0`` and ``false_graph_0`` (printed: the copy). No unbacked symbol is
# left: the value of ``scale > 1`` is only read at run time, by ``cond``. The batch stays dynamic,
# a symbol (``s77`` here) in ``VR[0, int_oo]``.
#
# Checking each branch at two new batch sizes
# -------------------------------------------

def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


module = ep.module()
for rows in (3, 7):
    small = torch.rand(rows, 3) * 0.9  # largest value below 1: second branch
    large = torch.rand(rows, 3) + torch.tensor([0.0, 3.0, 0.0])  # above 1: first branch
    assert torch.equal(module(small), small) and not torch.equal(module(large), large)
    check_against_eager(ep, model, [(small,), (large,)])

# %%
# Both branches run in the exported program and give the eager results, at batch sizes 3 and 7.
# When a branch has to return its input unchanged, the copy costs one tensor's memory; ``cond`` has
# no way to return the input itself.
#
# Branches with outputs of different shapes
# -----------------------------------------
#
# The documentation of ``torch.cond`` (its docstring, in the pinned PyTorch) says that the
# outputs of the two branches "have to be the same type and shape":

assert "the outputs have to be the same type and shape" in " ".join(torch.cond.__doc__.split())

# %%
# The pinned PyTorch is more lenient than its documentation. ``KeepRows`` keeps 2 rows when the
# input is large and 3 otherwise: same rank and dtype, different shapes. It exports:


class KeepRows(torch.nn.Module):
    def forward(self, x):
        scale = x.abs().amax()
        return torch.cond(scale > 1, lambda x: x[:2].clone(), lambda x: x[:3].clone(), (x,))


keep_rows = KeepRows()
rows_ep = torch.export.export(keep_rows, (x,), dynamic_shapes=({0: Dim("batch", min=3)},))
(output,) = rows_ep.graph.output_node().args[0]
rows = output.meta["val"].shape[0]
print(output.meta["val"].shape, rows_ep.range_constraints)
assert re.fullmatch(r"u\d+", str(rows)), output.meta["val"].shape
assert str(rows_ep.range_constraints[rows.node.expr]) == "VR[2, 3]", rows_ep.range_constraints
check_against_eager(rows_ep, keep_rows, [(torch.rand(5, 3) * 0.9,), (torch.rand(5, 3) + 2,)])
print([tuple(rows_ep.module()(inputs).shape) for inputs in (torch.rand(5, 3) * 0.9, torch.rand(5, 3) + 2)])

# %%
# The output's number of rows is an *unbacked* symbol (a "u" symbol, as for ``.item()``): export
# does not know which branch runs, only that the size is 2 or 3 (``VR[2, 3]``), and the program
# returns 3 rows or 2 as eager does. Relying on this goes beyond what ``torch.cond`` promises:
# code after such a ``cond`` has to cope with an unbacked size, and a later PyTorch may hold the
# branches to the documented rule. Prefer branches of the same shape when you can.
#
# Branches that use sizes of other inputs
# ---------------------------------------
#
# Branches are often closures: they use variables of ``forward``, such as the size of another
# input. Under non-strict export (the default), such a size is a ``torch.SymInt``, and reports of
# this kind (pytorch/pytorch#141305, 2024-11) quote ``torch.cond`` failing on it with
# "UncapturedHigherOrderOpError: Cond doesn't work unless it is captured completely with
# torch.compile", after "UserDefinedObjectVariable(SymInt)". A model built like the one reported
# exports with the pinned PyTorch: ``n``, the length of ``offsets``, and ``weights``, a tensor, are
# captured by the branches:


class ShiftWithSizes(torch.nn.Module):
    def forward(self, x, offsets, weights):
        n = offsets.shape[0]
        rows = weights.shape[0]

        def large(x):
            return x / x.abs().amax() + n

        def small(x):
            return x + rows * weights

        return torch.cond(x.abs().amax() > 1, large, small, (x,))


shift = ShiftWithSizes()
shift_inputs = (x, torch.zeros(5), torch.ones(4, 3))
shift_spec = ({0: batch}, {0: Dim("offsets")}, {0: batch})
shift_ep = torch.export.export(shift, shift_inputs, dynamic_shapes=shift_spec)
(cond_node,) = shift_ep.graph.find_nodes(op="call_function", target=torch.ops.higher_order.cond)
operands = cond_node.args[3]
print([type(operand.meta["val"]).__name__ for operand in operands])
assert sum(isinstance(operand.meta["val"], torch.SymInt) for operand in operands) == 2, operands
assert sum(isinstance(operand.meta["val"], torch.Tensor) for operand in operands) == 2, operands
for rows in (3, 7):
    new_offsets, new_weights = torch.zeros(rows + 4), torch.rand(rows, 3)
    check_against_eager(
        shift_ep, shift, [(torch.rand(rows, 3) * 0.9, new_offsets, new_weights), (torch.rand(rows, 3) + 2, new_offsets, new_weights)]
    )

# %%
# Export lifted what the branches capture into operands of ``cond``: the two sizes (``SymInt``) and
# the two tensors (``x`` and ``weights``). Both branches match eager at new sizes, with another
# length of ``offsets``.
#
# Passing the sizes yourself as operands is not the way: ``torch.cond`` accepts only tensors
# among its operands, in eager mode as in export:


class ShiftWithSizeOperands(torch.nn.Module):
    def forward(self, x, offsets, weights):
        def large(x, n, rows, weights):
            return x / x.abs().amax() + n

        def small(x, n, rows, weights):
            return x + rows * weights

        operands = (x, offsets.shape[0], weights.shape[0], weights)
        return torch.cond(x.abs().amax() > 1, large, small, operands)


size_operands = ShiftWithSizeOperands()
for mode, call in [
    ("eager", lambda: size_operands(*shift_inputs)),
    ("export", lambda: torch.export.export(size_operands, shift_inputs, dynamic_shapes=shift_spec)),
]:
    try:
        call()
        raise AssertionError(f"torch.cond now accepts ints among its operands ({mode}): update this recipe")
    except RuntimeError as e:
        print(f"{mode}: {str(e).split(', but got')[0]}")
        assert str(e).startswith(
            "Expect operands to be a tuple of possibly nested dict/list/tuple that only consists of tensor leaves"
        ), e

# %%
# To make the branches' inputs explicit, pass the tensors whose sizes they need, and read the
# sizes inside the branches. Export gives a program that matches eager too:


class ShiftWithTensorOperands(torch.nn.Module):
    def forward(self, x, offsets, weights):
        def large(x, offsets, weights):
            return x / x.abs().amax() + offsets.shape[0]

        def small(x, offsets, weights):
            return x + weights.shape[0] * weights

        return torch.cond(x.abs().amax() > 1, large, small, (x, offsets, weights))


operands_ep = torch.export.export(ShiftWithTensorOperands(), shift_inputs, dynamic_shapes=shift_spec)
check_against_eager(
    operands_ep,
    shift,
    [(torch.rand(6, 3) * 0.9, torch.zeros(2), torch.rand(6, 3)), (torch.rand(6, 3) + 2, torch.zeros(2), torch.rand(6, 3))],
)
