"""
.. _recipe-derived-dims:

"must always be related to the values of dx by dy = dx + 1": derived dimensions
================================================================================

Some inputs have sizes tied to each other: ``edges`` has one more row than ``x``, a signal has
twice as many samples as its features, two parts add up to a fixed length. Giving each of them its
own ``Dim`` makes export fail with "Constraints violated" and a suggestion such as
``dy = dx + 1``. This recipe shows how to write such a *derived* dimension (``dx + 1``,
``2 * dx``), what a ``Dim`` expression cannot say (``dx // 2``, ``dx + dy``, ``10 - dx``), and the
workaround for each: a ``Dim`` for the smaller size and ``2 * d`` for the bigger one, or
``Dim.DYNAMIC`` and a guard that export writes itself.

One more row: ``dx + 1``
------------------------

``edges`` holds the ``n + 1`` boundaries of ``n`` intervals; the model scales each row of ``x`` by
the width of its interval.
"""

import torch

Dim = torch.export.Dim


class Intervals(torch.nn.Module):
    def forward(self, x, edges):
        return x * (edges[1:] - edges[:-1])


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def random_inputs(*shapes):
    """A tuple of random tensors, one per shape."""
    return tuple(torch.randn(*shape) for shape in shapes)


intervals = Intervals()
x, edges = torch.randn(4, 3), torch.randn(5, 3)

