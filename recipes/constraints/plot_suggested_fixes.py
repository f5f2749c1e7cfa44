"""
.. _recipe-suggested-fixes:

"Constraints violated ... Suggested fixes": reading them and applying them in one round
=======================================================================================

Export rejected your ``dynamic_shapes`` with a ``Constraints violated`` error that lists several
problems and ends with ``Suggested fixes:``. This recipe takes a model that needs three different
fixes at once (a minimum, a derived dimension, a static feature dimension), reads the message
line by line, applies the fixes by hand, then lets
``torch.export.dynamic_shapes.refine_dynamic_shapes_from_suggested_fixes`` rewrite the spec, and
re-exports in one round. It ends with the message that has no suggested fixes, and what to do then.

A model that needs three fixes
------------------------------

``edges`` holds the ``n + 1`` boundaries of ``n`` intervals, a ``Linear`` projects the 8 features
of ``x``, and batches of 4 rows or more are centered. A first spec makes every dimension dynamic:
"""

import torch

Dim = torch.export.Dim
refine_dynamic_shapes_from_suggested_fixes = torch.export.dynamic_shapes.refine_dynamic_shapes_from_suggested_fixes


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 8)

    def forward(self, x, edges):
        h = self.proj(x) * (edges[1:] - edges[:-1])
        if x.shape[0] >= 4:
            h = h - h.mean(0, keepdim=True)
        return h


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
x, edges = torch.randn(6, 8), torch.randn(7, 8)
spec = {"x": {0: Dim("n"), 1: Dim("feat")}, "edges": {0: Dim("n_edges"), 1: Dim("feat")}}

