"""
.. _recipe-equal-dims:

"must always be equal": dimensions that have to match
=====================================================

Two inputs meet in an elementwise operation, ``x + y``: their dynamic dimensions must be equal
(or one of them must be 1 and broadcast). Give each its own ``Dim`` and export fails with
"The values of by ... and bx ... must always be equal". This recipe shows what export infers on
its own, that message, the fix (one ``Dim`` object shared by both inputs), and the trap of two
``Dim`` objects with the same name but different ranges ("Found different definitions").

What export infers
------------------
"""

import torch

Dim = torch.export.Dim


class Add(torch.nn.Module):
    def forward(self, x, y):
        return x + y


def check_against_eager(ep, model, input_sets):
    """The exported program gives what eager gives on each tuple of new inputs."""
    module = ep.module()
    for inputs in input_sets:
        torch.testing.assert_close(module(*inputs), model(*inputs))
    print(f"the exported program matches eager on {len(input_sets)} new input sets")


def batch_inputs(*batches):
    """For each batch size, a pair (x, y) of that many rows."""
    return [(torch.randn(batch, 3), torch.randn(batch, 3)) for batch in batches]


def shapes_of_inputs(ep):
    return [tuple(node.meta["val"].shape) for node in ep.graph.nodes if node.op == "placeholder"]


def share_one_symbol(ep):
    """Both inputs have the same symbol, not just the same size, as first dimension."""
    (x_batch, _), (y_batch, _) = shapes_of_inputs(ep)
    return isinstance(x_batch, torch.SymInt) and str(x_batch) == str(y_batch)


add = Add()
x, y = torch.randn(4, 3), torch.randn(4, 3)

ep = torch.export.export(add, (x, y), dynamic_shapes={"x": {0: Dim.AUTO}, "y": {0: Dim.AUTO}})
print(shapes_of_inputs(ep))
print(ep.range_constraints)
assert share_one_symbol(ep) and len(ep.range_constraints) == 1, shapes_of_inputs(ep)
check_against_eager(ep, add, batch_inputs(2, 7))

# %%
# With ``Dim.AUTO`` on both, export found that the two batch sizes are the same symbol (printed
# ``s17`` here): one dimension, one range. The example had two equal sizes, so export traced ``x + y`` as an
# addition of equal sizes, not a broadcast. In eager mode, a ``y`` of one row would broadcast
# (``add(torch.randn(4, 3), torch.randn(1, 3))`` has shape ``(4, 3)``); the exported module
# refuses it:

assert add(torch.randn(4, 3), torch.randn(1, 3)).shape == (4, 3)
try:
    ep.module()(torch.randn(4, 3), torch.randn(1, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: y.size()[0] == x.size()[0]", e
else:
    raise AssertionError("the module now broadcasts y: update this recipe")

# %%
# If you need both behaviours, that is two programs: export a second one with an example ``y``
# of one row and ``y``'s first dimension static.

broadcast_ep = torch.export.export(
    add, (x, torch.randn(1, 3)), dynamic_shapes={"x": {0: Dim("batch")}, "y": {0: Dim.STATIC}}
)
print(shapes_of_inputs(broadcast_ep))
check_against_eager(broadcast_ep, add, [(torch.randn(2, 3), torch.randn(1, 3)), (torch.randn(9, 3), torch.randn(1, 3))])

# %%
# Two ``Dim`` objects: "must always be equal"
# -------------------------------------------

try:
    torch.export.export(add, (x, y), dynamic_shapes={"x": {0: Dim("bx")}, "y": {0: Dim("by")}})
    raise AssertionError("two independent Dims now export: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert "The values of by = L['y'].size()[0] and bx = L['x'].size()[0] must always be equal." in message, message
assert "Suggested fixes:\n  by = bx" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises (a private class, a subclass of
# ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). Two ``Dim`` objects promise that any
# pair of sizes is valid, (4, 7) included; the trace proved the sizes must be equal, so the spec
# is wrong. The suggested fix, ``by = bx``, means: use the same ``Dim`` for both.
#
# The fix: share one ``Dim``
# --------------------------

batch = Dim("batch", min=2, max=64)
ep = torch.export.export(add, (x, y), dynamic_shapes={"x": {0: batch}, "y": {0: batch}})
print(shapes_of_inputs(ep))
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[2, 64]"] and share_one_symbol(ep)
check_against_eager(ep, add, batch_inputs(2, 9))

# %%
# Different batch sizes are refused:

try:
    ep.module()(torch.randn(4, 3), torch.randn(5, 3))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the module no longer checks that the batches are equal: update this recipe")

# %%
# One symbol, one range (set by the shared ``Dim``), and the module checks the equality on every
# call.
#
# The same name twice
# -------------------
#
# A ``Dim`` is identified by its name: two objects ``Dim("batch")`` with the same (default)
# range are merged into one dimension, as if the object had been shared:

ep = torch.export.export(add, (x, y), dynamic_shapes={"x": {0: Dim("batch")}, "y": {0: Dim("batch")}})
print(shapes_of_inputs(ep))
assert share_one_symbol(ep) and len(ep.range_constraints) == 1, shapes_of_inputs(ep)

# %%
# With different ranges, the two definitions contradict each other and export refuses the spec
# before tracing:

try:
    torch.export.export(
        add, (x, y), dynamic_shapes={"x": {0: Dim("batch", max=10)}, "y": {0: Dim("batch", max=20)}}
    )
    raise AssertionError("two definitions of one Dim name now export: update this recipe")
except torch._dynamo.exc.UserError as e:
    message = str(e)
    print(message)

assert message.startswith("Found different definitions Dim('batch', min=0, max=10)"), message

# %%
# This happens when specs are assembled from several places (one helper per input, each creating
# its own ``Dim("batch", ...)``). Create each ``Dim`` once and reuse the object, or give
# dimensions that are really different different names.