dx, dy = Dim("dx"), Dim("dy")
try:
    torch.export.export(intervals, (x, edges), dynamic_shapes={"x": {0: dx}, "edges": {0: dy}})
    raise AssertionError("independent Dims now export: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "must always be related to the values of dx" in message, message
assert "dy = dx + 1" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises for a spec that does not fit the
# model (a private class, a subclass of ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). Two independent ``Dim`` objects promise that every pair of sizes is valid, but
# ``edges[1:]`` has ``dy - 1`` rows and must match the ``dx`` rows of ``x``: only ``dy = dx + 1``
# works. Export found the relation while tracing and prints it under "Suggested fixes". Write it
# in the spec: a ``Dim`` combined with an integer (``dx + 1``, ``dx - 1``, ``2 * dx``,
# ``2 * dx + 1``) is a *derived* dimension.

dx = Dim("dx", min=2, max=100)
ep = torch.export.export(intervals, (x, edges), dynamic_shapes={"x": {0: dx}, "edges": {0: dx + 1}})
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[2, 100]", "VR[3, 101]"]
check_against_eager(ep, intervals, [random_inputs((2, 3), (3, 3)), random_inputs((9, 3), (10, 3))])

# %%
# The derived dimension has its own range, shifted by one: ``edges`` accepts 3 to 101 rows. The
# exported module checks the relation on every call:

try:
    ep.module()(torch.randn(4, 3), torch.randn(6, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] == -1 + edges.size()[0]", e
else:
    raise AssertionError("the module no longer checks dy = dx + 1: update this recipe")

# %%
# Half as many rows: ``dx // 2`` is not allowed, ``2 * d`` is
# -----------------------------------------------------------
#
# ``Pairs`` sums the rows of ``x`` two by two, and adds ``y``, which has half as many rows. The
# spec that follows the code, ``dx // 2``, does not exist:


class Pairs(torch.nn.Module):
    def forward(self, x, y):
        return x.reshape(-1, 2, x.shape[1]).sum(1) + y


pairs = Pairs()
x, y = torch.randn(8, 3), torch.randn(4, 3)

dx = Dim("dx")
try:
    half = dx // 2
    raise AssertionError("Dim // int now works: update this recipe")
except TypeError as e:
    print(e)

# %%
# Division is not among the operations a derived dimension supports. Turn the relation around:
# give the ``Dim`` to the *smaller* size and derive the bigger one, ``2 * d``. It also tells export
# that ``x`` always has an even number of rows, which ``reshape(-1, 2, ...)`` needs:

d = Dim("d", min=1, max=512)
ep = torch.export.export(pairs, (x, y), dynamic_shapes={"x": {0: 2 * d}, "y": {0: d}})
print(ep.range_constraints)
check_against_eager(ep, pairs, [random_inputs((4, 3), (2, 3)), random_inputs((14, 3), (7, 3))])

# %%
# The ranges say that ``x`` accepts 2 to 1024 rows and ``y`` 1 to 512. The smallest size is not
# accepted, though: while tracing ``reshape``, export assumed that ``x.shape[0] // 2`` is not 1
# (the usual 0/1 assumption, see :ref:`recipe-zero-one-specialization`) and the module checks it:

try:
    ep.module()(torch.randn(2, 3), torch.randn(1, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] // 2 != 1", e
else:
    raise AssertionError("d = 1 is now accepted: update this recipe")

# %%
# ``Dim("d", min=2, max=512)`` gives ranges that tell the truth:

d = Dim("d", min=2, max=512)
ep = torch.export.export(pairs, (x, y), dynamic_shapes={"x": {0: 2 * d}, "y": {0: d}})
print(ep.range_constraints)
assert sorted(str(r) for r in ep.range_constraints.values()) == ["VR[2, 512]", "VR[4, 1024]"], ep.range_constraints
check_against_eager(ep, pairs, [random_inputs((4, 3), (2, 3)), random_inputs((14, 3), (7, 3))])

# %%
# With two independent ``Dim`` objects, export suggests the ``2 * d`` spec in its own words
# (``_dx`` is a new ``Dim`` it makes up):

try:
    torch.export.export(pairs, (x, y), dynamic_shapes={"x": {0: Dim("dx")}, "y": {0: Dim("dy")}})
    raise AssertionError("independent Dims now export: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message.splitlines()[0])
    print(message[message.index("Suggested fixes:") :])

assert "dx = 2*_dx" in message, message

# %%
# Sum of two sizes: ``dx + dy`` is not allowed
# --------------------------------------------
#
# ``z`` must have as many rows as ``x`` and ``y`` together. A ``Dim`` is combined with integers
# only, never with another ``Dim``:


class Concat(torch.nn.Module):
    def forward(self, x, y, z):
        return torch.cat([x, y]) + z


concat = Concat()
x, y, z = torch.randn(3, 2), torch.randn(4, 2), torch.randn(7, 2)

dx, dy = Dim("dx"), Dim("dy")
try:
    dz = dx + dy
    raise AssertionError("Dim + Dim now works: update this recipe")
except NotImplementedError as e:
    print(e)

# %%
# Leave ``z``'s size to export: ``Dim.DYNAMIC`` keeps it dynamic, export works out that it is
# ``dx + dy`` and the module checks it on every call.

ep = torch.export.export(concat, (x, y, z), dynamic_shapes={"x": {0: dx}, "y": {0: dy}, "z": {0: Dim.DYNAMIC}})
print(ep.range_constraints)


def first_dims(ep):
    """The first dimension of each input of the program (parameters left out), in order."""
    user_inputs = set(ep.graph_signature.user_inputs)
    return [node.meta["val"].shape[0] for node in ep.graph.nodes if node.name in user_inputs]


x_rows, y_rows, z_rows = first_dims(ep)
print(x_rows, y_rows, z_rows)
assert isinstance(z_rows, torch.SymInt) and z_rows.node.expr == x_rows.node.expr + y_rows.node.expr, z_rows
check_against_eager(ep, concat, [random_inputs((1, 2), (5, 2), (6, 2)), random_inputs((6, 2), (2, 2), (8, 2))])

# %%
# The rows of ``z`` are the sum of the symbols of ``x`` and ``y``, not a symbol of their own.
# A ``z`` of the wrong size is refused:

try:
    ep.module()(torch.randn(3, 2), torch.randn(4, 2), torch.randn(8, 2))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the module no longer checks dz = dx + dy: update this recipe")

# %%
# Here a plain ``Dim("dz")`` exports too, with the same guard (``_guards_code``, a private
# attribute, lists the guards of the module):

plain_ep = torch.export.export(concat, (x, y, z), dynamic_shapes={"x": {0: dx}, "y": {0: dy}, "z": {0: Dim("dz")}})
print(plain_ep._guards_code)
assert plain_ep._guards_code == ep._guards_code, (plain_ep._guards_code, ep._guards_code)
x_rows, y_rows, z_rows = first_dims(plain_ep)
assert z_rows.node.expr == x_rows.node.expr + y_rows.node.expr, z_rows

# %%
# The recipe on ``dx + dy`` (:ref:`recipe-dx-plus-dy`) shows a model where a separate ``Dim``
# fails because of its lower bound.
#
# A fixed total: ``10 - dx`` is not allowed
# -----------------------------------------
#
# ``Padded`` multiplies the concatenation of ``x`` and ``y`` by a weight of 10 rows: the two
# sizes add up to 10. Export finds the relation and suggests writing it:


class Padded(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(10, 3))

    def forward(self, x, y):
        return torch.cat([x, y]) * self.weight


padded = Padded()
x, y = torch.randn(4, 3), torch.randn(6, 3)
try:
    torch.export.export(padded, (x, y), dynamic_shapes={"x": {0: Dim("dx")}, "y": {0: Dim("dy")}})
    raise AssertionError("independent Dims now export: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "dy = 10 - dx" in message, message

# %%
# The suggestion cannot be written: a derived dimension must *grow* with its ``Dim``
# ("increasing linear operations"), so subtracting a ``Dim`` or multiplying it by a negative
# number is refused.

dx = Dim("dx", max=8)
try:
    dy = 10 - dx
    raise AssertionError("10 - Dim now works: update this recipe")
except NotImplementedError as e:
    print(e)

# %%
# ``-1 * dx`` fails with another message of the same kind:

try:
    dy = -1 * dx
    raise AssertionError("negative coefficients now work: update this recipe")
except NotImplementedError as e:
    print(e)

# %%
# Two ways out. Reorganize the inputs so that the dependent size is not an input (here, pass
# ``x`` and the full 10-row tensor, and slice ``y`` inside the model), or mark both dimensions
# ``Dim.DYNAMIC`` (or ``Dim.AUTO``) and let export infer the ranges and the relation:

ep = torch.export.export(padded, (x, y), dynamic_shapes={"x": {0: Dim.DYNAMIC}, "y": {0: Dim.DYNAMIC}})
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[2, 8]", "VR[2, 8]"]
x_rows, y_rows = first_dims(ep)
print(x_rows, y_rows)
assert y_rows.node.expr == 10 - x_rows.node.expr, y_rows
check_against_eager(ep, padded, [random_inputs((2, 3), (8, 3)), random_inputs((7, 3), (3, 3))])

# %%
# and sizes that do not add up to 10 are refused:

try:
    ep.module()(torch.randn(4, 3), torch.randn(7, 3))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the module no longer checks dx + dy == 10: update this recipe")

# %%
# The size of ``y`` is written as 10 minus the symbol of ``x`` (printed above): export expressed
# ``y`` from ``x`` internally, which the spec language cannot do, and the module rejects sizes
# that do not add up to 10.
#
# In short: ``dx + k``, ``dx - k``, ``k * dx`` and ``k * dx + m`` (``k`` a positive integer) are
# derived dimensions; for a division, give the ``Dim`` to the smaller size; for a sum of two
# ``Dim`` or a decreasing relation, use ``Dim.DYNAMIC`` / ``Dim.AUTO`` and let the guards carry it.

# %%
# With ShapesSpec (2.15+)
# -----------------------
#
# A ``ShapesSpec`` (``torch.fx.experimental.dynamic_spec``, experimental in torch 2.15) writes
# derived sizes as expressions of ``ShapeVar`` objects, a sum of two of them included
# (``past + seq``), and adds ``assumptions`` such as ``batch % 2 == 0``:
# :ref:`recipe-shapes-spec-derived-assumptions`; each ``Dim`` form and its translation:
# :ref:`recipe-shapes-spec-migration`.
