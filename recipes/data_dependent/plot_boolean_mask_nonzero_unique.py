"""
.. _recipe-boolean-mask-nonzero-unique:

What is ``u0``? Exporting ``x[x > 0]``, ``nonzero`` and ``unique``
==================================================================

``x[x > 0]``, ``torch.nonzero(x)`` and ``torch.unique(x)`` return a tensor whose size depends on
the *values* of ``x``, not on its shape. No ``Dim`` can describe that size: export gives it a
symbol of its own, ``u0``, and you meet that name in graphs, ranges and error messages.

This recipe exports the three ops, shows where ``u0`` appears and which range export gives it,
checks the exported programs against eager on inputs that keep more or fewer values, and ends with
the runtime assertion the program raises when a value of ``u0`` breaks an assumption made while
tracing.

A boolean mask: ``x[x > 0]``
----------------------------
"""

import torch

Dim = torch.export.Dim


class KeepPositive(torch.nn.Module):
    def forward(self, x):
        return x[x > 0]


model = KeepPositive()
x = torch.tensor([0.5, -1.0, 2.0, 0.0, 3.0, -4.0])
print(model(x))
print(model(torch.tensor([-1.0, -2.0, 5.0])))

# %%
# In eager mode the output has as many elements as ``x`` has positive values: 3, then 1. Export the
# model with a dynamic length:

ep = torch.export.export(model, (x,), dynamic_shapes=({0: Dim("n")},))
print(ep.graph_module.code)

# %%
# The graph does the same indexing, then checks one property of the output size: ``u0 >= 0``
# (``_assert_scalar`` nodes are run by the exported program on every call). The shapes of the
# input and output tell what ``u0`` is:


def shapes(ep):
    """{'x': '[s77]', 'output': '[u0]'}: the symbolic shape of each input and of the output."""
    result = {node.name: str(list(node.meta["val"].shape)) for node in ep.graph.nodes if node.op == "placeholder"}
    result["output"] = str(list(ep.graph.output_node().args[0][0].meta["val"].shape))
    return result


def runtime_asserts(ep):
    """The messages of the graph's ``_assert_scalar`` nodes."""
    return [node.args[1] for node in ep.graph.nodes if node.target == torch.ops.aten._assert_scalar.default]


print(shapes(ep))
print(ep.range_constraints)
assert shapes(ep) == {"x": "[s77]", "output": "[u0]"}, shapes(ep)
assert {str(k): str(v) for k, v in ep.range_constraints.items()} == {
    "u0": "VR[0, 9223372036854775806]",
    "s77": "VR[0, int_oo]",
}, ep.range_constraints

# %%
# The input length is ``s77``: an "s" symbol is *backed*, it comes from an input dimension, and
# while tracing export knows its example value (6). The output length is ``u0``: a "u" symbol is
# *unbacked*, it comes out of an op that reads values, and export has no value for it. Its range
# is ``VR[0, 9223372036854775806]``: export knows the size is not negative, but did not relate it
# to ``s77`` (the input length); the upper bound is just the largest size it allows.
#
# The program computes the same thing as eager, whatever the number of positive values, for new
# input lengths too:

module = ep.module()
for values in ([1.0, -2.0, 3.0, 4.0], [-1.0, -2.0, -3.0], [7.0] * 9, [0.0, 2.0]):
    x_new = torch.tensor(values)
    torch.testing.assert_close(module(x_new), model(x_new))
    print(f"length {len(values)}: {model(x_new).numel()} values kept, matches eager")

# %%
# ``nonzero`` and ``unique``
# --------------------------
#
# Both get a ``u0`` in the same way. With a static input of 6 elements, export also knows the
# upper bound, so the range is ``VR[0, 6]``:


class NonzeroIndices(torch.nn.Module):
    def forward(self, x):
        return torch.nonzero(x)


class Unique(torch.nn.Module):
    def forward(self, x):
        return torch.unique(x)


x_ints = torch.tensor([3, 0, 3, 1, 0, 2])
for m in (NonzeroIndices(), Unique()):
    ep_static = torch.export.export(m, (x_ints,))
    print(type(m).__name__, shapes(ep_static), ep_static.range_constraints)
    print("   ", runtime_asserts(ep_static))
    assert len(runtime_asserts(ep_static)) == 2, runtime_asserts(ep_static)
    assert isinstance(m, NonzeroIndices) or "aten._unique2" in ep_static.graph_module.code
    assert [str(r) for r in ep_static.range_constraints.values()] == ["VR[0, 6]"], ep_static.range_constraints
    for values in ([0, 0, 0, 0, 0, 0], [5, 4, 4, 0, 1, 1]):
        x_new = torch.tensor(values)
        torch.testing.assert_close(ep_static.module()(x_new), m(x_new))

# %%
# ``nonzero`` returns ``[u0, 1]`` (one column per input dimension). ``unique`` is traced as
# ``aten._unique2``, whose first output is ``[u0]``. Both graphs assert ``u0 >= 0`` and ``u0 <= 6``,
# which no input can break. On an input of zeros, and on one with 5 nonzero and 4 distinct values,
# the programs match eager.
#
# When a value of ``u0`` breaks the program
# -----------------------------------------
#
# Things change when the code after the op needs more than "a size". Here the positive values are
# taken two by two, with ``reshape(-1, 2)``: that only works for an even count.


class SumPairs(torch.nn.Module):
    def forward(self, x):
        return x[x > 0].reshape(-1, 2).sum(dim=1)


pairs_model = SumPairs()
x_even = torch.tensor([0.5, -1.0, 2.0, 1.0, 3.0, -4.0])
pairs_ep = torch.export.export(pairs_model, (x_even,), dynamic_shapes=({0: Dim("n")},))
asserts = runtime_asserts(pairs_ep)
print("\n".join(asserts))
assert "Runtime assertion failed for expression Eq(Mod(u0, 2), 0) on node 'eq'" in asserts, asserts
for values in ([1.0, 2.0], [-1.0, 4.0, 5.0, 6.0, -2.0, 7.0, 0.0]):
    x_new = torch.tensor(values)
    torch.testing.assert_close(pairs_ep.module()(x_new), pairs_model(x_new))
print("even counts of positive values match eager")

# %%
# Export cannot prove that ``u0`` is even. It does not stop there: it *assumes* it and writes the
# assumption into the program as assertions (``Eq(Mod(u0, 2), 0)`` and an equivalent form), checked
# on every call. With an even number of positive values the program matches eager. With an odd
# number, the assertion fails before the reshape:

odd = torch.tensor([1.0, -2.0, 3.0, 4.0])
try:
    pairs_ep.module()(odd)
    raise AssertionError("the program no longer checks that u0 is even: update this recipe")
except RuntimeError as e:
    print(e)
    assert str(e) == "Runtime assertion failed for expression Eq(Mod(u0, 2), 0) on node 'eq'", e

# %%
# Eager fails on the same input too, but inside ``reshape`` and with another message:

try:
    pairs_model(odd)
    raise AssertionError("reshape(-1, 2) now accepts 3 elements: update this recipe")
except RuntimeError as e:
    print(e)

# %%
# To read such a message, find the op that produced ``u0`` (the first data-dependent op of the
# model, here the mask) and the line that needs the property in the expression (here
# ``reshape(-1, 2)``). If the property is a real requirement of the model, the assertion is what
# you want: a clear error instead of a wrong result. If some inputs legitimately break it, the
# model itself has to change, for example by padding the values to an even count.