try:
    torch.export.export(model, (x, edges), dynamic_shapes=spec)
    raise AssertionError("this spec now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    error = e
    print(error)

message = str(error)
assert message.startswith("Constraints violated (feat, n, n_edges)!"), message
assert "Suggested fixes:\n  n = Dim('n', min=4)\n  n_edges = n + 1\n  feat = 8\n" in message, message

# %%
# ``torch._dynamo.exc.UserError`` is the class export raises for such problems (a private class,
# a subclass of ``RuntimeError``: see :ref:`recipe-bounded-dim-min-max`). The first line names every ``Dim`` involved. Then one line
# per problem, and the fixes:
#
# * ``You marked feat as dynamic but your code specialized it to be a constant (8)``: the
#   ``Linear`` needs exactly 8 input features. Fix: ``feat = 8``, a static dimension (printed twice,
#   once per input that uses ``feat``).
# * ``The values of n_edges ... must always be related to the values of n ... by n_edges = n + 1``:
#   ``edges[1:]`` must have as many rows as ``x``. Fix: the derived dimension ``n + 1``.
# * ``Not all values of n ... satisfy the generated guard 4 <= L['x'].size()[0] ...``: the
#   ``if`` took the branch of the example (6 rows), which is only right from 4 rows on. Fix:
#   ``Dim('n', min=4)``.
#
# ``L['x'].size()[0]`` is how export names the first dimension of the argument ``x``.
#
# Applying the fixes by hand
# --------------------------
#
# Each fix replaces one ``Dim`` of the spec. ``Dim.STATIC`` says "static" without repeating the 8:

n = Dim("n", min=4)
by_hand = {"x": {0: n, 1: Dim.STATIC}, "edges": {0: n + 1, 1: Dim.STATIC}}
ep = torch.export.export(model, (x, edges), dynamic_shapes=by_hand)
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[4, int_oo]", "VR[5, int_oo]"]
check_against_eager(ep, model, [random_inputs((4, 8), (5, 8)), random_inputs((11, 8), (12, 8))])

# %%
# Only the first dimension of each input is dynamic, and ``edges`` always has one more row. The
# minimum is checked on every call: a batch of 3 would take the other branch in eager mode, so the
# module refuses it rather than compute the wrong thing:

try:
    ep.module()(torch.randn(3, 8), torch.randn(4, 8))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: x.size()[0] >= 4", e
else:
    raise AssertionError("the module no longer checks n >= 4: update this recipe")

# %%
# Applying them with ``refine_dynamic_shapes_from_suggested_fixes``
# -----------------------------------------------------------------
#
# For a bigger model, let PyTorch rewrite the spec: give it the message (``e.msg``) and the spec
# that failed. It returns a spec of the same structure:

refined = refine_dynamic_shapes_from_suggested_fixes(error.msg, spec)
print(refined)
assert str(refined) == "{'x': {0: Dim('n', min=4), 1: 8}, 'edges': {0: n + 1, 1: 8}}", refined

ep = torch.export.export(model, (x, edges), dynamic_shapes=refined)
print(ep.range_constraints)
assert [str(r) for r in ep.range_constraints.values()] == ["VR[4, int_oo]", "VR[5, int_oo]"]
check_against_eager(ep, model, [random_inputs((4, 8), (5, 8)), random_inputs((11, 8), (12, 8))])

# %%
# One round was enough: all three problems were found in the same trace, so the refined spec
# exports. Should a re-export still fail, refine again with its message. The function lives in
# ``torch.export.dynamic_shapes`` only (there is no
# ``torch.export.refine_dynamic_shapes_from_suggested_fixes``).
#
# When there are no suggested fixes
# ---------------------------------
#
# ``Subsample`` adds every second row of ``x`` to ``y``. ``y`` must have ``(n + 1) // 2`` rows, a
# relation no ``Dim`` expression can write, and export prints no fix at all:


class Subsample(torch.nn.Module):
    def forward(self, x, y):
        return x[::2] + y


subsample = Subsample()
x, y = torch.randn(7, 3), torch.randn(4, 3)
spec = {"x": {0: Dim("n")}, "y": {0: Dim("m")}}
try:
    torch.export.export(subsample, (x, y), dynamic_shapes=spec)
    raise AssertionError("this spec now exports: update this recipe")
except torch._dynamo.exc.UserError as e:
    error = e
    print(error)

assert "Suggested fixes" not in str(error), error
assert "satisfy the generated guard ((1 + L['x'].size()[0]) // 2) != 1" in str(error), error

# %%
# ``refine_dynamic_shapes_from_suggested_fixes`` cannot do anything with this message and says so:

try:
    refine_dynamic_shapes_from_suggested_fixes(error.msg, spec)
    raise AssertionError("refine now handles messages without fixes: update this recipe")
except torch._dynamo.exc.UserError as e:
    print(e)
    assert str(e).startswith("Suggested fixes not found"), e

# %%
# Read the guard instead. ``x[::2]`` has ``(n + 1) // 2`` rows; export assumed that this is not 1
# (one row would *broadcast* in the addition, another computation), and a ``Dim`` starting at 0
# allows 1 and 2 rows. From 3 rows on the assumption holds, so raise the minimum by hand. The
# relation with ``y`` needs nothing: export turns it into a check of the module.

ep = torch.export.export(subsample, (x, y), dynamic_shapes={"x": {0: Dim("n", min=3)}, "y": {0: Dim("m")}})
print(ep.range_constraints)
check_against_eager(ep, subsample, [random_inputs((3, 3), (2, 3)), random_inputs((10, 3), (5, 3))])

# %%
# A ``y`` of the wrong size is refused by the module:

try:
    ep.module()(torch.randn(7, 3), torch.randn(5, 3))
except AssertionError as e:
    print(e)
    assert str(e).startswith("Guard failed"), e
else:
    raise AssertionError("the module no longer checks m == (n + 1) // 2: update this recipe")

# %%
# If no minimum you can think of makes sense, ``Dim.DYNAMIC`` lets export infer the range
# and the checks by itself:

ep = torch.export.export(subsample, (x, y), dynamic_shapes={"x": {0: Dim.DYNAMIC}, "y": {0: Dim.DYNAMIC}})
print(ep.range_constraints)
print(ep._guards_code)
assert ep._guards_code == [
    "((1 + L['x'].size()[0]) // 2) != 1",
    "((1 + L['x'].size()[0]) // 2) == L['y'].size()[0]",
], ep._guards_code
check_against_eager(ep, subsample, [random_inputs((3, 3), (2, 3)), random_inputs((10, 3), (5, 3))])

# %%
# Export accepted the spec and kept both conditions as guards of the module
# (``_guards_code``, a private attribute, lists them): the one that refused ``Dim("n")`` and the
# relation with ``y``. The ranges start at 2, as for every dimension export infers, but the first
# guard refuses 2 rows of ``x`` at call time:

try:
    ep.module()(torch.randn(2, 3), torch.randn(1, 3))
except AssertionError as e:
    print(e)
    assert str(e) == "Guard failed: (1 + x.size()[0]) // 2 != 1", e
else:
    raise AssertionError("the DYNAMIC program now accepts 2 rows: update this recipe")
