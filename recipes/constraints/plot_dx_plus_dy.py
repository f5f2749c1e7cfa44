"""
.. _recipe-dx-plus-dy:

dx + dy is not allowed: exporting a model whose dimensions are related
======================================================================

A model concatenates ``x`` and ``y`` and adds every second column of ``z``. The output only makes
sense when ``x.shape[1] + y.shape[1] == (z.shape[1] + 1) // 2``. You want every dimension dynamic,
so you try to write ``dz = dx + dy``, and then a separate ``Dim("dz")``, and both fail. This
recipe shows the two errors, explains them, and ends with three specs that export: a named ``Dim``
with the right lower bound, ``Dim.DYNAMIC`` and ``Dim.AUTO``.

The model and its static export
-------------------------------
"""

import torch

Dim = torch.export.Dim


class Model(torch.nn.Module):
    def forward(self, x, y, z):
        return torch.cat((x, y), axis=1) + z[:, ::2]


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def random_inputs(*shapes):
    """A tuple of random tensors, one per shape."""
    return tuple(torch.randn(*shape) for shape in shapes)


model = Model()
x, y, z = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 14)
expected = model(x, y, z)

static_ep = torch.export.export(model, (x, y, z))
print(static_ep.graph)
torch.testing.assert_close(static_ep.module()(x, y, z), expected)

# %%
# Without ``dynamic_shapes``, every dimension is fixed to the example's size: the program only
# accepts ``x`` of shape (2, 3), ``y`` of shape (2, 4) and ``z`` of shape (2, 14).
#
# ``dx + dy`` is not allowed
# --------------------------
#
# The natural spec writes the width of ``z`` from the widths of ``x`` and ``y``. A ``Dim`` can
# only be combined with integers (``dx + 1``, ``2 * dx``), so adding two of them raises as soon as
# the spec is built, before anything is traced:

batch, dx, dy = Dim("batch"), Dim("dx"), Dim("dy")
try:
    dz = dx + dy
    raise AssertionError("Dim + Dim now works: update this recipe")
except NotImplementedError as e:
    print(e)

# %%
# And ``(dx + dy) * 2 - 1`` would not be enough anyway: the width of ``z`` may be odd or even.
#
# A separate ``Dim("dz")`` is rejected too
# ----------------------------------------
#
# Giving ``z`` a dimension of its own looks like the way out:

dz = Dim("dz")
try:
    torch.export.export(
        model,
        (x, y, z),
        dynamic_shapes={"x": {0: batch, 1: dx}, "y": {0: batch, 1: dy}, "z": {0: batch, 1: dz}},
    )
    raise AssertionError("Dim('dz') now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith("Constraints violated (dz)!"), message
assert "((1 + L['z'].size()[1]) // 2) != 1" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises (a private class, a subclass of
# ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`).
# The message names only ``dz``, and it is not about the relation with ``dx`` and ``dy``. It is
# about the lower bound. A ``Dim`` accepts any size from 0 by default (``min=0``). ``z[:, ::2]``
# has ``(dz + 1) // 2`` columns, which is 1 when ``dz`` is 1 or 2. With one column, the addition
# would *broadcast* it to every column of the concatenation: another computation. While tracing,
# export assumed the sliced width is not 1 (the guard ``((1 + dz) // 2) != 1``), and that
# assumption does not hold for every value the spec allows, so export refuses.
#
# Fix 1: a named ``Dim`` with the right lower bound
# -------------------------------------------------
#
# From 3 columns on, the slice has at least 2 columns and cannot broadcast. Say so:

dz = Dim("dz", min=3)
named_ep = torch.export.export(
    model,
    (x, y, z),
    dynamic_shapes={"x": {0: batch, 1: dx}, "y": {0: batch, 1: dy}, "z": {0: batch, 1: dz}},
)
print(named_ep.range_constraints)

# %%
# Each symbol has the range of its ``Dim``: ``batch``, ``dx`` and ``dy`` start at 0, ``dz`` at 3.
# The relation ``dx + dy == (dz + 1) // 2`` cannot be written as a spec, but export did not lose
# it: the module it returns checks it on every call, with the ranges. New shapes that respect it
# give the same result as eager:


new_inputs = [random_inputs((3, 5), (3, 2), (3, 13)), random_inputs((5, 1), (5, 8), (5, 18))]
check_against_eager(named_ep, model, new_inputs)

# %%
# A call that breaks the relation does not reach the addition; the module's guard stops it:

try:
    named_ep.module()(torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 20))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the exported module no longer checks dx + dy == (dz + 1) // 2: update this recipe")

# %%
# Fix 2: ``Dim.DYNAMIC`` for the dimensions you cannot name
# ---------------------------------------------------------
#
# ``Dim.DYNAMIC`` asks export to keep a dimension dynamic and to infer its range. Keep the named
# ``dx`` and ``dy`` and let export work out ``z``'s width and the batch:

DYNAMIC = Dim.DYNAMIC
dynamic_ep = torch.export.export(
    model,
    (x, y, z),
    dynamic_shapes={"x": {0: DYNAMIC, 1: dx}, "y": {0: DYNAMIC, 1: dy}, "z": {0: DYNAMIC, 1: DYNAMIC}},
)
print(dynamic_ep.range_constraints)


def ranges_by_input(ep):
    """{'x': ['VR[2, int_oo]', ...], ...}: the range of each dimension of each input."""
    ranges = {}
    for node in ep.graph.nodes:
        if node.op == "placeholder":
            ranges[node.name] = [str(ep.range_constraints[d.node.expr]) for d in node.meta["val"].shape]
    return ranges


dynamic_ranges = ranges_by_input(dynamic_ep)
print(dynamic_ranges)
assert dynamic_ranges["x"] == ["VR[2, int_oo]", "VR[0, int_oo]"], dynamic_ranges
assert dynamic_ranges["z"] == ["VR[2, int_oo]", "VR[2, int_oo]"], dynamic_ranges
check_against_eager(dynamic_ep, model, new_inputs)

# %%
# The ranges differ: ``dx`` and ``dy`` keep the lower bound 0 of a named ``Dim``, while the
# dimensions export inferred start at 2 (export assumes 0 and 1 are special sizes, see the
# recipe on 0/1 specialization).
#
# Fix 3: ``Dim.AUTO`` everywhere
# ------------------------------
#
# ``Dim.AUTO`` keeps a dimension dynamic when the model allows it and silently makes it static
# otherwise. Here every dimension stays dynamic:

AUTO = Dim.AUTO
auto_ep = torch.export.export(model, (x, y, z), dynamic_shapes=({0: AUTO, 1: AUTO},) * 3)
print(auto_ep)

auto_ranges = ranges_by_input(auto_ep)
assert all(r == "VR[2, int_oo]" for dims in auto_ranges.values() for r in dims), auto_ranges
check_against_eager(auto_ep, model, new_inputs)

# %%
# The graph shows the symbolic shapes: the concatenation is as wide as the sum of the width
# symbols of ``x`` and ``y`` (``s27 + s94`` here), and the slice ``((s32 + 1)//2)`` with the
# width symbol of ``z``. The numbers are PyTorch's choice; the expressions are checked here:

x_width, y_width, z_width = (
    node.meta["val"].shape[1] for node in auto_ep.graph.nodes if node.op == "placeholder"
)
(cat,) = auto_ep.graph.find_nodes(op="call_function", target=torch.ops.aten.cat.default)
(add,) = auto_ep.graph.find_nodes(op="call_function", target=torch.ops.aten.add.Tensor)
assert cat.meta["val"].shape[1].node.expr == x_width.node.expr + y_width.node.expr, cat.meta["val"].shape
assert add.args[1].meta["val"].shape[1].node.expr == ((z_width + 1) // 2).node.expr, add.args[1].meta["val"].shape

# %%
# All ranges start at 2, and the relation is checked by the module, as with the named ``Dim``:

try:
    auto_ep.module()(torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 20))
except AssertionError as e:
    print(e)
    assert "x.size()[1] + y.size()[1] == (1 + z.size()[1]) // 2" in str(e), e
else:
    raise AssertionError("the AUTO program no longer checks the relation: update this recipe")

# %%
# Which one to use? A named ``Dim`` when you know the range (it is checked at call time and named
# in errors), ``Dim.DYNAMIC`` to say "this must stay dynamic, infer the rest" (export raises if
# the model specializes it), ``Dim.AUTO`` when you want export to decide.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# A ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15) takes
# the sum of two sizes as a size: :ref:`recipe-shapes-spec-derived-assumptions` exports a mask
# of length ``past + seq`` and shows the check the program makes.
